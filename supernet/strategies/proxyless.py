"""ProxylessNAS: binarized path gates with the BinaryConnect gradient for alpha.

Weight step: one candidate per decision sampled from softmax(alpha).  Arch step, ``two`` mode:
sample two candidates without replacement, the active one from the softmax restricted to the
pair; after the Adam step the pair's alphas are shifted by a common offset so that their
sum of exp, and so every unsampled candidate's probability, is unchanged.  ``full`` mode: the
estimator over every candidate (re-run in the backward, see gates.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import StrategyConfig
from ..gates import Gate
from .base import AlphaStrategy, register_strategy


@dataclass
class ProxylessConfig(StrategyConfig):
    name: str = "proxyless"
    mode: str = "two"               # two (two-path) | full (all candidates, full_v2)


@register_strategy("proxyless", ProxylessConfig)
class Proxyless(AlphaStrategy):
    def __init__(self, space, cfg):
        if cfg.mode not in ("two", "full"):
            raise ValueError(f"strategy.mode must be 'two' or 'full', got {cfg.mode!r}")
        super().__init__(space, cfg)

    def arch_sample(self):
        gates = {}
        for name, alpha in self.alphas.items():
            if self.cfg.mode == "two" and len(alpha) > 1:
                candidates = tuple(self._sample(F.softmax(alpha, -1), 2))
            else:
                candidates = tuple(range(len(alpha)))
            p = F.softmax(alpha[list(candidates)], -1)
            pos = self._sample(p, 1)[0]
            weights = F.one_hot(torch.tensor(pos), len(candidates)).to(p) + p - p.detach()
            gates[name] = Gate(candidates[pos], weights, candidates)
        return gates

    def arch_step(self, net, x, y, objective, train=None):
        gates = self.arch_sample()
        old = [a.detach().clone() for a in self.alphas.values()]
        out = self.gate_step(net, x, y, objective, gates)
        self._keep_unsampled(gates, old)
        return out

    @torch.no_grad()
    def _keep_unsampled(self, gates, old):
        """Undo any drift of unsampled alphas (Adam momentum, weight decay) and rescale the
        sampled ones so that the unsampled candidates keep their probabilities."""
        for (name, alpha), before in zip(self.alphas.items(), old):
            idx = list(gates[name].candidates)
            new = alpha[idx].clone()
            alpha.copy_(before)
            offset = torch.logsumexp(new, 0) - torch.logsumexp(before[idx], 0)
            alpha[idx] = new - offset
