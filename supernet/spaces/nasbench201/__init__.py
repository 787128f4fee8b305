"""NAS-Bench-201's cell space (space, supernet, the benchmark's network, its architecture
strings as genotypes, latency, picture, timm entry); its published tables are read by
supernet.benchmark_table."""
from . import space, timm_models  # noqa: F401  (register the family and its timm entry)
