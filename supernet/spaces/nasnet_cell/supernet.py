"""The supernet over the cell space: one weight bank holds every candidate once, shared by
every child (ENAS style).

``bank[node][group][op]`` is the module for one (cell, node, source group, op): both slots of a
node and every child that picks that op on a source of that group use it.  By default
(``space.share_inputs``) a group is every source of the same stride: a child then changes which
state an op reads, not which weights run, so the weights of an op train on every step that
samples it rather than on one in as many as there are sources (sampled children reach far
higher accuracy in the same steps: docs/quality.md).  The cost: a
child that runs one op on two sources of a node runs one module twice, and its re-estimated BN
statistics average the two.  ``share_inputs=false``: one group per source, ENAS's and DARTS's
independent weights per edge and op.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional

import torch
from torch import Tensor, nn

from ...gates import Gate, apply_gate
from ...ops import search_op
from .macro import CellSpec, CellStack, cell_plan, preprocess

if TYPE_CHECKING:
    from .space import CellSpace


class SupernetCell(nn.Module):
    def __init__(self, space: "CellSpace", spec: CellSpec):
        super().__init__()
        self.kind = "reduce" if spec.reduction else "normal"
        self.ops = space.ops
        self.edges = [e for e in space.edges.values() if e.group == self.kind]   # node order
        self.stride = 2 if spec.reduction else 1
        self.preprocess0, self.preprocess1 = preprocess(spec, affine=False)
        self.group: list[list[int]] = []       # group[node][source]: the module set the source uses
        self.bank = nn.ModuleList()
        for node in range(space.nodes):
            strides = [self.stride if src < 2 else 1 for src in range(node + 2)]
            keys = strides if space.share_inputs else list(range(node + 2))
            distinct = list(dict.fromkeys(keys))
            self.group.append([distinct.index(k) for k in keys])
            self.bank.append(nn.ModuleList(
                nn.ModuleDict({op: search_op(op, spec.C, spec.C, strides[keys.index(k)]) for op in space.ops})
                for k in distinct))

    def _run(self, states: list[Tensor], node: int, src: int, op: int) -> Optional[Tensor]:
        """One candidate path; a `none` op computes nothing."""
        name = self.ops[op]
        return None if name == "none" else self.bank[node][self.group[node][src]][name](states[src])

    def _slot(self, states, node, in_gate: Gate, op_gate: Gate, zeros) -> Optional[Tensor]:
        src, op = in_gate.active, op_gate.active
        out = self._run(states, node, src, op)
        if in_gate.weights is None and op_gate.weights is None:
            return out
        out = zeros() if out is None else out
        # Re-runs in the backward see the states detached: they only form <dL/dm, o_j>.
        detached = [s.detach() for s in states]
        out = apply_gate(out, op_gate, lambda k: self._run(detached, node, src, k))
        return apply_gate(out, in_gate, lambda j: self._run(detached, node, j, op))

    def _inputs(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        ref, s = states[1], self.stride
        shape = (ref.shape[0], ref.shape[1], -(-ref.shape[2] // s), -(-ref.shape[3] // s))
        return states, lambda: ref.new_zeros(shape)

    def forward(self, s0: Tensor, s1: Tensor, gates: Mapping[str, Gate]) -> Tensor:
        states, zeros = self._inputs(s0, s1)
        for node, edge in enumerate(self.edges):
            terms = [self._slot(states, node, gates[input_name], gates[op_name], zeros)
                     for input_name, op_name in edge.slots]
            terms = [t for t in terms if t is not None]
            states.append(sum(terms) if terms else zeros())
        return torch.cat(states[2:], dim=1)

    def forward_mixture(self, s0: Tensor, s1: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
        """DARTS relaxation: node = sum over sources j and ops k of w[j, k] * o_jk(h_j), with w
        the node's edge weights."""
        states, zeros = self._inputs(s0, s1)
        for node, edge in enumerate(self.edges):
            w = weights[edge.key]
            acc = zeros()
            for src in range(node + 2):
                for op in range(len(self.ops)):
                    out = self._run(states, node, src, op)
                    if out is not None:
                        acc = acc + w[src, op] * out
            states.append(acc)
        return torch.cat(states[2:], dim=1)


class CellSupernet(CellStack):
    """The supernet; ``forward(x, gates)`` runs the child the gates select."""

    def __init__(self, space: "CellSpace", in_channels: int, num_classes: int, layers: int = 5,
                 C: int = 8, stem_multiplier: int = 3):
        plan = cell_plan(layers, C, stem_multiplier, lambda spec: space.nodes)
        cells = [SupernetCell(space, spec) for spec in plan]
        super().__init__(in_channels, num_classes, C, stem_multiplier, cells, space.nodes * plan[-1].C)
        self.space = space

    def forward(self, x: Tensor, gates: Optional[Mapping[str, Gate]] = None,
                mixture: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        """The child ``gates`` select, or with ``mixture`` the DARTS relaxation (one call
        signature, so that DistributedDataParallel can wrap either)."""
        if mixture is not None:
            return self.forward_mixture(x, mixture)
        return self.run_cells(x, lambda cell, s0, s1: cell(s0, s1, gates))

    def forward_mixture(self, x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
        """``weights[edge key]``: a (node + 2) x len(ops) matrix of mixture weights per node."""
        return self.run_cells(x, lambda cell, s0, s1: cell.forward_mixture(s0, s1, weights))
