"""Random search with shared weights (SPOS; NASNet's random-search baseline): the weight step
trains a child drawn uniformly from every candidate of every decision; after each epoch
``num_candidates`` children (uniform, `none` never an op) are ranked by their reward (val
accuracy with the shared weights, BN statistics recalibrated per child; times MnasNet's
latency factor under a hardware target), and the best is what derive returns.  Ranking costs
``num_candidates`` evaluations on the val split, so ``rank_every`` can rank only every N-th epoch
after the warm-up (and always on the last: SPOS trains first and searches once at the end).
Nothing is learned about the architecture, so there is no arch optimizer state to speak of:
the arch step only reports the val loss of a uniform child."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..gates import child_gates
from ..spaces.base import uniform_choice
from .base import Strategy, StrategyConfig, register_strategy, step_metrics


@dataclass
class RandomConfig(StrategyConfig):
    name: str = "random"
    num_candidates: int = 20        # children ranked after every epoch (BN: trainer.bn_images)
    rank_every: int = 1             # ... only every N-th epoch after the warm-up and the last (1: every epoch)


@register_strategy("random", RandomConfig)
class RandomSearch(Strategy):
    reward_driven = True
    trains_architecture = False

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        if cfg.num_candidates < 1 or cfg.rank_every < 1:
            raise ValueError(f"strategy.num_candidates and strategy.rank_every must be >= 1, got {cfg.num_candidates} "
                             f"and {cfg.rank_every}")
        self.rank_now = True
        self.register_buffer("best", torch.full((len(space.decisions),), -1, dtype=torch.long))
        self.register_buffer("best_reward", torch.tensor(float("nan")))

    def probabilities(self):
        return {d.name: torch.full((len(d.candidates),), 1 / len(d.candidates)) for d in self.space.decisions}

    def weight_sample(self):
        return child_gates(uniform_choice(self.space, self.generator, allow_none=True))

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        with torch.no_grad():
            logits = net(x, self.weight_sample())
            return step_metrics(objective(logits, y), logits, y)

    def on_epoch_start(self, arch_epoch, arch_epochs):
        self.rank_now = (arch_epoch + 1) % self.cfg.rank_every == 0 or arch_epoch + 1 >= arch_epochs

    def on_epoch_end(self, probe):
        if not self.rank_now and int(self.best[0]) >= 0:
            return
        ranked = []     # an epoch between rankings that has no incumbent yet evaluates one child
        for _ in range(self.cfg.num_candidates if self.rank_now else 1):
            choice = uniform_choice(self.space, self.generator, allow_none=False)
            ranked.append((self.reward(probe.accuracy(choice), choice), choice))
        reward, choice = max(ranked, key=lambda t: t[0])
        self.best.copy_(torch.tensor([choice[d.name] for d in self.space.decisions]))
        self.best_reward.fill_(reward)

    def derive_choice(self):
        if int(self.best[0]) < 0:
            raise RuntimeError("random search derives the best ranked child, and none was ranked yet: "
                               "run at least one epoch")
        return {d.name: int(k) for d, k in zip(self.space.decisions, self.best)}

    def slot_scores(self, edge, slot):
        """A constrained derive keeps as much of the best ranked child as the target allows: a
        pick scores one per decision it shares with that child."""
        best = self.derive_choice()
        input_name, op_name = edge.slots[slot]
        same_src = (torch.arange(edge.sources) == best[input_name]) if input_name else torch.ones(1, dtype=torch.bool)
        return same_src.double()[:, None] + (torch.arange(len(edge.ops)) == best[op_name]).double()[None, :]
