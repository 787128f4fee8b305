"""The candidate-op registry: every op registered once by name, built from
``(C_in, C_out, stride, affine)``.  NASNet's 13 ops, DARTS's 8 and ProxylessNAS's MBConv blocks
(``mbconv_KxK_eE``) live here; a new op is one ``@register_op`` function.  ``none`` is
registered so that genotypes and the DARTS relaxation can name it, but a binarized gate that
samples it computes nothing.
"""
from __future__ import annotations

import re
from typing import Callable

import torch
from timm.layers import make_divisible
from torch import nn

OpBuilder = Callable[[int, int, int, bool], nn.Module]
OPS: dict[str, OpBuilder] = {}


def register_op(name: str) -> Callable[[OpBuilder], OpBuilder]:
    def deco(fn: OpBuilder) -> OpBuilder:
        if name in OPS:
            raise ValueError(f"op {name!r} is already registered")
        OPS[name] = fn
        return fn
    return deco


def build_op(name: str, C_in: int, C_out: int, stride: int, affine: bool = True) -> nn.Module:
    try:
        builder = OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; registered ops: {', '.join(sorted(OPS))}") from None
    return builder(C_in, C_out, stride, affine)


class SkipDropout(nn.Identity):
    """A search cell's skip-connect: the identity, with dropout at rate ``p`` while training
    (P-DARTS: a parameter-free skip fits an undertrained supernet best, so alpha collapses to
    it unless its advantage is damped).  ``p`` is set by the loop (:func:`set_skip_dropout`)."""
    p = 0.0

    def forward(self, x):
        return nn.functional.dropout(x, self.p, True) if self.training and self.p else x


def set_skip_dropout(net: nn.Module, p: float) -> None:
    for m in net.modules():
        if isinstance(m, SkipDropout):
            m.p = p


def search_op(name: str, C_in: int, C_out: int, stride: int) -> nn.Module:
    """An op as a search cell holds it: no affine BN (DARTS), and a ``BatchNorm2d(affine=False)``
    after an op that would otherwise leave its output unnormalised (the pools): every candidate
    of a decision then meets the next layer at the same scale, so the arch gradient compares
    ops, not their output statistics (a max pool's outputs have mean +0.8 where a conv's have
    0).  The identity (a :class:`SkipDropout`) and ``none`` stay unnormalised; retrained
    networks keep the published ops."""
    op = build_op(name, C_in, C_out, stride, affine=False)
    if type(op) is nn.Identity:
        return SkipDropout()
    if isinstance(op, (nn.Identity, Zero)) or any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in op.modules()):
        return op
    return nn.Sequential(op, nn.BatchNorm2d(C_out, affine=False))


def check_ops(names: list[str]) -> None:
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown} in space.ops; registered ops: {', '.join(sorted(OPS))}")
    if len(set(names)) != len(names):
        raise ValueError(f"space.ops lists an op twice: {names}")


class ReLUConvBN(nn.Sequential):
    def __init__(self, C_in, C_out, kernel, stride, padding, affine=True, dilation=1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride, padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halves the spatial size with two offset stride-2 1x1 convs (NASNet/DARTS)."""

    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        # odd sizes: pad the shifted branch so both halves align (an amount, not a branch on the
        # shape, so fx traces it; even sizes pad nothing)
        odd = x.shape[-1] % 2
        y = nn.functional.pad(x[:, :, 1:, 1:], (0, odd, 0, odd))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(y)], dim=1))


class SepConv(nn.Sequential):
    """DARTS's separable conv: two stacked ReLU-depthwise-pointwise-BN units."""

    def __init__(self, C_in, C_out, kernel, stride, affine=True):
        pad = kernel // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride, pad, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, 1, pad, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    def __init__(self, C_in, C_out, kernel, stride, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride, dilation * (kernel // 2), dilation=dilation,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class FactorizedConv(nn.Sequential):
    """NASNet's 1xk then kx1 conv."""

    def __init__(self, C_in, C_out, k, stride, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, (1, k), (1, stride), (0, k // 2), bias=False),
            nn.Conv2d(C_in, C_out, (k, 1), (stride, 1), (k // 2, 0), bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` op in a weighted mixture: zeros of the output shape."""

    def __init__(self, C_out, stride):
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x):
        n, _, h, w = x.shape
        s = self.stride
        return x.new_zeros(n, self.C_out, (h + s - 1) // s, (w + s - 1) // s)


class Pool(nn.Module):
    """A pooling op; a 1x1 conv adapts the width when C_in != C_out."""

    def __init__(self, kind, kernel, C_in, C_out, stride, affine):
        super().__init__()
        pool_cls = nn.AvgPool2d if kind == "avg" else nn.MaxPool2d
        kw = {"count_include_pad": False} if kind == "avg" else {}
        self.pool = pool_cls(kernel, stride=stride, padding=kernel // 2, **kw)
        self.proj = ReLUConvBN(C_in, C_out, 1, 1, 0, affine) if C_in != C_out else None

    def forward(self, x):
        x = self.pool(x)
        return self.proj(x) if self.proj is not None else x


register_op("none")(lambda C_in, C_out, stride, affine: Zero(C_out, stride))


@register_op("skip_connect")
def _skip(C_in, C_out, stride, affine):
    if stride == 2:
        return FactorizedReduce(C_in, C_out, affine)
    return nn.Identity() if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, affine)


for _k in (3, 5, 7):
    register_op(f"max_pool_{_k}x{_k}")(lambda C_in, C_out, s, a, k=_k: Pool("max", k, C_in, C_out, s, a))
    register_op(f"sep_conv_{_k}x{_k}")(lambda C_in, C_out, s, a, k=_k: SepConv(C_in, C_out, k, s, a))
for _k in (3, 5):
    register_op(f"dil_conv_{_k}x{_k}")(lambda C_in, C_out, s, a, k=_k: DilConv(C_in, C_out, k, s, 2, a))
for _k in (3, 7):
    register_op(f"conv_1x{_k}_{_k}x1")(lambda C_in, C_out, s, a, k=_k: FactorizedConv(C_in, C_out, k, s, a))
register_op("avg_pool_3x3")(lambda C_in, C_out, s, a: Pool("avg", 3, C_in, C_out, s, a))
register_op("conv_1x1")(lambda C_in, C_out, s, a: ReLUConvBN(C_in, C_out, 1, s, 0, a))
register_op("conv_3x3")(lambda C_in, C_out, s, a: ReLUConvBN(C_in, C_out, 3, s, 1, a))
# NAS-Bench-201's names for the same ReLU-Conv-BN ops
register_op("nor_conv_1x1")(OPS["conv_1x1"])
register_op("nor_conv_3x3")(OPS["conv_3x3"])


class MBConv(nn.Module):
    """MobileNetV2's inverted bottleneck as ProxylessNAS searches it: 1x1 expansion to
    ``make_divisible(C_in * expand)`` channels (none when expand is 1), kxk depthwise conv, 1x1
    linear projection, each followed by BN (eps 1e-3, ProxylessNAS's) and ReLU6 but the last.
    The identity skip is the caller's (a chain layer adds it where the shape allows).  Module
    names are timm's (InvertedResidual; DepthwiseSeparableConv for expand 1), so the weights of
    a chain load into the timm network its architecture definition builds."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, expand: int, affine: bool = True):
        super().__init__()
        self.kernel, self.expand = kernel, expand
        bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, affine=affine)  # noqa: E731
        mid = C_in if expand == 1 else make_divisible(C_in * expand)
        dw = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        if expand == 1:
            self.conv_dw, self.bn1, self.act1 = dw, bn(mid), nn.ReLU6()
            self.conv_pw, self.bn2 = nn.Conv2d(mid, C_out, 1, bias=False), bn(C_out)
        else:
            self.conv_pw, self.bn1, self.act1 = nn.Conv2d(C_in, mid, 1, bias=False), bn(mid), nn.ReLU6()
            self.conv_dw, self.bn2, self.act2 = dw, bn(mid), nn.ReLU6()
            self.conv_pwl, self.bn3 = nn.Conv2d(mid, C_out, 1, bias=False), bn(C_out)

    def zero_init_last(self) -> None:
        """Start as a zero branch: on an identity skip the block starts as the identity (timm's
        ``zero_init_last``)."""
        nn.init.zeros_((self.bn2 if self.expand == 1 else self.bn3).weight)

    def forward(self, x):
        if self.expand == 1:
            return self.bn2(self.conv_pw(self.act1(self.bn1(self.conv_dw(x)))))
        x = self.act1(self.bn1(self.conv_pw(x)))
        x = self.act2(self.bn2(self.conv_dw(x)))
        return self.bn3(self.conv_pwl(x))


_MBCONV = re.compile(r"^mbconv_(\d+)x\1_e(\d+)$")


def mbconv_params(name: str) -> tuple[int, int] | None:
    """(kernel, expansion) of an ``mbconv_KxK_eE`` op name, None for any other name."""
    m = _MBCONV.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


for _k in (3, 5, 7):
    for _e in (1, 3, 4, 6):
        register_op(f"mbconv_{_k}x{_k}_e{_e}")(lambda C_in, C_out, s, a, k=_k, e=_e: MBConv(C_in, C_out, k, s, e, a))
