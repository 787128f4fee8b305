"""The strategy interface: what a weight step samples, how an arch step updates alpha (or a
controller), and how a genotype is derived.  The search loop knows nothing else."""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor, nn

from ..gates import Gate
from ..genotype import Genotype
from ..space import CELL_TYPES, SLOTS, CellSpace, decision_name

Objective = Callable[[Tensor, Tensor], Tensor]   # (logits, targets) -> arch loss
STRATEGIES: dict[str, type["Strategy"]] = {}


def register_strategy(name: str):
    def deco(cls):
        STRATEGIES[name] = cls
        cls.name = name
        return cls
    return deco


def build_strategy(space: CellSpace, cfg) -> "Strategy":
    try:
        cls = STRATEGIES[cfg.name]
    except KeyError:
        raise ValueError(f"unknown strategy {cfg.name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
    return cls(space, cfg)


class Strategy(nn.Module):
    """Owns the architecture state and its optimizer; a module so that ``state_dict`` holds it."""

    name = "base"

    def __init__(self, space: CellSpace, cfg):
        super().__init__()
        self.space, self.cfg = space, cfg
        self.generator = torch.Generator().manual_seed(0)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def weight_sample(self) -> Mapping[str, Gate]:
        raise NotImplementedError

    def weight_forward(self, net: nn.Module, x: Tensor) -> Tensor:
        """Logits of the weight step (on the train split): by default one sampled child."""
        return net(x, self.weight_sample())

    def arch_step(self, net: nn.Module, x: Tensor, y: Tensor, objective: Objective) -> dict[str, float]:
        raise NotImplementedError

    def probabilities(self) -> dict[str, Tensor]:
        """Differentiable candidate probabilities of every decision (the latency term reads these)."""
        raise NotImplementedError

    def derive(self) -> Genotype:
        raise NotImplementedError

    def path_weights(self) -> dict[str, list[Tensor]]:
        """Differentiable expected use of every path: ``out[cell][node][src, op]`` is how many
        times the child runs op ``op`` on state ``src`` in that node (0..2).  The latency term
        multiplies these with the table, whatever the strategy.  For slot decisions it is
        sum over slots of p_input[src] * p_op[op]."""
        probs = self.probabilities()
        return {cell: [sum(torch.outer(probs[decision_name(cell, n, s, "input")],
                                       probs[decision_name(cell, n, s, "op")]) for s in SLOTS)
                       for n in range(self.space.nodes)]
                for cell in CELL_TYPES}

    def entropy(self) -> float:
        with torch.no_grad():
            hs = [-(p * p.clamp_min(1e-12).log()).sum() for p in self.probabilities().values()]
        return float(torch.stack(hs).mean())

    def get_extra_state(self):
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state):
        self.generator.set_state(state["generator"])
