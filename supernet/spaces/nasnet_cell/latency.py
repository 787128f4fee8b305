"""The latency model of the cell space: every cell instance's (source, op) signatures at its
own shape, plus the stem, the preprocessing of each cell and the head."""
from __future__ import annotations

from ...latency.parts import Head, LatencyParts, down
from ...ops import build_op
from .macro import cell_plan, preprocess, stem


def cell_latency_model(space, info) -> LatencyParts:
    """Signatures of the supernet ``space`` (a CellSpace) builds for inputs of ``info``.  In a
    reduction cell the ops on the cell inputs have stride 2 and the ops on its nodes run at the
    reduced size."""
    n, C = space.nodes, space.init_channels
    model = LatencyParts(space.name)
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
