"""``supernet-summarize`` from a checkout (supernet/apps/summarize.py)."""
from supernet.apps.summarize import main

if __name__ == "__main__":
    main()
