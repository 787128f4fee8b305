"""DARTS: the continuous relaxation.  Every edge of the space (a cell node: every source state x
every op; a chain layer: its blocks) holds one alpha per path; a node is the sum over its
sources of the softmax(alpha[source])-weighted ops (the supernet's ``forward(x, mixture=...)``),
in the weight step and in the arch step alike.

Arch gradient, first order: dL_val(w, alpha)/dalpha.  Second order (``unrolled``): with w' the
weights after a virtual step of the weight optimizer on the train batch, as DARTS takes it
(xi the current weight lr, mu its momentum, lambda its weight decay, b the momentum buffer;
DARTS takes the arch step before the weight step, the loop here after it, so b already holds
this batch's gradient),
w' = w - xi (mu b + dCE_train(w, alpha)/dw + lambda w),
    dL_val(w', alpha)/dalpha - xi * [dCE_train(w+, alpha)/dalpha - dCE_train(w-, alpha)/dalpha] / 2r
with w+- = w +- r v, v = dL_val(w', alpha)/dw', r = eps / |v| (the finite-difference
Hessian-vector product of DARTS; ``unrolled_eps`` = 0.01).  The train batch is seen through the
weight loss (cross-entropy), only the val batch through the arch objective (which may carry the
latency term).  The virtual weights go through ``torch.func.functional_call`` with copies of
the BN buffers: the network is never modified.

Derive: per edge the sources whose strongest non-`none` op is strongest (as many as the edge
has slots: two in a cell node), each with that op.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..distributed import mean_over_ranks
from .base import Strategy, StrategyConfig, apply_grads, arch_adam, register_strategy, step_metrics


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
    # DARTS's Adam: betas (0.5, 0.999), weight decay 1e-3, lr 3e-4, sized for its ~20k arch steps (50 CIFAR-10
    # epochs); the offline default takes ~450, in which 3e-4 leaves alpha uniform and 1e-2 moves it about
    # as far (an Adam step moves alpha by about lr): strategy.arch_lr=3e-4 for a paper-length search
    arch_lr: float = 1e-2
    arch_betas: List[float] = field(default_factory=lambda: [0.5, 0.999])
    arch_weight_decay: float = 1e-3
    unrolled: bool = False          # second order (a virtual step of the weight optimizer, finite-difference Hvp)
    unrolled_eps: float = 0.01      # finite-difference step r = unrolled_eps / |v| (DARTS: 0.01)


@register_strategy("darts", DARTSConfig)
class DARTS(Strategy):
    samples_children = False
    distinct_inputs = True

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        self.alphas = nn.ParameterDict({
            key: nn.Parameter(cfg.init_scale * torch.randn(edge.sources, len(edge.ops)))
            for key, edge in space.edges.items()})
        self.optimizer = arch_adam(self.alphas.parameters(), cfg)

    def mixture(self) -> dict[str, torch.Tensor]:
        """``weights[edge][src, op]``: softmax over the ops of every (edge, source)."""
        return {key: F.softmax(a, -1) for key, a in self.alphas.items()}

    def weight_forward(self, net, x, pinned={}):
        """The mixture of every path (``pinned`` decisions do not apply: no child is sampled)."""
        return net(x, mixture={key: w.detach() for key, w in self.mixture().items()})

    def path_weights(self):
        """The latency term reads what the forward and derive read: every source's softmax over
        its derivable ops (`none` left out), each source counted slots / sources times (derive
        keeps ``slots`` of them).  A shift of one source's alphas changes neither the mixture nor
        the derived network, and so it changes no latency either."""
        out = {}
        for key, edge in self.space.edges.items():
            a = self.alphas[key]
            if edge.never_derived:
                a = a.index_fill(1, torch.tensor(edge.never_derived, device=a.device), float("-inf"))
            out[key] = len(edge.slots) / edge.sources * F.softmax(a, -1)
        return out

    def probabilities(self):
        """Per op decision the mean over sources of their op softmax; per input decision the
        sources' strengths (their strongest non-`none` op weight, what derive ranks them by),
        normalised.  For the pictures, the entropy and the constrained derive."""
        out = {}
        for key, w in self.mixture().items():
            edge = self.space.edges[key]
            strength = w.index_fill(1, torch.tensor(edge.never_derived, dtype=torch.long, device=w.device), 0.0).amax(1)
            for input_name, op_name in edge.slots:
                if input_name:
                    out[input_name] = strength / strength.sum()
                out[op_name] = w.mean(0)
        return out

    def op_scores(self, d, src):
        return F.softmax(self.alphas[d.edge][src], -1)

    def slot_scores(self, edge, slot):
        """What derive ranks: the log of each path's weight in the mixture (a node keeps its two
        strongest sources, each with its best op)."""
        return F.log_softmax(self.alphas[edge.key].detach(), -1)

    def derive_choice(self):
        choice = {}
        with torch.no_grad():
            for key, w in self.mixture().items():
                edge = self.space.edges[key]
                w = w.clone()
                w[:, edge.never_derived] = float("-inf")
                strength, best_op = w.max(1)
                sources = strength.topk(len(edge.slots)).indices.sort().values.tolist()
                for (input_name, op_name), src in zip(edge.slots, sources):
                    if input_name:
                        choice[input_name] = src
                    choice[op_name] = int(best_op[src])
        return choice

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        params = list(self.alphas.values())
        if self.cfg.unrolled:
            if train is None or w_opt is None:
                raise ValueError("second-order darts (strategy.unrolled=true) needs the train batch and the weight "
                                 "optimizer")
            grads, loss, logits = self.unrolled_grads(net, train, (x, y), objective, w_opt)
        else:
            logits = net(x, mixture=self.mixture())
            loss = objective(logits, y)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        apply_grads(self.optimizer, params, grads)
        return step_metrics(loss, logits, y)

    def unrolled_grads(self, net, train, val, objective, w_opt: torch.optim.Optimizer):
        """The second-order arch gradient (module docstring), the val loss at w' and its logits;
        ``w_opt`` is the weight optimizer (SGD) whose step is unrolled."""
        relaxed = _Relaxed(net)
        names = [k for k, _ in relaxed.named_parameters()]
        buffers = {k: b.clone() for k, b in relaxed.named_buffers()}
        alphas = list(self.alphas.values())
        group = w_opt.param_groups[0]
        xi, mu, decay = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)

        def run(weights, batch, loss_fn):
            logits = functional_call(relaxed, {**dict(zip(names, weights)), **buffers}, (batch[0], self.mixture()))
            return loss_fn(logits, batch[1]), logits

        def grads(loss, wrt):
            return [torch.zeros_like(t) if g is None else g
                    for t, g in zip(wrt, torch.autograd.grad(loss, wrt, allow_unused=True))]

        params = list(relaxed.parameters())
        w = [p.detach().requires_grad_() for p in params]
        g_train = mean_over_ranks(grads(run(w, train, F.cross_entropy)[0], w))   # every rank: the global batch
        momentum = [w_opt.state.get(p, {}).get("momentum_buffer") for p in params]
        w1 = [(p - xi * (g + decay * p + (mu * b if b is not None else 0.0))).detach().requires_grad_()
              for p, g, b in zip(w, g_train, momentum)]
        loss, logits = run(w1, val, objective)
        g = grads(loss, alphas + w1)
        d_alpha, v = g[:len(alphas)], mean_over_ranks(g[len(alphas):])
        r = self.cfg.unrolled_eps / torch.cat([t.flatten() for t in v]).norm()
        with torch.no_grad():
            w_plus = [p + r * t for p, t in zip(w, v)]
            w_minus = [p - r * t for p, t in zip(w, v)]
        g_plus = grads(run(w_plus, train, F.cross_entropy)[0], alphas)
        g_minus = grads(run(w_minus, train, F.cross_entropy)[0], alphas)
        hvp = [(a - b) / (2 * r) for a, b in zip(g_plus, g_minus)]
        return [d - xi * h for d, h in zip(d_alpha, hvp)], loss.detach(), logits.detach()
