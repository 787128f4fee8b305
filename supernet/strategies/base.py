"""The strategy interface: what a weight step samples, how an arch step updates alpha (or a
controller), and how a genotype is derived.  The search loop knows nothing else."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..gates import Gate, child_gates
from ..spaces.base import Decision, Edge, SearchSpace, build_space, choice_key, derivable, path_weights
from ..spaces.knapsack import Knapsack, Rules


@dataclass
class StrategyConfig:
    """What every strategy's config has; each strategy module extends it with its own options
    (strategies/<name>.py) and ``supernet/conf/strategy/<name>.yaml`` picks it by ``base_<name>``."""
    name: str = "proxyless"
    arch_lr: float = 1e-2           # Adam on alpha (or the controller)
    arch_betas: List[float] = field(default_factory=lambda: [0.0, 0.999])   # ProxylessNAS: no first moment
    arch_weight_decay: float = 1e-3
    init_scale: float = 1e-3        # alphas start near zero: uniform probabilities
    max_skip: Optional[int] = None  # derive: at most this many skip_connect per cell (P-DARTS's cap, where the
                                    # space has skip-connects; -1: no cap; None: the space's default)


Objective = Callable[[Tensor, Tensor], Tensor]   # (logits, targets) -> arch loss
Batch = tuple[Tensor, Tensor]
Reward = Callable[[float, Mapping[str, int]], float]                   # (accuracy, choice) -> reward
ChildFilter = Callable[[Callable[[], Mapping[str, Gate]]], Mapping[str, Gate]]   # draw() -> the child kept
STRATEGIES: dict[str, type["Strategy"]] = {}


def register_strategy(name: str, config: type = StrategyConfig):
    """Register a strategy class under ``name`` with its config dataclass (a StrategyConfig
    subclass holding its own options; hydra knows it as ``strategy/base_<name>``)."""
    def deco(cls):
        STRATEGIES[name] = cls
        cls.name, cls.config = name, config
        return cls
    return deco


def strategy_class(name: str) -> type["Strategy"]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


def strategy_config(name: str, **options) -> StrategyConfig:
    """The config of strategy ``name`` with ``options`` set (a wrong option is a TypeError)."""
    return strategy_class(name).config(name=name, **options)


def build_strategy(space: SearchSpace, cfg, **parts) -> "Strategy":
    """The strategy of ``cfg`` over ``space``, with the ``parts`` a hardware target gives it
    (``reward``, ``child_filter``: see :class:`Strategy`)."""
    return strategy_class(cfg.name)(space, cfg, **parts)


def build_space_and_strategy(cfg) -> tuple[SearchSpace, "Strategy"]:
    """The space of ``cfg.space`` and the strategy of ``cfg.strategy`` over it (as derive
    rebuilds them: no hardware parts)."""
    space = build_space(cfg.space)
    return space, build_strategy(space, cfg.strategy)


def step_metrics(loss: Tensor, logits: Tensor, y: Tensor) -> dict[str, float]:
    """What every arch step reports to the loop."""
    return {"arch_loss": loss.item(), "arch_acc": (logits.argmax(1) == y).float().mean().item()}


def arch_adam(params, cfg) -> torch.optim.Adam:
    if not cfg.arch_lr > 0 or cfg.arch_weight_decay < 0:
        raise ValueError(f"strategy.arch_lr must be > 0 and strategy.arch_weight_decay >= 0, got {cfg.arch_lr} and "
                         f"{cfg.arch_weight_decay}")
    return torch.optim.Adam(params, lr=cfg.arch_lr, betas=tuple(cfg.arch_betas),
                            weight_decay=cfg.arch_weight_decay)


def apply_grads(optimizer: torch.optim.Optimizer, params: list[Tensor], grads) -> None:
    """One optimizer step with ``grads`` (None: the loss does not reach that parameter)."""
    optimizer.zero_grad(set_to_none=False)
    for a, g in zip(params, grads):
        a.grad = torch.zeros_like(a) if g is None else g
    optimizer.step()


def accuracy_reward(acc: float, choice: Mapping[str, int]) -> float:
    """The reward without a hardware target: the child's accuracy."""
    return acc


class Strategy(nn.Module):
    """Owns the architecture state and its optimizer (``self.optimizer``, checkpointed by the
    loop; None for a strategy that learns nothing); a module so that ``state_dict`` holds it.

    What a hardware target changes is given, not patched in afterwards: ``reward`` (what a
    reward-driven strategy maximises; default the accuracy) and ``child_filter`` (which sampled
    children a weight step may train: it gets a ``draw()`` and returns the child it keeps)."""

    name = "base"
    samples_children = True          # the weight step trains one sampled child (darts: the mixture)
    reward_driven = False            # the arch update reads a reward (reinforce, enas; random ranks by it)
    distinct_inputs = False          # derive reads distinct inputs per node (darts)
    trains_architecture = True       # the arch steps move what derive reads (random search only ranks)
    optimizer: Optional[torch.optim.Optimizer] = None

    def __init__(self, space: SearchSpace, cfg, reward: Optional[Reward] = None,
                 child_filter: Optional[ChildFilter] = None):
        super().__init__()
        if reward is not None and not self.reward_driven:
            raise ValueError(f"{self.name} learns from gradients, not from a reward: give it a latency loss instead")
        if child_filter is not None and not self.samples_children:
            raise ValueError(f"{self.name} trains the mixture of every path, so no sampled child can be filtered")
        self.space, self.cfg = space, cfg
        self.reward, self.child_filter = reward or accuracy_reward, child_filter
        self.generator = torch.Generator().manual_seed(0)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def weight_sample(self) -> Mapping[str, Gate]:
        raise NotImplementedError

    def weight_child(self, pinned: Mapping[str, int] = {}) -> Mapping[str, Gate]:
        """The weight step's child: a sample with the decisions in ``pinned`` held at the given
        candidates (the loop's topology warm-up), kept or redrawn by the child filter."""
        def draw():
            return {**self.weight_sample(), **child_gates(pinned)}
        return self.child_filter(draw) if self.child_filter else draw()

    def weight_forward(self, net: nn.Module, x: Tensor, pinned: Mapping[str, int] = {}) -> Tensor:
        """Logits of the weight step (on the train split): by default one sampled child."""
        return net(x, self.weight_child(pinned))

    def arch_step(self, net: nn.Module, x: Tensor, y: Tensor, objective: Objective,
                  train: Optional[Batch] = None, w_opt: Optional[torch.optim.Optimizer] = None) -> dict[str, float]:
        """One update of alpha (or the controller) on the val batch ``(x, y)``; ``train`` is the
        weight step's batch and ``w_opt`` the weight optimizer (second-order DARTS unrolls a step
        of it on that batch; the reward strategies re-estimate a child's BN statistics on it)."""
        raise NotImplementedError

    def on_epoch_start(self, arch_epoch: int, arch_epochs: int) -> None:
        """Schedules over the epochs that take arch steps (GDAS's temperature): ``arch_epoch``
        counts from 0 at the first epoch after the warm-up (it stays 0 during the warm-up).
        Called at the start of every epoch, also after a resume, so a schedule needs no state."""

    def on_epoch_end(self, probe) -> None:
        """Work on the trained shared weights before derive (random search ranks its children,
        each measured by ``probe``, an :class:`~supernet.probe.ChildProbe`)."""

    def probabilities(self) -> dict[str, Tensor]:
        """Differentiable candidate probabilities of every decision (the latency term reads these)."""
        raise NotImplementedError

    def derive_choice(self) -> dict[str, int]:
        """Candidate index per decision: per slot, the most probable input and its most
        probable non-`none` op."""
        probs, choice = self.probabilities(), {}
        for d in self.space.decisions:
            p = probs[d.name].detach().clone()
            p[d.never_derived] = float("-inf")
            choice[d.name] = int(p.argmax())
        return choice

    def op_scores(self, d: Decision, src: int) -> Tensor:
        """How strongly alpha prefers each op of the op decision ``d`` when its slot reads state
        ``src`` (the skip-connect cap replaces the weakest skips by their slot's next best op)."""
        return self.probabilities()[d.name]

    def derive(self):
        """The genotype of :meth:`derive_choice` after the space's derive rules (the cell space's:
        every cell reaches the classifier, the skip cap)."""
        return self.space.genotype(self.space.derive_rules(self.derive_choice(), self.op_scores, self.rules.max_skip,
                                                           self.probabilities()))

    def candidates(self, k: int) -> list[dict[str, int]]:
        """Up to ``k`` of the most probable choices derive may return, :meth:`derive`'s first: what a
        shared-weight ranking chooses among (``trainer.derive_candidates``)."""
        out = {}
        for choice in [self.space.choice_of(self.derive())] + (Knapsack(self.space, self.rules, self.slot_scores).top(k)
                                                                if k > 1 else []):
            out.setdefault(choice_key(choice), choice)
        return list(out.values())[:k]

    @property
    def rules(self) -> Rules:
        """The derive rules a constrained derive keeps (the skip cap; DARTS: distinct inputs)."""
        return self.rules_for(self.space, self.cfg)

    @classmethod
    def rules_for(cls, space: SearchSpace, cfg) -> Rules:
        """:attr:`rules` before a strategy is built (a hardware target checks its target with them)."""
        return Rules(space.skip_cap(cfg.max_skip), cls.distinct_inputs)

    def slot_scores(self, edge: Edge, slot: int) -> Tensor:
        """Log-probability of every (source, op) that ``edge``'s slot ``slot`` may pick: what a
        constrained derive maximises, summed over the slots."""
        probs = self.probabilities()
        input_name, op_name = edge.slots[slot]
        missing = [name for name in (input_name, op_name) if name and name not in probs]
        if missing:
            raise ValueError(f"latency.constrained_derive needs a probability vector per decision, and {self.name} "
                             f"gives none for {missing[0]}")
        p_in = probs[input_name] if input_name else torch.ones(1)
        return p_in.detach().clamp_min(1e-12).log()[:, None] + probs[op_name].detach().clamp_min(1e-12).log()[None, :]

    def path_weights(self) -> dict[str, Tensor]:
        """Differentiable expected use of every path in the network derive produces:
        ``out[edge][src, op]`` is how many times it runs op ``op`` on state ``src`` there (a cell
        node: 0..2).  The latency term multiplies these with the table, whatever the strategy;
        for independent decisions it is the sum over an edge's slots of p_input (outer) p_op,
        with `none` left out (derive never returns it)."""
        return path_weights(self.space, derivable(self.space, self.probabilities()))

    def entropy(self) -> float:
        with torch.no_grad():
            hs = [-(p * p.clamp_min(1e-12).log()).sum() for p in self.probabilities().values()]
        return float(torch.stack(hs).mean())

    def get_extra_state(self):
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state):
        self.generator.set_state(state["generator"])


class AlphaStrategy(Strategy):
    """Strategies with one alpha vector per decision, updated by Adam on an arch loss: the
    weight step samples one candidate per decision from softmax(alpha)."""

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        self.alphas = nn.ParameterDict({
            d.name: nn.Parameter(cfg.init_scale * torch.randn(len(d.candidates)))
            for d in space.decisions})
        self.optimizer = arch_adam(self.alphas.parameters(), cfg)

    def probabilities(self):
        return {name: F.softmax(a, dim=-1) for name, a in self.alphas.items()}

    def _sample(self, probs, n):
        """``n`` candidates without replacement, drawn on the CPU generator (the same on every
        rank), wherever the alphas live."""
        return torch.multinomial(probs.detach().cpu(), n, replacement=False, generator=self.generator).tolist()

    def weight_sample(self):
        return {name: Gate(self._sample(p, 1)[0]) for name, p in self.probabilities().items()}

    def gate_step(self, net, x, y, objective, gates: Mapping[str, Gate]) -> dict[str, float]:
        """Arch step of the gate strategies: the child of ``gates`` (gate weights carry alpha's
        graph) on the val batch, then one Adam step."""
        logits = net(x, gates)
        loss = objective(logits, y)
        params = list(self.alphas.values())
        apply_grads(self.optimizer, params, torch.autograd.grad(loss, params, allow_unused=True))
        return step_metrics(loss, logits, y)
