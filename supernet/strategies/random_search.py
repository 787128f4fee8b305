"""Random search with shared weights (SPOS; NASNet's random-search baseline): the weight step
trains a child drawn uniformly from every candidate of every decision; after each epoch
``num_candidates`` children (uniform, `none` never an op) are ranked by their reward (val
accuracy with the shared weights, BN statistics recalibrated per child; times MnasNet's
latency factor under a hardware target), and the best is what derive returns.
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


@register_strategy("random", RandomConfig)
class RandomSearch(Strategy):
    reward_driven = True

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        if cfg.num_candidates < 1:
            raise ValueError(f"strategy.num_candidates must be >= 1, got {cfg.num_candidates}")
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

    def on_epoch_end(self, probe):
        ranked = []
        for _ in range(self.cfg.num_candidates):
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
