"""Discrete networks built from a genotype: each node runs its two chosen ops on its two
chosen inputs and adds them; the cell concatenates the states the genotype names."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .genotype import CellGenotype, Genotype
from .macro import CellNetwork, CellSpec, cell_plan, preprocess
from .ops import build_op


class DiscreteCell(nn.Module):
    def __init__(self, cell: CellGenotype, spec: CellSpec):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocess(spec, affine=True)
        stride = 2 if spec.reduction else 1
        self.inputs = [[src for _, src in node] for node in cell.nodes]
        self.ops = nn.ModuleList(
            nn.ModuleList(build_op(op, spec.C, spec.C, stride if src < 2 else 1, True) for op, src in node)
            for node in cell.nodes)
        self.concat = list(cell.concat)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for ops, srcs in zip(self.ops, self.inputs):
            states.append(sum(op(states[src]) for op, src in zip(ops, srcs)))
        return torch.cat([states[i] for i in self.concat], dim=1)


class DiscreteNetwork(CellNetwork):
    """The CIFAR-form network of a genotype (3x3 stem, reductions at 1/3 and 2/3)."""

    def __init__(self, genotype: Genotype, in_channels: int, num_classes: int, layers: int = 5,
                 C: int = 8, stem_multiplier: int = 3):
        cells_of = genotype.cells()
        plan = cell_plan(layers, C, stem_multiplier,
                         lambda spec: len(cells_of["reduce" if spec.reduction else "normal"].concat))
        cells = [DiscreteCell(cells_of["reduce" if s.reduction else "normal"], s) for s in plan]
        last = cells_of["reduce" if plan[-1].reduction else "normal"]
        super().__init__(in_channels, num_classes, C, stem_multiplier, cells, len(last.concat) * plan[-1].C)
        self.genotype = genotype

    def forward(self, x: Tensor) -> Tensor:
        return self.run_cells(x, lambda cell, s0, s1: cell(s0, s1))
