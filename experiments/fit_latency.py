"""``supernet-fit-latency`` from a checkout (supernet/apps/fit_latency.py)."""
from supernet.apps.fit_latency import main

if __name__ == "__main__":
    main()
