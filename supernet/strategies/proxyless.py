"""ProxylessNAS: binarized path gates with the BinaryConnect gradient for alpha.

Weight step: one candidate per decision sampled from softmax(alpha).  Arch step, ``two`` mode:
sample two candidates without replacement, the active one from the softmax restricted to the
pair; after the Adam step the pair's alphas are shifted by a common offset so that their
sum of exp, and so every unsampled candidate's probability, is unchanged.  ``full`` mode: the
estimator over every candidate (re-run in the backward, see gates.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..gates import Gate
from ..genotype import Genotype
from .base import Strategy, register_strategy


@register_strategy("proxyless")
class Proxyless(Strategy):
    def __init__(self, space, cfg):
        super().__init__(space, cfg)
        if cfg.mode not in ("two", "full"):
            raise ValueError(f"strategy.mode must be 'two' or 'full', got {cfg.mode!r}")
        self.alphas = nn.ParameterDict({
            d.name: nn.Parameter(cfg.init_scale * torch.randn(len(d.candidates)))
            for d in space.decisions})
        self.optimizer = torch.optim.Adam(self.alphas.parameters(), lr=cfg.arch_lr,
                                          betas=tuple(cfg.arch_betas), weight_decay=cfg.arch_weight_decay)

    def probabilities(self):
        return {name: F.softmax(a, dim=-1) for name, a in self.alphas.items()}

    def _sample(self, probs, n):
        return torch.multinomial(probs.detach(), n, replacement=False, generator=self.generator).tolist()

    def weight_sample(self):
        return {name: Gate(self._sample(p, 1)[0]) for name, p in self.probabilities().items()}

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

    def arch_step(self, net, x, y, objective):
        gates = self.arch_sample()
        logits = net(x, gates)
        loss = objective(logits, y)
        params = list(self.alphas.values())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        old = [a.detach().clone() for a in params]
        self.optimizer.zero_grad(set_to_none=False)
        for a, g in zip(params, grads):
            a.grad = torch.zeros_like(a) if g is None else g
        self.optimizer.step()
        self._keep_unsampled(gates, old)
        acc = (logits.argmax(1) == y).float().mean().item()
        return {"arch_loss": loss.item(), "arch_acc": acc}

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

    def derive(self) -> Genotype:
        """Per slot: the most probable input, and its most probable non-`none` op."""
        ops = self.space.ops
        choice = {}
        for d in self.space.decisions:
            p = self.alphas[d.name].detach().clone()
            if d.kind == "op":
                p[[i for i, op in enumerate(ops) if op == "none"]] = float("-inf")
            choice[d.name] = int(p.argmax())
        return self.space.genotype(choice)
