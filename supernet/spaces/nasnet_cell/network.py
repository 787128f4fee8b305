"""Discrete networks built from a genotype: each node runs its two chosen ops on its two
chosen inputs and adds them; the cell concatenates the states the genotype names.

Two macro forms, as in DARTS: the CIFAR form (3x3 stem) and the ImageNet mobile form (two
stride-2 stems, so the first cell already sees a reduced input).  Both carry the retrain
extras: ScheduledDropPath on every non-identity op (its probability is set from outside, per
epoch) and an optional auxiliary head after the 2/3 reduction that runs only in training.
"""
from __future__ import annotations

from typing import Iterator

import torch
from timm.layers import drop_path
from torch import Tensor, nn

from ...ops import build_op
from ..timm_protocol import TimmNetwork
from .genotype import CellGenotype, Genotype
from .macro import CellSpec, cell_plan, preprocess, reduction_layers, stem


class NetworkCell(nn.Module):
    def __init__(self, cell: CellGenotype, spec: CellSpec):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocess(spec, affine=True)
        stride = 2 if spec.reduction else 1
        self.inputs = [[src for _, src in node] for node in cell.nodes]
        self.ops = nn.ModuleList(
            nn.ModuleList(build_op(op, spec.C, spec.C, stride if src < 2 else 1, True) for op, src in node)
            for node in cell.nodes)
        # NASNet/DARTS drop whole paths except identities (dropping a skip would drop the input).
        self.droppable = [[not isinstance(op, nn.Identity) for op in ops] for ops in self.ops]
        self.concat = list(cell.concat)
        self.drop_prob = 0.0

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        drop = self.drop_prob if self.training else 0.0
        for ops, srcs, droppable in zip(self.ops, self.inputs, self.droppable):
            outs = [op(states[src]) for op, src in zip(ops, srcs)]
            outs = [drop_path(h, drop, True) if d and drop > 0 else h for h, d in zip(outs, droppable)]
            states.append(outs[0] + outs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier (pool, 1x1 conv to 128, 2x2 conv to 768, linear).  An adaptive
    2x2 pool replaces the fixed 5x5 pool so the head fits any input size (8x8 on CIFAR, 7x7 on
    ImageNet, 4x4 on the small offline digits); the parameters are the same."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class CellGenotypeNetwork(TimmNetwork, nn.Module):
    """stem0 -> stem1 -> cells (auxiliary head after the 2/3 reduction) -> pool -> classifier;
    ``stem_reduction``: how much the stems reduce the input (feature_info)."""

    def __init__(self, genotype: Genotype, num_classes: int, stem0: nn.Module, stem1: nn.Module,
                 plan: list[CellSpec], auxiliary: bool, drop_path_prob: float, stem_reduction: int,
                 global_pool: str = "avg", drop_rate: float = 0.0):
        super().__init__()
        cells_of = genotype.cells()
        self.genotype = genotype
        self.stem0, self.stem1 = stem0, stem1
        self.cells = nn.ModuleList(NetworkCell(cells_of["reduce" if s.reduction else "normal"], s) for s in plan)
        width = [len(cells_of["reduce" if s.reduction else "normal"].concat) * s.C for s in plan]
        self.aux_index = max(reduction_layers(len(plan)))
        self.auxiliary_head = AuxiliaryHead(width[self.aux_index], num_classes) if auxiliary else None
        self.classifier = nn.Linear(width[-1], num_classes) if num_classes else nn.Identity()
        self.num_classes, self.num_features = num_classes, width[-1]
        self.init_head(global_pool, drop_rate)
        reduction = [stem_reduction * 2 ** sum(s.reduction for s in plan[:i + 1]) for i in range(len(plan))]
        self.feature_info = [dict(num_chs=w, reduction=r, module=f"cells.{i}")
                             for i, (w, r) in enumerate(zip(width, reduction))]
        self.drop_path_prob = drop_path_prob

    @property
    def drop_path_prob(self) -> float:
        return self.cells[0].drop_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        """Set by the retrain loop each epoch (ScheduledDropPath); only training forwards use it."""
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        for cell in self.cells:
            cell.drop_prob = p

    def cell_outputs(self, x: Tensor) -> Iterator[Tensor]:
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, self.run_cell(cell, s0, s1)
            yield s1

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Logits and, in training with an auxiliary head, the auxiliary logits (else None)."""
        aux = None
        for i, x in enumerate(self.cell_outputs(x)):
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(x)
        return self.forward_head(x), aux

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_aux(x)[0]


def _multiplier(genotype: Genotype):
    cells_of = genotype.cells()
    return lambda spec: len(cells_of["reduce" if spec.reduction else "normal"].concat)


class CellNetwork(CellGenotypeNetwork):
    """The CIFAR form (3x3 stem, reductions at 1/3 and 2/3), DARTS's NetworkCIFAR."""

    def __init__(self, genotype: Genotype, in_channels: int, num_classes: int, layers: int = 5,
                 C: int = 8, stem_multiplier: int = 3, auxiliary: bool = False, drop_path_prob: float = 0.0,
                 **head):
        plan = cell_plan(layers, C, stem_multiplier, _multiplier(genotype))
        super().__init__(genotype, num_classes, stem(in_channels, stem_multiplier * C), nn.Identity(),
                         plan, auxiliary, drop_path_prob, 1, **head)


class CellNetworkImageNet(CellGenotypeNetwork):
    """The ImageNet mobile form, DARTS's NetworkImageNet: two stride-2 conv stems then a third
    stride-2 conv (224 -> 28 before the first cell), so the first cell factor-reduces its c_{k-2}."""

    def __init__(self, genotype: Genotype, in_channels: int = 3, num_classes: int = 1000, layers: int = 14,
                 C: int = 48, auxiliary: bool = False, drop_path_prob: float = 0.0, **head):
        stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
        stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                              nn.BatchNorm2d(C))
        plan = cell_plan(layers, C, 1, _multiplier(genotype), reduction_prev=True)
        super().__init__(genotype, num_classes, stem0, stem1, plan, auxiliary, drop_path_prob, 8, **head)


def build_network(genotype: Genotype, form: str, in_channels: int, num_classes: int, layers: int, C: int,
                  stem_multiplier: int = 3, auxiliary: bool = False,
                  drop_path_prob: float = 0.0) -> CellGenotypeNetwork:
    """One entry point for both forms (``stem_multiplier`` only applies to the CIFAR stem)."""
    if form == "cifar":
        return CellNetwork(genotype, in_channels, num_classes, layers, C, stem_multiplier, auxiliary,
                               drop_path_prob)
    if form == "imagenet":
        return CellNetworkImageNet(genotype, in_channels, num_classes, layers, C, auxiliary, drop_path_prob)
    raise ValueError(f"unknown network form {form!r}; known forms: cifar, imagenet")
