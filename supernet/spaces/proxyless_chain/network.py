"""The discrete network of a chain genotype, laid out as timm's EfficientNet so that its weights
load there unchanged, and the blocks it shares with the supernet."""
from __future__ import annotations

from typing import TYPE_CHECKING

from timm.layers import drop_path
from torch import Tensor, nn

from ...ops import build_op
from ..base import WithoutAuxiliaryHead
from .genotype import ChainGenotype, keeps_shape

if TYPE_CHECKING:
    pass

FIRST_BLOCK_OP = "mbconv_3x3_e1"


def bn(C: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, eps=1e-3)


def conv_bn_act(C_in: int, C_out: int, kernel: int, stride: int) -> nn.Sequential:
    """Conv, BN, ReLU6: ProxylessNAS's first conv (3x3, stride 2) and feature-mix conv (1x1)."""
    return nn.Sequential(nn.Conv2d(C_in, C_out, kernel, stride, kernel // 2, bias=False), bn(C_out), nn.ReLU6())


class Residual(nn.Module):
    """A block plus its identity skip where the shape allows (what a table entry measures)."""

    def __init__(self, block: nn.Module, skip: bool):
        super().__init__()
        self.block, self.skip = block, skip

    def forward(self, x):
        return x + self.block(x) if self.skip else self.block(x)


class ChainNetwork(WithoutAuxiliaryHead, nn.Module):
    """The discrete network of a chain genotype, with timm EfficientNet's module names
    (conv_stem, bn1, blocks.<stage>.<i>, conv_head, bn2, classifier).  Drop path (its
    probability set per epoch by the retrain loop) drops the residual branches in training."""

    def __init__(self, genotype: ChainGenotype, in_channels: int = 3, num_classes: int = 1000,
                 drop_path_prob: float = 0.0):
        super().__init__()
        self.genotype = genotype
        self.conv_stem = nn.Conv2d(in_channels, genotype.first_conv, 3, 2, 1, bias=False)
        self.bn1, self.act1 = bn(genotype.first_conv), nn.ReLU6()
        stages = genotype.stages()
        self.blocks = nn.ModuleList(
            nn.ModuleList(build_op(b.op, c_in, b.out, b.stride, True) for c_in, b in stage) for stage in stages)
        self.skips = [[keeps_shape(c_in, b.out, b.stride) for c_in, b in stage] for stage in stages]
        self.conv_head = nn.Conv2d(genotype.blocks[-1].out, genotype.feature_mix, 1, bias=False)
        self.bn2, self.act2 = bn(genotype.feature_mix), nn.ReLU6()
        self.classifier = nn.Linear(genotype.feature_mix, num_classes)
        self.num_classes = num_classes
        self.drop_path_prob = drop_path_prob

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        drop = self.drop_path_prob if self.training else 0.0
        for stage, skips in zip(self.blocks, self.skips):
            for block, skip in zip(stage, skips):
                x = x + drop_path(block(x), drop, True) if skip else block(x)
        x = self.act2(self.bn2(self.conv_head(x)))
        return self.classifier(x.mean((2, 3)))
