"""DARTS: the continuous relaxation.  Every edge of the space (a cell node: every source state x
every op; a chain layer: its blocks) holds one alpha per path; a node is the sum over its
sources of the softmax(alpha[source])-weighted ops (the supernet's ``forward(x, mixture=...)``),
in the weight step and in the arch step alike.

Arch gradient, first order: dL_val(w, alpha)/dalpha.  Second order (``unrolled``): with
w' = w - xi dL_train(w, alpha)/dw (a virtual SGD step, lr ``unrolled_lr``),
    dL_val(w', alpha)/dalpha - xi * [dL_train(w+, alpha)/dalpha - dL_train(w-, alpha)/dalpha] / 2r
with w+- = w +- r v, v = dL_val(w', alpha)/dw', r = eps / |v| (the finite-difference
Hessian-vector product of DARTS; ``unrolled_eps`` = 0.01).  The virtual weights go through ``torch.func.functional_call``
with copies of the BN buffers: the network is never modified.

Derive: per edge the sources whose strongest non-`none` op is strongest (as many as the edge
has slots: two in a cell node), each with that op.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..config import StrategyConfig
from .base import Strategy, apply_grads, arch_adam, register_strategy, step_metrics


class _Relaxed(nn.Module):
    """The supernet with ``forward = forward_mixture``, for ``functional_call``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, weights):
        return self.net(x, mixture=weights)


@dataclass
class DARTSConfig(StrategyConfig):
    name: str = "darts"
    unrolled: bool = False          # second order (one unrolled weight step, finite-difference Hvp)
    unrolled_lr: float = 0.05       # lr of that virtual weight step (DARTS: the weight lr)
    unrolled_eps: float = 0.01      # finite-difference step r = unrolled_eps / |v| (DARTS: 0.01)


@register_strategy("darts", DARTSConfig)
class DARTS(Strategy):
    def __init__(self, space, cfg):
        super().__init__(space, cfg)
        self.alphas = nn.ParameterDict({
            key: nn.Parameter(cfg.init_scale * torch.randn(edge.sources, len(edge.ops)))
            for key, edge in space.edges.items()})
        self.optimizer = arch_adam(self.alphas.parameters(), cfg)

    def mixture(self) -> dict[str, torch.Tensor]:
        """``weights[edge][src, op]``: softmax over the ops of every (edge, source)."""
        return {key: F.softmax(a, -1) for key, a in self.alphas.items()}

    def weight_forward(self, net, x):
        return net(x, mixture={key: w.detach() for key, w in self.mixture().items()})

    def _joint(self, key):
        """Probability of each (source, op) path of an edge, softmax over all of them: the
        op softmax times a softmax over sources of their logsumexp."""
        a = self.alphas[key]
        return F.softmax(a.flatten(), 0).view_as(a)

    def path_weights(self):
        """As many paths per edge as it has slots, each (source, op) with its joint probability."""
        return {key: len(edge.slots) * self._joint(key) for key, edge in self.space.edges.items()}

    def probabilities(self):
        """Marginals of the joint path probabilities, the same for every slot of an edge."""
        out = {}
        for key, edge in self.space.edges.items():
            joint = self._joint(key)
            for input_name, op_name in edge.slots:
                if input_name:
                    out[input_name] = joint.sum(1)
                out[op_name] = joint.sum(0)
        return out

    def op_scores(self, d, src):
        return F.softmax(self.alphas[d.edge][src], -1)

    def derive_choice(self):
        choice = {}
        with torch.no_grad():
            for key, w in self.mixture().items():
                edge = self.space.edges[key]
                w = w.clone()
                w[:, edge.none] = float("-inf")
                strength, best_op = w.max(1)
                sources = strength.topk(len(edge.slots)).indices.sort().values.tolist()
                for (input_name, op_name), src in zip(edge.slots, sources):
                    if input_name:
                        choice[input_name] = src
                    choice[op_name] = int(best_op[src])
        return choice

    def arch_step(self, net, x, y, objective, train=None):
        params = list(self.alphas.values())
        if self.cfg.unrolled:
            if train is None:
                raise ValueError("second-order darts (strategy.unrolled=true) needs the train batch")
            grads, loss, logits = self.unrolled_grads(net, train, (x, y), objective)
        else:
            logits = net(x, mixture=self.mixture())
            loss = objective(logits, y)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        apply_grads(self.optimizer, params, grads)
        return step_metrics(loss, logits, y)

    def unrolled_grads(self, net, train, val, objective):
        """The second-order arch gradient (module docstring), the val loss at w' and its logits."""
        relaxed = _Relaxed(net)
        names = [k for k, _ in relaxed.named_parameters()]
        buffers = {k: b.clone() for k, b in relaxed.named_buffers()}
        alphas = list(self.alphas.values())
        xi = self.cfg.unrolled_lr

        def run(weights, batch):
            logits = functional_call(relaxed, {**dict(zip(names, weights)), **buffers}, (batch[0], self.mixture()))
            return objective(logits, batch[1]), logits

        def grads(loss, wrt):
            return [torch.zeros_like(t) if g is None else g
                    for t, g in zip(wrt, torch.autograd.grad(loss, wrt, allow_unused=True))]

        w = [p.detach().requires_grad_() for p in relaxed.parameters()]
        w1 = [(p - xi * g).detach().requires_grad_() for p, g in zip(w, grads(run(w, train)[0], w))]
        loss, logits = run(w1, val)
        g = grads(loss, alphas + w1)
        d_alpha, v = g[:len(alphas)], g[len(alphas):]
        r = self.cfg.unrolled_eps / torch.cat([t.flatten() for t in v]).norm()
        with torch.no_grad():
            w_plus = [p + r * t for p, t in zip(w, v)]
            w_minus = [p - r * t for p, t in zip(w, v)]
        g_plus = grads(run(w_plus, train)[0], alphas)
        g_minus = grads(run(w_minus, train)[0], alphas)
        hvp = [(a - b) / (2 * r) for a, b in zip(g_plus, g_minus)]
        return [d - xi * h for d, h in zip(d_alpha, hvp)], loss.detach(), logits.detach()
