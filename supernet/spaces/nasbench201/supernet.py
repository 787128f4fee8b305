"""The NAS-Bench-201 supernet: every cell holds, per edge, one module per candidate op (the
benchmark's search cell), and one decision per edge is shared by every cell.  A weight step runs
the one op its gate picks on every edge; an arch step re-runs the others in the backward
(gates.apply_gate); the DARTS relaxation sums every op weighted."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional

from torch import Tensor, nn

from ...gates import Gate, apply_gate
from ...ops import search_op
from .genotype import EDGES, NODES
from .network import NB201Stack

if TYPE_CHECKING:
    from .space import NB201Space


class MixedEdge(nn.Module):
    """One edge of one cell: a search op (no affine BN; pools normalised) per candidate but `none`."""

    def __init__(self, ops: tuple[str, ...], C: int):
        super().__init__()
        self.names = ops
        self.paths = nn.ModuleDict({op: search_op(op, C, C, 1) for op in ops if op != "none"})

    def _run(self, x: Tensor, k: int) -> Optional[Tensor]:
        name = self.names[k]
        return None if name == "none" else self.paths[name](x)

    def forward(self, x: Tensor, gate: Gate) -> Optional[Tensor]:
        out = self._run(x, gate.active)
        if gate.weights is None:
            return out
        out = x.new_zeros(x.shape) if out is None else out
        detached = x.detach()
        return apply_gate(out, gate, lambda k: self._run(detached, k))

    def mixture(self, x: Tensor, w: Tensor) -> Tensor:
        outs = [w[k] * o for k in range(len(self.names)) if (o := self._run(x, k)) is not None]
        return sum(outs) if outs else x.new_zeros(x.shape)


class SearchCell(nn.Module):
    def __init__(self, space: "NB201Space", C: int):
        super().__init__()
        self.names = [d.name for d in space.decisions]          # EDGES order
        self.edges = nn.ModuleList(MixedEdge(space.ops, C) for _ in EDGES)

    def forward(self, x: Tensor, gates: Optional[Mapping[str, Gate]] = None,
                mixture: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        nodes = [x]
        for j in range(1, NODES):
            terms = []
            for e, (node, i) in enumerate(EDGES):
                if node == j:
                    name = self.names[e]
                    out = (self.edges[e](nodes[i], gates[name]) if mixture is None
                           else self.edges[e].mixture(nodes[i], mixture[name][0]))
                    if out is not None:
                        terms.append(out)
            nodes.append(sum(terms) if terms else x.new_zeros(x.shape))
        return nodes[-1]


class NB201Supernet(NB201Stack):
    """``forward(x, gates)`` runs the child the gates select; ``forward(x, mixture=w)`` the
    DARTS relaxation with ``w[edge]`` a 1 x ops matrix."""

    def __init__(self, space: "NB201Space", in_channels: int, num_classes: int):
        super().__init__(in_channels, num_classes, space.init_channels, space.cells_per_stage,
                         lambda C: SearchCell(space, C))

    def forward(self, x: Tensor, gates: Optional[Mapping[str, Gate]] = None,
                mixture: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        x = self.stem(x)
        for k, cell in enumerate(self.cells):
            x = cell(x, gates, mixture) if isinstance(cell, SearchCell) else cell(x)
        return self.head(x)
