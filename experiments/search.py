"""``supernet-search`` from a checkout (supernet/apps/search.py)."""
from supernet.apps.search import main

if __name__ == "__main__":
    main()
