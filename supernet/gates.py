"""Binarized path gates (ProxylessNAS).

A :class:`Gate` says which candidate of a decision runs in this step.  In a weight step it has
no ``weights``: the active candidate runs and nothing else.  In an arch step ``weights`` is the
one-hot gate vector g over ``candidates`` (the sampled pair, or all candidates), built as
``onehot + p - p.detach()`` so that its forward value is exactly one-hot while autograd carries
dL/dg_j into alpha as ``sum_j dL/dg_j p_j (delta_ij - p_i)`` (BinaryConnect).

dL/dg_j = <dL/dm, o_j(x)> needs every candidate's output.  :func:`apply_gate` gets them the
``full_v2`` way: the forward keeps only the active path; the backward re-runs the other
candidates under ``no_grad`` (``rerun``) and takes the inner products, so memory stays that
of one path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

Rerun = Callable[[int], Optional[Tensor]]   # candidate index -> its output (None: computes nothing)


@dataclass
class Gate:
    active: int                             # candidate index that runs
    weights: Optional[Tensor] = None        # one-hot over `candidates`, carrying alpha's graph
    candidates: tuple[int, ...] = ()        # candidates whose gate gradient is estimated


class _BinaryGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, out: Tensor, weights: Tensor, rerun: Rerun, gate: Gate) -> Tensor:
        ctx.rerun, ctx.gate = rerun, gate
        ctx.save_for_backward(out)
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (out,) = ctx.saved_tensors
        gate: Gate = ctx.gate
        gate_grad = torch.zeros(len(gate.candidates), dtype=grad.dtype, device=grad.device)
        with torch.no_grad():
            for pos, k in enumerate(gate.candidates):
                o = out if k == gate.active else ctx.rerun(k)
                if o is not None:
                    gate_grad[pos] = (o * grad).sum()
        return grad, gate_grad, None, None


def apply_gate(out: Tensor, gate: Gate, rerun: Rerun) -> Tensor:
    """``m = sum_j g_j o_j`` with one-hot g: the value is ``out`` (the active path's output);
    the backward also fills dL/dg via ``rerun``.  A weight-step gate passes ``out`` through."""
    if gate.weights is None:
        return out
    return _BinaryGate.apply(out, gate.weights, rerun, gate)


def child_gates(choice: dict[str, int]) -> dict[str, Gate]:
    """Weight-step gates that run the child ``choice`` (candidate index per decision)."""
    return {name: Gate(k) for name, k in choice.items()}
