"""NAS-Bench-201's macro network and its discrete network (the benchmark's ``TinyNetwork``
with an ``InferCell``): a 3x3 conv stem + BN; three stages of N cells at C, 2C and 4C channels
with a residual reduction block (a ResNet basic block of stride 2) between them; BN, ReLU,
global pooling and a linear classifier.  The supernet builds the same stack with search cells."""
from __future__ import annotations

from typing import Callable, Iterator

from timm.layers import drop_path
from torch import Tensor, nn

from ...ops import ReLUConvBN, build_op
from ..base import WithoutAuxiliaryHead
from ..timm_protocol import TimmNetwork
from .genotype import EDGES, NODES, NB201Genotype


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: two 3x3 ReLU-Conv-BN (the first of stride 2) plus a
    shortcut of a 2x2 average pool and a 1x1 conv."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def stem(in_channels: int, C: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))


class Head(nn.Module):
    """BN, ReLU, global average pool, linear (the benchmark's ``lastact`` and classifier)."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.lastact = nn.Sequential(nn.BatchNorm2d(C), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(C, num_classes) if num_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.lastact(x).mean((2, 3)))


def stage_channels(C: int, cells_per_stage: int) -> list[tuple[int, bool]]:
    """(channels, whether it is a reduction block) of every layer after the stem."""
    out = []
    for stage in range(3):
        if stage:
            out.append((C << stage, True))
        out += [(C << stage, False)] * cells_per_stage
    return out


class NB201Stack(nn.Module):
    """stem -> cells and reduction blocks -> head; ``make_cell(C)`` builds one cell."""

    def __init__(self, in_channels: int, num_classes: int, C: int, cells_per_stage: int,
                 make_cell: Callable[[int], nn.Module]):
        super().__init__()
        if C < 1 or cells_per_stage < 1:
            raise ValueError(f"a NAS-Bench-201 network needs init_channels >= 1 and cells_per_stage >= 1, got "
                             f"{C} and {cells_per_stage}")
        self.stem = stem(in_channels, C)
        plan = stage_channels(C, cells_per_stage)
        c_in = [C] + [c for c, _ in plan[:-1]]
        self.cells = nn.ModuleList(ResidualReduction(ci, c) if reduction else make_cell(c)
                                   for ci, (c, reduction) in zip(c_in, plan))
        self.head = Head(plan[-1][0], num_classes)
        self.num_classes, self.num_features = num_classes, plan[-1][0]


class InferCell(nn.Module):
    """The discrete cell: node j = sum over i < j of op_ij(node i); the output is node 3.  A
    `none` edge holds no module and adds nothing; drop path (the retrain's option) drops the
    output of an edge that computes something other than the identity."""

    def __init__(self, genotype: NB201Genotype, C: int):
        super().__init__()
        self.edge_ops = genotype.edge_ops
        self.edges = nn.ModuleList(build_op(op, C, C, 1, True) if op != "none" else nn.Identity()
                                   for op in genotype.edge_ops)

    def forward(self, x: Tensor, drop: float = 0.0) -> Tensor:
        nodes = [x]
        for j in range(1, NODES):
            terms = []
            for e, (node, i) in enumerate(EDGES):
                if node != j or self.edge_ops[e] == "none":
                    continue
                h = self.edges[e](nodes[i])
                terms.append(drop_path(h, drop, True) if drop > 0 and self.edge_ops[e] != "skip_connect" else h)
            nodes.append(sum(terms) if terms else x.new_zeros(x.shape))
        return nodes[-1]


class NB201Network(TimmNetwork, WithoutAuxiliaryHead, NB201Stack):
    """The benchmark's network of one architecture (the retrain's and the timm entry's); its
    head's BN and ReLU end ``forward_features``, as a timm model's final norm does."""

    classifier_path = "head.classifier"

    def __init__(self, genotype: NB201Genotype, in_channels: int = 3, num_classes: int = 10, C: int = 16,
                 cells_per_stage: int = 5, drop_path_prob: float = 0.0, global_pool: str = "avg",
                 drop_rate: float = 0.0):
        super().__init__(in_channels, num_classes, C, cells_per_stage, lambda c: InferCell(genotype, c))
        self.init_head(global_pool, drop_rate)
        plan = stage_channels(C, cells_per_stage)
        self.feature_info = [dict(num_chs=c, reduction=2 ** sum(r for _, r in plan[:i + 1]), module=f"cells.{i}")
                             for i, (c, _) in enumerate(plan)]
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob

    def cell_outputs(self, x: Tensor) -> Iterator[Tensor]:
        x = self.stem(x)
        drop = self.drop_path_prob if self.training else 0.0
        for cell in self.cells:
            x = self.run_cell(cell, x, drop) if isinstance(cell, InferCell) else self.run_cell(cell, x)
            yield x

    def final(self, x: Tensor) -> Tensor:
        return self.head.lastact(x)

    def prune_final(self) -> None:
        self.head.lastact = nn.Identity()
