"""supernet: hardware-aware one-shot neural architecture search."""
from .genotype import Genotype, load_genotype, save_genotype
from .space import CellSpace

__version__ = "0.1.0"
__all__ = ["CellSpace", "Genotype", "load_genotype", "save_genotype", "__version__"]
