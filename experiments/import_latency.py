"""``supernet-import-latency`` from a checkout (supernet/apps/import_latency.py)."""
from supernet.apps.import_latency import main

if __name__ == "__main__":
    main()
