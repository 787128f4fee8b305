"""What the latency of a cell-space network is made of: the op signature of every
(cell instance, node, source, op) path, and the fixed parts (stem, each cell's two
preprocessing ops, the classifier head), each with a builder so that it can be measured.

Normal cells at different depths have different shapes, so every cell instance has its own
signature matrix even though all cells of a type share one set of decisions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..macro import cell_plan, preprocess, stem
from ..ops import build_op

Builder = Callable[[], nn.Module]


@dataclass(frozen=True)
class CellInstance:
    kind: str                                   # normal | reduce
    signatures: list[list[list[str | None]]]    # [node][source][op]; None for `none`


class Head(nn.Module):
    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(C, num_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def _down(h: int) -> int:
    return -(-h // 2)


class LatencyModel:
    """Signatures and builders of the supernet ``space_cfg`` builds for inputs of ``info``."""

    def __init__(self, space_cfg, info):
        self.ops = list(space_cfg.ops)
        n, C = space_cfg.nodes, space_cfg.init_channels
        self.builders: dict[str, tuple[Builder, tuple[int, int, int]]] = {}
        h = info.image_size
        cs = space_cfg.stem_multiplier * C
        self.fixed = [self._add(f"stem|cin{info.in_channels}|cout{cs}|{h}x{h}",
                                lambda: stem(info.in_channels, cs), (info.in_channels, h, h))]
        self.cells: list[CellInstance] = []
        h_pp = h_p = h
        plan = cell_plan(space_cfg.layers, C, space_cfg.stem_multiplier, lambda spec: n)
        for spec in plan:
            pre0, pre1 = ("fr" if spec.reduction_prev else "rcb1x1"), "rcb1x1"
            self.fixed.append(self._add(f"{pre0}|cin{spec.C_prev_prev}|cout{spec.C}|{h_pp}x{h_pp}",
                                        lambda s=spec: preprocess(s, True)[0], (spec.C_prev_prev, h_pp, h_pp)))
            self.fixed.append(self._add(f"{pre1}|cin{spec.C_prev}|cout{spec.C}|{h_p}x{h_p}",
                                        lambda s=spec: preprocess(s, True)[1], (spec.C_prev, h_p, h_p)))
            sigs = []
            for node in range(n):
                rows = []
                for src in range(node + 2):
                    stride = 2 if spec.reduction and src < 2 else 1
                    rows.append([None if op == "none" else self._add(
                        f"{op}|c{spec.C}|{h_p}x{h_p}|s{stride}",
                        lambda op=op, c=spec.C, s=stride: build_op(op, c, c, s, True), (spec.C, h_p, h_p))
                        for op in self.ops])
                sigs.append(rows)
            self.cells.append(CellInstance("reduce" if spec.reduction else "normal", sigs))
            h_pp, h_p = h_p, (_down(h_p) if spec.reduction else h_p)
        C_out = n * plan[-1].C
        self.fixed.append(self._add(f"head|cin{C_out}|cls{info.num_classes}|{h_p}x{h_p}",
                                    lambda: Head(C_out, info.num_classes), (C_out, h_p, h_p)))

    def _add(self, signature: str, builder: Builder, shape: tuple[int, int, int]) -> str:
        self.builders.setdefault(signature, (builder, shape))
        return signature

    @property
    def signatures(self) -> list[str]:
        return list(self.builders)
