"""Search space families, selected by ``space.name``.  A family is one package here (config,
space, supernet, discrete network, genotype, latency model, picture, timm entry) whose space
class is decorated with :func:`register_space`, plus one yaml in ``supernet/conf/space/``: every package
here is imported, so nothing else changes."""
import importlib
import pkgutil

from .base import (
    SPACES,
    Decision,
    Edge,
    SearchSpace,
    SpaceConfig,
    build_space,
    family_of,
    register_space,
    space_class,
    space_config,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

DEFAULT_FAMILY = "nasnet_cell"      # the offline default's (supernet/conf/space/darts.yaml picks it too)


def default_space_config() -> SpaceConfig:
    """The configs' default space, so that ``SearchConfig()`` runs what the apps run by default."""
    return SPACES[DEFAULT_FAMILY].config()

__all__ = ["SPACES", "Decision", "Edge", "SearchSpace", "SpaceConfig", "build_space", "default_space_config",
           "family_of", "register_space", "space_class", "space_config"]
