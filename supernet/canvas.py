"""Writing a figure: a bare ``matplotlib.figure.Figure`` rendered by the Agg canvas, so plotting
works headless, never touches pyplot's global state (no figure leaks when called every epoch)
and does not depend on which backend the caller selected; written atomically."""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from .files import write_atomic

PathLike = str | os.PathLike


def save_figure(fig: Figure, path: PathLike, dpi: int = 120) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
