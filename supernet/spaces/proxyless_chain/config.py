"""The chain space's options (hydra: ``space/base_proxyless_chain``, picked by
conf/space/proxyless_chain.yaml and proxyless_chain_cpu.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from ..base import SpaceConfig

CHAIN_OPS = [
    "mbconv_3x3_e3", "mbconv_3x3_e6", "mbconv_5x5_e3", "mbconv_5x5_e6", "mbconv_7x7_e3", "mbconv_7x7_e6", "zero",
]


@dataclass
class ChainSpaceConfig(SpaceConfig):
    """ProxylessNAS's chain space (default: its mobile space): a 3x3 stride-2 first conv, a fixed
    3x3 MBConv of expansion 1, stages of searchable layers, a 1x1 feature-mix conv, pooling and a
    classifier.  Every searchable layer picks one of ``ops``; `zero` (skip the layer) only
    where the layer keeps its shape (stride 1, same width).  ``nested_blocks``: the supernet's
    candidates of a layer are slices of its largest block (spaces/proxyless_chain/network.py NestedBlocks; false:
    one module per block, as ProxylessNAS)."""
    name: str = "proxyless_chain"
    ops: List[str] = field(default_factory=lambda: list(CHAIN_OPS))
    first_conv: int = 32
    first_block: int = 16
    widths: List[int] = field(default_factory=lambda: [24, 40, 80, 96, 192, 320])
    depths: List[int] = field(default_factory=lambda: [4, 4, 4, 4, 4, 1])
    strides: List[int] = field(default_factory=lambda: [2, 2, 2, 1, 2, 1])
    feature_mix: int = 1280
    nested_blocks: bool = True
