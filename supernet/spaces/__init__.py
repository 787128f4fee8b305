"""The search spaces by name (``space.name``): the cell space and the chain space, each built
from its typed config (config.py)."""
from __future__ import annotations

from .proxyless_chain.space import ChainSpace
from .base import SearchSpace
from .nasnet_cell.space import CellSpace

SPACES = {CellSpace.name: CellSpace, ChainSpace.name: ChainSpace}


def build_space(cfg) -> SearchSpace:
    try:
        cls = SPACES[cfg.name]
    except KeyError:
        raise ValueError(f"unknown space {cfg.name!r}; known: {', '.join(SPACES)}") from None
    return cls.from_config(cfg)
