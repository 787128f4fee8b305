"""supernet: hardware-aware one-shot neural architecture search."""
from . import spaces  # noqa: F401  (registers every space family and its timm entries)
from .genotype_json import load_genotype, save_genotype
from .genotypes import published_names, resolve_genotype
from .spaces.nasnet_cell.genotype import Genotype
from .spaces.nasnet_cell.space import CellSpace

__version__ = "0.1.0"
__all__ = ["CellSpace", "Genotype", "load_genotype", "published_names", "resolve_genotype", "save_genotype",
           "__version__"]
