"""Search strategies, selected by ``strategy.name``.  A new strategy is one module that
decorates its class with :func:`register_strategy`, plus one yaml in ``conf/strategy/``."""
from .base import STRATEGIES, Strategy, build_strategy, register_strategy
from . import darts, enas, gdas, proxyless, random_search, reinforce  # noqa: F401  (registers)

__all__ = ["STRATEGIES", "Strategy", "build_strategy", "register_strategy"]
