"""What the latency of a space's network is made of: the fixed parts, and per edge of every
network position the op signature of each (source, op) path, each signature with a builder so
that it can be measured.

A signature names an op at one input shape (``sep_conv_3x3|c16|8x8|s2``): normal cells at
different depths have different shapes, so every cell instance has its own units even though
all cells of a type share one set of decisions (one edge key).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ..spaces.nasnet_cell.macro import cell_plan, preprocess, stem
from ..ops import build_op

Builder = Callable[[], nn.Module]
Signatures = list[list[str | None]]          # [source][op]; None where nothing runs (`none`, `zero`)


class Head(nn.Module):
    """Global average pool + linear classifier."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(C, num_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


@dataclass
class LatencyModel:
    space: str                                                          # the space's name
    fixed: list[str] = field(default_factory=list)
    units: list[tuple[str, Signatures]] = field(default_factory=list)   # (edge key, signatures)
    builders: dict[str, tuple[Builder, tuple[int, int, int]]] = field(default_factory=dict)

    def add(self, signature: str, builder: Builder, shape: tuple[int, int, int]) -> str:
        """Register how to measure ``signature`` (a module and its CxHxW input); returns it."""
        self.builders.setdefault(signature, (builder, shape))
        return signature

    @property
    def signatures(self) -> list[str]:
        return list(self.builders)

    @property
    def key(self) -> str:
        """Names this network configuration in a table's calibration (each fits its own: a
        5-cell and an 8-cell network, or a chain, pay different overheads)."""
        parts = self.fixed + [f"{key}:{sig}" for key, sigs in self.units for row in sigs for sig in row]
        return f"{self.space}/{hashlib.sha1(chr(10).join(map(str, parts)).encode()).hexdigest()[:10]}"


def down(h: int, stride: int = 2) -> int:
    """Spatial size after an op of ``stride`` with 'same' padding."""
    return -(-h // stride)


def cell_latency_model(space, info) -> LatencyModel:
    """Signatures of the supernet ``space`` (a CellSpace) builds for inputs of ``info``.  In a
    reduction cell the ops on the cell inputs have stride 2 and the ops on its nodes run at the
    reduced size."""
    n, C = space.nodes, space.init_channels
    model = LatencyModel(space.name)
    h = info.image_size
    cs = space.stem_multiplier * C
    model.fixed.append(model.add(f"stem|cin{info.in_channels}|cout{cs}|{h}x{h}",
                                 lambda: stem(info.in_channels, cs), (info.in_channels, h, h)))
    h_pp = h_p = h
    plan = cell_plan(space.layers, C, space.stem_multiplier, lambda spec: n)
    for spec in plan:
        pre0, pre1 = ("fr" if spec.reduction_prev else "rcb1x1"), "rcb1x1"
        model.fixed.append(model.add(f"{pre0}|cin{spec.C_prev_prev}|cout{spec.C}|{h_pp}x{h_pp}",
                                     lambda s=spec: preprocess(s, True)[0], (spec.C_prev_prev, h_pp, h_pp)))
        model.fixed.append(model.add(f"{pre1}|cin{spec.C_prev}|cout{spec.C}|{h_p}x{h_p}",
                                     lambda s=spec: preprocess(s, True)[1], (spec.C_prev, h_p, h_p)))
        kind = "reduce" if spec.reduction else "normal"
        h_out = down(h_p) if spec.reduction else h_p
        for edge in (e for e in space.edges.values() if e.group == kind):
            rows = []
            for src in range(edge.sources):
                stride, h_in = (2, h_p) if spec.reduction and src < 2 else (1, h_out)
                rows.append([None if op == "none" else model.add(
                    f"{op}|c{spec.C}|{h_in}x{h_in}|s{stride}",
                    lambda op=op, c=spec.C, s=stride: build_op(op, c, c, s, True), (spec.C, h_in, h_in))
                    for op in edge.ops])
            model.units.append((edge.key, rows))
        h_pp, h_p = h_p, h_out
    C_out = n * plan[-1].C
    model.fixed.append(model.add(f"head|cin{C_out}|cls{info.num_classes}|{h_p}x{h_p}",
                                 lambda: Head(C_out, info.num_classes), (C_out, h_p, h_p)))
    return model
