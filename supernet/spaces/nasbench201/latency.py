"""What the deployed NAS-Bench-201 network's latency is made of (``space.deployed``: the
benchmark's C=16, N=5 by default, whatever the supernet's size): the stem, the two reduction blocks and the
head (fixed), and per edge of every cell the op it runs at that stage's shape (`none` runs
nothing).  Every cell of a stage has its own units: all 15 cells share one decision per edge."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...latency.parts import LatencyParts, down
from ...ops import build_op
from .genotype import EDGES
from .network import Head, ResidualReduction, stage_channels, stem

if TYPE_CHECKING:
    from .space import NB201Space


def nb201_latency_model(space: "NB201Space", info) -> LatencyParts:
    model = LatencyParts(space.name)
    h, c, (C, cells) = info.image_size, info.in_channels, space.deployed
    model.fixed.append(model.add(f"nb201_stem|cin{c}|c{C}|{h}x{h}", lambda: stem(c, C), (c, h, h)))
    c_in = C
    for k, (width, reduction) in enumerate(stage_channels(C, cells)):
        if reduction:
            model.fixed.append(model.add(f"nb201_reduction|cin{c_in}|cout{width}|{h}x{h}",
                                         lambda ci=c_in, co=width: ResidualReduction(ci, co), (c_in, h, h)))
            h = down(h)
        else:
            for d, _ in zip(space.decisions, EDGES):
                model.units.append((d.name, [[None if op == "none" else model.add(
                    f"{op}|c{width}|{h}x{h}|s1", lambda op=op, w=width: build_op(op, w, w, 1, True), (width, h, h))
                    for op in space.ops]]))
        c_in = width
    model.fixed.append(model.add(f"nb201_head|c{c_in}|cls{info.num_classes}|{h}x{h}",
                                 lambda: Head(c_in, info.num_classes), (c_in, h, h)))
    return model
