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
class LatencyParts:
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
