"""The chain's supernet: every layer holds every candidate block once, shared by all children
(or, nested, as slices of its largest block), behind a binarized gate or a DARTS mixture."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional

import torch
import torch.nn.functional as F
from timm.layers import make_divisible
from torch import Tensor, nn

from ...gates import Gate, apply_gate
from ...ops import build_op, mbconv_params
from .network import FIRST_BLOCK_OP, bn, conv_bn_act

if TYPE_CHECKING:
    from .space import ChainSpace, LayerSpec


class NestedBlocks(nn.Module):
    """Every candidate MBConv of a layer as a slice of the largest one (Single-Path NAS's
    superkernel, Once-for-All's elastic kernel and width): a k x k depthwise kernel is the centre
    of the largest, an expansion of e uses the first ``C_in * e`` channels.  So every step trains
    the weights most candidates share instead of one candidate's own, which a deep chain needs
    to give sampled children useful weights in the steps of a small data set.  Each candidate
    keeps its own BatchNorms (its statistics and scale differ; under torchrun they convert like
    any other); ``forward(x, op)`` runs candidate ``op``."""

    def __init__(self, spec: "LayerSpec"):
        super().__init__()
        blocks = {op: mbconv_params(op) for op in spec.candidates if op != "zero"}
        self.shape = {op: (k, spec.C_in if e == 1 else make_divisible(spec.C_in * e)) for op, (k, e) in blocks.items()}
        self.expands = {op: e > 1 for op, (k, e) in blocks.items()}
        mid, kernel = max(m for _, m in self.shape.values()), max(k for k, _ in self.shape.values())
        self.stride = spec.stride
        self.conv_pw = nn.Conv2d(spec.C_in, mid, 1, bias=False)
        self.conv_dw = nn.Conv2d(mid, mid, kernel, groups=mid, bias=False)
        self.conv_pwl = nn.Conv2d(mid, spec.C_out, 1, bias=False)
        self.bns = nn.ModuleDict({
            op: nn.ModuleList(bn(c) for c in ((m, m) if self.expands[op] else (m,)) + (spec.C_out,))
            for op, (k, m) in self.shape.items()})

    def zero_init_last(self) -> None:
        for bns in self.bns.values():
            nn.init.zeros_(bns[-1].weight)

    def forward(self, x: Tensor, op: str) -> Tensor:
        k, mid = self.shape[op]
        bns = iter(self.bns[op])
        if self.expands[op]:
            x = F.relu6(next(bns)(F.conv2d(x, self.conv_pw.weight[:mid])))
        trim = (self.conv_dw.kernel_size[0] - k) // 2
        dw = self.conv_dw.weight[:mid, :, trim:trim + k, trim:trim + k]
        x = F.relu6(next(bns)(F.conv2d(x, dw, None, self.stride, k // 2, 1, mid)))
        return next(bns)(F.conv2d(x, self.conv_pwl.weight[:, :mid]))


class MixedLayer(nn.Module):
    """One searchable layer: a module per candidate block (`zero` has none: it skips the layer),
    or with ``nested`` all blocks as slices of one (:class:`NestedBlocks`).  On a layer with an
    identity skip every block starts as the identity (zero-initialized last BN): otherwise each
    step's random child adds its own random features at every depth and the shared weights of a
    deep chain barely train in the steps a small data set gives."""

    def __init__(self, spec: "LayerSpec", nested: bool = False):
        super().__init__()
        self.name, self.candidates, self.skip = spec.name, spec.candidates, spec.skip
        if nested:
            self.blocks = NestedBlocks(spec)
        else:
            self.ops = nn.ModuleDict({op: build_op(op, spec.C_in, spec.C_out, spec.stride, True)
                                      for op in spec.candidates if op != "zero"})
        if self.skip:
            for block in ([self.blocks] if nested else self.ops.values()):
                block.zero_init_last()
        self.nested = nested

    def _run(self, x: Tensor, k: int) -> Optional[Tensor]:
        name = self.candidates[k]
        if name == "zero":
            return None
        return self.blocks(x, name) if self.nested else self.ops[name](x)

    def forward(self, x: Tensor, gate: Gate) -> Tensor:
        out = self._run(x, gate.active)
        if gate.weights is not None:      # arch step: m = sum_j g_j o_j(x), the others re-run in the backward
            out = torch.zeros_like(x) if out is None else out
            detached = x.detach()
            out = apply_gate(out, gate, lambda k: self._run(detached, k))
        if not self.skip:
            return out
        return x if out is None else x + out

    def mixture(self, x: Tensor, w: Tensor) -> Tensor:
        """DARTS relaxation: sum_k w[k] o_k(x) (plus the skip)."""
        out = sum(w[k] * o for k in range(len(self.candidates)) if (o := self._run(x, k)) is not None)
        return x + out if self.skip else out


class ChainSupernet(nn.Module):
    """``forward(x, gates)`` runs the child the gates select; ``forward(x, mixture=w)`` the DARTS
    relaxation with ``w[layer name]`` a 1 x candidates matrix."""

    def __init__(self, space: "ChainSpace", in_channels: int, num_classes: int):
        super().__init__()
        self.stem = conv_bn_act(in_channels, space.first_conv, 3, 2)
        self.first_block = build_op(FIRST_BLOCK_OP, space.first_conv, space.first_block, 1, True)
        self.layers = nn.ModuleList(MixedLayer(spec, space.nested_blocks) for spec in space.layers)
        self.head = conv_bn_act(space.layers[-1].C_out, space.feature_mix, 1, 1)
        self.classifier = nn.Linear(space.feature_mix, num_classes)

    def forward(self, x: Tensor, gates: Optional[Mapping[str, Gate]] = None,
                mixture: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        x = self.first_block(self.stem(x))
        for layer in self.layers:
            x = layer(x, gates[layer.name]) if mixture is None else layer.mixture(x, mixture[layer.name][0])
        return self.classifier(self.head(x).mean((2, 3)))
