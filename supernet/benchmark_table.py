"""Published figures of every architecture of a space (a tabular benchmark such as
NAS-Bench-201): a CSV with an ``arch`` column, written in the space's own notation, and any
numeric columns (``cifar10_test_12ep``, ``cifar10_test`` in a user's copy of the 200-epoch
figures, a device's latency).  A search with a table records where its derived architecture
stands in the space; benchmarks judge strategies by it."""
from __future__ import annotations

import csv
import math
import os
from bisect import bisect_right
from pathlib import Path
from typing import Any

from .genotype_json import GenotypeError
from .spaces.base import SearchSpace


class BenchmarkTableError(ValueError):
    """A table that cannot describe this space; the message says what is wrong with it."""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_arch_csv(path: Path, what: str, error: type[Exception]) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a CSV with one row per architecture, keyed by its ``arch`` column;
    ``error`` (naming the file and ``what`` it should be) when it is missing, unreadable or
    has no such column."""
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise error(f"{path}: not a readable CSV {what} ({e})") from None
    if "arch" not in header:
        raise error(f"{path}: no 'arch' column (columns: {', '.join(header) or 'none'}); a {what} has one row per "
                    "architecture, keyed by its 'arch' string")
    return header, rows


def architecture_of(space: SearchSpace, text: str, where: str) -> Any:
    """The genotype of an ``arch`` cell of a table; a BenchmarkTableError names ``where``."""
    try:
        genotype = type(space).genotype_from_text(text or "")
        if genotype is None:
            raise GenotypeError(f"{text!r} is not written in the {space.name} space's notation")
        space.choice_of(genotype)
    except (GenotypeError, ValueError) as e:
        raise BenchmarkTableError(f"{where}: not an architecture of the {space.name} space ({e}); "
                                  "is this the table of another space?") from None
    return genotype


class BenchmarkTable:
    """``table[genotype]``: that architecture's figures; :meth:`percentile`: its place in the
    space on one column.  Every row must be an architecture of ``space`` and every architecture
    appears once; columns with a non-numeric value in any row are left out."""

    def __init__(self, path: str | os.PathLike, space: SearchSpace):
        self.path = Path(path)
        header, rows = read_arch_csv(self.path, "benchmark table", BenchmarkTableError)
        self.figures: dict[Any, dict[str, float]] = {}
        numeric = [c for c in header if c != "arch"]
        parsed = []
        for line, row in enumerate(rows, start=2):
            genotype = architecture_of(space, row["arch"], f"{self.path}, line {line}")
            if genotype in self.figures:
                raise BenchmarkTableError(f"{self.path}, line {line}: {row['arch']} appears twice")
            self.figures[genotype] = {}
            parsed.append((genotype, row))
            numeric = [c for c in numeric if _number(row.get(c) or "") is not None]
        if not self.figures:
            raise BenchmarkTableError(f"{self.path}: no rows")
        for genotype, row in parsed:
            self.figures[genotype] = {c: float(row[c]) for c in numeric}
        self.columns = numeric
        self._sorted = {c: sorted(f[c] for f in self.figures.values()) for c in numeric}

    def column(self, name: str | None) -> str:
        """``name``, checked; None: the first column that is not an index."""
        if name is None:
            names = [c for c in self.columns if "index" not in c.lower()]
            if not names:
                raise BenchmarkTableError(f"{self.path}: no numeric column besides indices")
            return names[0]
        if name not in self.columns:
            raise BenchmarkTableError(f"{self.path}: no numeric column {name!r}; columns: {', '.join(self.columns)}")
        return name

    def __len__(self) -> int:
        return len(self.figures)

    def __getitem__(self, genotype: Any) -> dict[str, float]:
        try:
            return self.figures[genotype]
        except KeyError:
            raise KeyError(f"{self.path} has no row for {getattr(genotype, 'arch', genotype)}") from None

    def percentile(self, genotype: Any, column: str) -> float:
        """Percentage of the table's architectures whose ``column`` is at most this one's."""
        return self.percentile_of(self[genotype][column], column)

    def percentile_of(self, value: float, column: str) -> float:
        """Percentage of the table's architectures whose ``column`` is at most ``value`` (a mean
        over searches, say)."""
        return 100.0 * bisect_right(self._sorted[column], value) / len(self)

    def value_at(self, column: str, percentile: float) -> float:
        """The ``column`` value at ``percentile`` of the space (nearest rank)."""
        values = self._sorted[column]
        return values[min(len(values) - 1, max(0, math.ceil(percentile / 100 * len(values)) - 1))]

    def record(self, genotype: Any) -> dict[str, Any]:
        """What a genotype.json records: the table, the figures and their percentiles in the space."""
        figures = self[genotype]
        return {"table": str(self.path), "figures": figures,
                "percentile": {c: round(self.percentile(genotype, c), 2) for c in figures if "index" not in c.lower()}}
