"""ProxylessNAS's chain space: MobileNetV2-style blocks chosen per layer (space, networks,
genotype, latency, the published format of its tables and networks, timm export)."""
