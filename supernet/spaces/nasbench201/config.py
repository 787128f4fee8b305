"""The NAS-Bench-201 space's options (hydra: ``space/base_nasbench201``, picked by
conf/space/nasbench201.yaml).  The defaults are the benchmark's network (16 channels, 5 cells
per stage); the yaml sizes the search's supernet for a CPU."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from ..base import SpaceConfig
from .genotype import NB201_OPS


@dataclass
class NB201SpaceConfig(SpaceConfig):
    """The benchmark's cell (6 edges, one op each, shared by every cell) in its macro network: a
    3x3 stem of ``init_channels``, three stages of ``cells_per_stage`` cells at 1x, 2x and 4x the
    channels, a residual reduction block between stages.  ``ops``: the benchmark's five or a
    subset of them (a subset searches part of the space; the tables still look its results up)."""
    name: str = "nasbench201"
    ops: List[str] = field(default_factory=lambda: list(NB201_OPS))
    init_channels: int = 16
    cells_per_stage: int = 5
    # The network a hardware target's table models and end-to-end timings run (0: the supernet's
    # own size). supernet/conf/space/nasbench201.yaml: the benchmark's C=16, N=5, where a derived cell is
    # deployed and the published latencies were measured, whatever size the supernet searches at.
    latency_channels: int = 0
    latency_cells_per_stage: int = 0
