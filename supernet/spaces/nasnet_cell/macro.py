"""The macro skeleton shared by the supernet and the discrete networks: a stem, then cells
with reductions at 1/3 and 2/3 of the depth, channels doubled at each reduction, each cell
reading the outputs of the two cells before it."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...ops import FactorizedReduce, ReLUConvBN


@dataclass(frozen=True)
class CellSpec:
    index: int
    reduction: bool
    reduction_prev: bool
    C_prev_prev: int
    C_prev: int
    C: int


def reduction_layers(layers: int) -> set[int]:
    if layers < 3:
        raise ValueError(f"layers must be >= 3 (reductions sit at 1/3 and 2/3 of the depth), got {layers}")
    return {layers // 3, 2 * layers // 3}


def cell_plan(layers: int, C: int, stem_multiplier: int, multiplier,
              reduction_prev: bool = False) -> list[CellSpec]:
    """Widths of every cell.  ``multiplier(spec)`` is how many states the cell concatenates;
    ``reduction_prev``: the stem's two outputs differ in size (the ImageNet two-stage stem)."""
    reductions = reduction_layers(layers)
    C_pp = C_p = stem_multiplier * C
    C_curr, plan = C, []
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            C_curr *= 2
        spec = CellSpec(i, reduction, reduction_prev, C_pp, C_p, C_curr)
        plan.append(spec)
        C_pp, C_p = C_p, multiplier(spec) * C_curr
        reduction_prev = reduction
    return plan


def unread_cells(reads: dict[bool, tuple[bool, bool]], layers: int) -> list[int]:
    """The cells whose output never reaches the classifier: the last cell does, and cell k does
    when a cell that does reads it (cell k+1 as its c_{k-1}, cell k+2 as its c_{k-2}).
    ``reads[reduction]``: whether the (reduction) cell type reads (c_{k-2}, c_{k-1})."""
    reductions = reduction_layers(layers)
    live = {layers - 1}
    for k in range(layers - 1, 0, -1):
        if k in live:
            prev_prev, prev = reads[k in reductions]
            live |= {k - 1} if prev else set()
            live |= {k - 2} if prev_prev and k >= 2 else set()
    return sorted(set(range(layers)) - live)


def stem(in_channels: int, C_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, C_out, 3, padding=1, bias=False), nn.BatchNorm2d(C_out))


def preprocess(spec: CellSpec, affine: bool) -> tuple[nn.Module, nn.Module]:
    """Bring both cell inputs to the cell's width (and size: factorized reduce after a reduction)."""
    pre0 = (FactorizedReduce(spec.C_prev_prev, spec.C, affine) if spec.reduction_prev
            else ReLUConvBN(spec.C_prev_prev, spec.C, 1, 1, 0, affine))
    return pre0, ReLUConvBN(spec.C_prev, spec.C, 1, 1, 0, affine)


class CellStack(nn.Module):
    """Stem -> cells -> global average pool -> linear classifier.  Subclasses build the cells
    from :func:`cell_plan` and say how one cell is called."""

    def __init__(self, in_channels: int, num_classes: int, C: int, stem_multiplier: int,
                 cells: list[nn.Module], C_out: int):
        super().__init__()
        self.stem = stem(in_channels, stem_multiplier * C)
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(C_out, num_classes)

    def run_cells(self, x, call_cell):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, call_cell(cell, s0, s1)
        return self.classifier(s1.mean((2, 3)))
