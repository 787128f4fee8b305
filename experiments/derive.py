"""``supernet-derive`` from a checkout (supernet/apps/derive.py)."""
from supernet.apps.derive import main

if __name__ == "__main__":
    main()
