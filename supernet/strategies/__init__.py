"""Search strategies, selected by ``strategy.name``.  A new strategy is one module in this
package that decorates its class with :func:`register_strategy` (with its config dataclass),
plus one yaml in ``supernet/conf/strategy/``: every module here is imported, so nothing else changes."""
import importlib
import pkgutil

from .base import (
    STRATEGIES,
    Strategy,
    StrategyConfig,
    build_space_and_strategy,
    build_strategy,
    register_strategy,
    strategy_class,
    strategy_config,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["STRATEGIES", "Strategy", "StrategyConfig", "build_space_and_strategy", "build_strategy",
           "register_strategy", "strategy_class", "strategy_config"]
