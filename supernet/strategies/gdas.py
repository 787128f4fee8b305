"""GDAS: Gumbel-softmax gates with straight-through hard sampling.

Arch step: per decision, y = softmax((alpha + g) / tau) with Gumbel noise g; the forward runs
only the argmax candidate (its gate value is exactly one-hot), while the backward takes the
gradient of the soft y, so every alpha learns.  dL/dy_j = <dL/dm, o_j(x)> for the candidates
that did not run comes from re-running them in the backward without a graph (gates.py), so
memory stays that of one child.  tau anneals linearly from ``tau_max`` at the first arch epoch
(after the warm-up) to ``tau_min`` at the last."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn.functional as F

from ..gates import Gate
from .base import AlphaStrategy, StrategyConfig, register_strategy


@dataclass
class GDASConfig(StrategyConfig):
    name: str = "gdas"
    arch_lr: float = 1e-2           # GDAS's Adam: betas (0.5, 0.999), weight decay 1e-3; lr: see DARTSConfig's
    arch_betas: List[float] = field(default_factory=lambda: [0.5, 0.999])
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0           # Gumbel-softmax temperature at the first epoch ...
    tau_min: float = 0.1            # ... annealed linearly to this at the last


@register_strategy("gdas", GDASConfig)
class GDAS(AlphaStrategy):
    def __init__(self, space, cfg, **parts):
        if not 0 < cfg.tau_min <= cfg.tau_max:
            raise ValueError(f"gdas needs 0 < strategy.tau_min <= strategy.tau_max, got {cfg.tau_min}, {cfg.tau_max}")
        super().__init__(space, cfg, **parts)
        self.tau = cfg.tau_max

    def on_epoch_start(self, arch_epoch, arch_epochs):
        self.tau = self.cfg.tau_max - (self.cfg.tau_max - self.cfg.tau_min) * arch_epoch / max(arch_epochs - 1, 1)

    def arch_sample(self):
        gates = {}
        for name, alpha in self.alphas.items():
            u = torch.rand(alpha.shape, generator=self.generator).to(alpha)
            soft = F.softmax((alpha - (-u.clamp_min(1e-20).log()).log()) / self.tau, -1)
            k = int(soft.argmax())
            hard = F.one_hot(torch.tensor(k), len(alpha)).to(soft) + soft - soft.detach()
            gates[name] = Gate(k, hard, tuple(range(len(alpha))))
        return gates

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        return self.gate_step(net, x, y, objective, self.arch_sample())
