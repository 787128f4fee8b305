"""DARTS: the continuous relaxation.  Every edge (node, source state) holds one alpha per op;
a node is the sum over its edges of the softmax(alpha_edge)-weighted ops
(:meth:`SearchNetwork.forward_mixture`), in the weight step and in the arch step alike.

Arch gradient, first order: dL_val(w, alpha)/dalpha.  Second order (``unrolled``): with
w' = w - xi dL_train(w, alpha)/dw (a virtual SGD step, lr ``unrolled_lr``),
    dL_val(w', alpha)/dalpha - xi * [dL_train(w+, alpha)/dalpha - dL_train(w-, alpha)/dalpha] / 2r
with w+- = w +- r v, v = dL_val(w', alpha)/dw', r = eps / |v| (the finite-difference
Hessian-vector product of DARTS; ``unrolled_eps`` = 0.01).  The virtual weights go through ``torch.func.functional_call``
with copies of the BN buffers: the network is never modified.

Derive: per node the two sources whose strongest non-`none` op is strongest, each with that op.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..space import CELL_TYPES, SLOTS, decision_name
from .base import Strategy, apply_grads, arch_adam, register_strategy, step_metrics


class _Relaxed(nn.Module):
    """The supernet with ``forward = forward_mixture``, for ``functional_call``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, weights):
        return self.net.forward_mixture(x, weights)


def edge_key(cell: str, node: int) -> str:
    return f"{cell}_n{node}"


@register_strategy("darts")
class DARTS(Strategy):
    def __init__(self, space, cfg):
        super().__init__(space, cfg)
        self.alphas = nn.ParameterDict({
            edge_key(cell, n): nn.Parameter(cfg.init_scale * torch.randn(n + 2, len(space.ops)))
            for cell in CELL_TYPES for n in range(space.nodes)})
        self.optimizer = arch_adam(self.alphas.parameters(), cfg)

    def mixture(self) -> dict[str, list[torch.Tensor]]:
        """``weights[cell][node][src, op]``: softmax over the ops of every edge."""
        return {cell: [F.softmax(self.alphas[edge_key(cell, n)], -1) for n in range(self.space.nodes)]
                for cell in CELL_TYPES}

    def weight_forward(self, net, x):
        weights = {cell: [w.detach() for w in ws] for cell, ws in self.mixture().items()}
        return net.forward_mixture(x, weights)

    def _joint(self, cell, node):
        """Probability of each (source, op) path of a node, softmax over all of them: the
        edge's op softmax times a softmax over edges of their logsumexp."""
        a = self.alphas[edge_key(cell, node)]
        return F.softmax(a.flatten(), 0).view_as(a)

    def path_weights(self):
        """Two paths per node, each (source, op) with its joint probability."""
        return {cell: [2 * self._joint(cell, n) for n in range(self.space.nodes)] for cell in CELL_TYPES}

    def probabilities(self):
        """Marginals of the joint path probabilities, the same for both slots of a node."""
        out = {}
        for cell in CELL_TYPES:
            for n in range(self.space.nodes):
                joint = self._joint(cell, n)
                for s in SLOTS:
                    out[decision_name(cell, n, s, "input")] = joint.sum(1)
                    out[decision_name(cell, n, s, "op")] = joint.sum(0)
        return out

    def op_scores(self, cell, node, slot, src):
        return F.softmax(self.alphas[edge_key(cell, node)][src], -1)

    def derive_choice(self):
        choice = {}
        with torch.no_grad():
            for cell, weights in self.mixture().items():
                for n, w in enumerate(weights):
                    w = w.clone()
                    w[:, self._none] = float("-inf")
                    strength, best_op = w.max(1)
                    for s, src in enumerate(strength.topk(2).indices.sort().values.tolist()):
                        choice[decision_name(cell, n, s, "input")] = src
                        choice[decision_name(cell, n, s, "op")] = int(best_op[src])
        return choice

    def arch_step(self, net, x, y, objective, train=None):
        params = list(self.alphas.values())
        if self.cfg.unrolled:
            if train is None:
                raise ValueError("second-order darts (strategy.unrolled=true) needs the train batch")
            grads, loss, logits = self.unrolled_grads(net, train, (x, y), objective)
        else:
            logits = net.forward_mixture(x, self.mixture())
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
