"""ProxylessNAS: binarized path gates with the BinaryConnect gradient for alpha.

Weight step: one candidate per decision sampled from softmax(alpha).  Arch step, ``two`` mode:
sample two candidates without replacement, the active one from the softmax restricted to the
pair; after the Adam step the pair's alphas are shifted by a common offset so that their sum of
exp is unchanged: the cross-entropy estimate moves mass only within the pair, while the latency
term (exact for every candidate) moves every alpha, as in ProxylessNAS.  ``full`` mode: the
estimator over every candidate (re-run in the backward, see gates.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..gates import Gate
from .base import AlphaStrategy, StrategyConfig, register_strategy


@dataclass
class ProxylessConfig(StrategyConfig):
    name: str = "proxyless"
    arch_weight_decay: float = 0.0  # ProxylessNAS: none, so a step moves only what the loss reaches
    mode: str = "two"               # two (two-path) | full (all candidates, full_v2)


@register_strategy("proxyless", ProxylessConfig)
class Proxyless(AlphaStrategy):
    def __init__(self, space, cfg, **parts):
        if cfg.mode not in ("two", "full"):
            raise ValueError(f"strategy.mode must be 'two' or 'full', got {cfg.mode!r}")
        super().__init__(space, cfg, **parts)

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

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        gates = self.arch_sample()
        before = [a.detach().clone() for a in self.alphas.values()]
        out = self.gate_step(net, x, y, objective, gates)
        self._rescale_sampled(gates, before)
        return out

    @torch.no_grad()
    def _rescale_sampled(self, gates, before):
        """ProxylessNAS's ``rescale_updated_arch_param``: shift the sampled candidates' alphas by
        a common offset so that their sum of exp is what it was, so that the estimate, which
        compares only them, moves mass only between them.  The other alphas keep their update:
        the loss reaches them only through the latency term, which is exact for every candidate
        (with ``arch_betas[0] = 0`` and no weight decay, a step without a latency term leaves them
        unchanged)."""
        for (name, alpha), old in zip(self.alphas.items(), before):
            idx = list(gates[name].candidates)
            alpha[idx] -= torch.logsumexp(alpha[idx], 0) - torch.logsumexp(old[idx], 0)
