"""ProxylessNAS's chain space: MobileNetV2-style blocks chosen per layer (space, networks,
genotype, latency, the published format of its tables and networks, timm export)."""
from . import space, timm_models  # noqa: F401  (register the family and its timm entries)
