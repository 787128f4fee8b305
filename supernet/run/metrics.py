"""Per-epoch run records shared by search and retrain: the metrics CSV (rewritten atomically
after every epoch, so a killed run leaves a complete file) and the one-line console summary."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ..files import write_atomic


def write_csv(rows: list[dict[str, Any]], path: Path, keys: list[str] | None = None) -> Path:
    """``rows`` as CSV with the columns ``keys`` (default: every key of any row, in order)."""
    keys = keys or list(dict.fromkeys(k for row in rows for k in row))

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    return write_atomic(path, write)


def format_row(row: dict[str, float]) -> str:
    """The console line of a row: what a person watches.  A nan (not measured this epoch) is left
    out, and so is the derived cell's op histogram (the ``<group>/<op>`` columns), which
    metrics.csv and the pictures hold."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                    if not (isinstance(v, float) and math.isnan(v)) and "/" not in k)
