"""The NASNet/DARTS cell space: cells of two-slot nodes stacked in a macro network."""
