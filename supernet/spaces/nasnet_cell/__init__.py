"""The NASNet/DARTS cell space: cells of two-slot nodes stacked in a macro network."""
from . import space, timm_models  # noqa: F401  (register the family and its timm entries)
