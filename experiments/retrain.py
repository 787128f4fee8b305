"""``supernet-retrain`` from a checkout (supernet/apps/retrain.py)."""
from supernet.apps.retrain import main

if __name__ == "__main__":
    main()
