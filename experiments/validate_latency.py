"""``supernet-validate`` from a checkout (supernet/apps/validate_latency.py)."""
from supernet.apps.validate_latency import main

if __name__ == "__main__":
    main()
