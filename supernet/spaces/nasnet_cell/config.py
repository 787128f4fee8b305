"""The cell space's options (hydra: ``space/base_nasnet_cell``, picked by supernet/conf/space/darts.yaml
and nasnet.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from ..base import SpaceConfig

DARTS_OPS = [
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
]
NASNET_OPS = [
    "skip_connect", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3",
    "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
]


@dataclass
class CellSpaceConfig(SpaceConfig):
    """The NASNet/DARTS cell space and the macro network that stacks its cells."""
    name: str = "nasnet_cell"
    nodes: int = 4                  # B: intermediate nodes per cell
    # DARTS's ops without `none` (as NNI's DARTS space): derive never picks it, and a sampled
    # `none` only takes steps from the paths the shared weights must learn.
    ops: List[str] = field(default_factory=lambda: [op for op in DARTS_OPS if op != "none"])
    layers: int = 5                 # cells; reductions at 1/3 and 2/3 of the depth
    init_channels: int = 8
    stem_multiplier: int = 3
    share_inputs: bool = True       # supernet: one op module per node for every input it reads (false: per input)
