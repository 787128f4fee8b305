"""What a chain network's latency is made of: the first conv, the fixed first block, one
signature per candidate block of every layer at its input shape (a block with an identity skip
is measured with it, as ProxylessNAS's tables do), the feature-mix conv and the head."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...latency.parts import Head, LatencyParts, down
from ...ops import build_op
from .network import FIRST_BLOCK_OP, Residual, conv_bn_act

if TYPE_CHECKING:
    from .space import ChainSpace


def block_signature(op: str, C_in: int, C_out: int, h: int, stride: int) -> str:
    return f"{op}|cin{C_in}|cout{C_out}|{h}x{h}|s{stride}"


def chain_latency_model(space: "ChainSpace", info) -> LatencyParts:
    model = LatencyParts(space.name)
    h, c = info.image_size, info.in_channels
    C0, C1 = space.first_conv, space.first_block
    model.fixed.append(model.add(f"first_conv|cin{c}|cout{C0}|{h}x{h}|s2", lambda: conv_bn_act(c, C0, 3, 2), (c, h, h)))
    h = down(h)
    model.fixed.append(model.add(block_signature(FIRST_BLOCK_OP, C0, C1, h, 1),
                                 lambda: build_op(FIRST_BLOCK_OP, C0, C1, 1, True), (C0, h, h)))
    for sp in space.layers:
        model.units.append((sp.name, [[None if op == "zero" else model.add(
            block_signature(op, sp.C_in, sp.C_out, h, sp.stride),
            lambda op=op, sp=sp: Residual(build_op(op, sp.C_in, sp.C_out, sp.stride, True), sp.skip),
            (sp.C_in, h, h)) for op in sp.candidates]]))
        h = down(h, sp.stride)
    C, F = space.layers[-1].C_out, space.feature_mix
    model.fixed.append(model.add(f"feature_mix|cin{C}|cout{F}|{h}x{h}", lambda: conv_bn_act(C, F, 1, 1), (C, h, h)))
    model.fixed.append(model.add(f"head|cin{F}|cls{info.num_classes}|{h}x{h}",
                                 lambda: Head(F, info.num_classes), (F, h, h)))
    return model
