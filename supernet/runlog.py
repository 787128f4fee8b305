"""Per-epoch run records shared by search and retrain: the metrics CSV (rewritten atomically
after every epoch, so a killed run leaves a complete file) and the one-line console summary."""
from __future__ import annotations

import csv
import os
from pathlib import Path


def write_csv(rows: list[dict[str, float]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def format_row(row: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
