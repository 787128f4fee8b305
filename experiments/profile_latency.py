"""``supernet-profile`` from a checkout (supernet/apps/profile_latency.py)."""
from supernet.apps.profile_latency import main

if __name__ == "__main__":
    main()
