"""A device's latency table fitted from end-to-end measurements of whole networks (a device
farm, a published benchmark such as HW-NAS-Bench or HELP, a profiler on the device) where no
per-op timings exist.

A network's table latency is linear in the table: the entries times how often each signature
runs, plus the calibration's constant.  So the entries are non-negative least squares on a
seeded share of the measured networks, and the rest judges the table through the predictor the
search uses.  Signatures that every measured network runs equally often cannot be told apart
(the stem, the reductions and the head run once in every network: they go into the constant;
NAS-Bench-201's cells share one op per edge, so an op costs the same count at every stage): each
such group gets one coefficient, shared equally by its signatures.  Networks whose output no
path reaches are left out: they compute a constant, some runtimes skip them (most of them measure
under 0.1 ms on the phones of HW-NAS-Bench), and no search returns them.

Some runtimes skip the ops whose result nothing reads (TF-Lite's converter drops them): on the
phones of HW-NAS-Bench a NAS-Bench-201 conv into a node that feeds only `none` edges costs
nothing, and a sum over every op misfits them by a quarter (held-out MAPE 24% on the Pixel 3,
10% when only read ops count; the GPUs and the Xeon run every op).  So the fit tries both
readings and the table says which it keeps (``meta.skips_unread_ops``); the search's expected
latency follows it.
"""
from __future__ import annotations

import datetime
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import kendalltau

from ..benchmark_table import BenchmarkTableError, architecture_of, read_arch_csv
from ..latency.parts import LatencyParts
from ..latency.table import LatencyTable, TableError
from ..spaces.base import SearchSpace, one_hot, path_weights
from .predict import LatencyPredictor, read_weights


@dataclass
class Measurements:
    genotypes: list[Any]
    ms: list[float]
    source: str             # file and column, for the table's meta
    column: str = ""        # the latency column: a benchmark table with it gives a derive's measured latency
    constant: int = 0       # networks left out: their output is a constant (space.constant_output)


def read_measurements(path: str | os.PathLike, column: str, space: SearchSpace) -> Measurements:
    """One end-to-end latency (ms) per architecture of ``space`` from a CSV with an ``arch``
    column; a file that cannot be fitted from is refused with what is wrong and how many rows
    were usable."""
    path = Path(path)
    header, rows = read_arch_csv(path, "measurement file", TableError)
    if column not in header:
        raise TableError(f"{path}: no {column!r} column (columns: {', '.join(header)}); give the latency column "
                         "with --column")
    bad, out = [], Measurements([], [], f"{path.name}, column {column}", column)
    for line, row in enumerate(rows, start=2):
        try:
            genotype = architecture_of(space, row["arch"], f"{path}, line {line}")
        except BenchmarkTableError as e:
            raise TableError(str(e)) from None
        try:
            ms = float(row[column])
        except (TypeError, ValueError):
            ms = math.nan
        if not (math.isfinite(ms) and ms > 0):
            bad.append((line, row[column]))
            continue
        if space.constant_output(genotype):
            out.constant += 1
            continue
        out.genotypes.append(genotype)
        out.ms.append(ms)
    if bad:
        line, value = bad[0]
        raise TableError(f"{path}: {len(bad)} of {len(rows)} rows have no positive latency in {column!r} (first: line "
                         f"{line}, {value!r}); {len(out.ms)} rows are usable: drop or re-measure the others")
    if len(set(out.genotypes)) != len(out.genotypes):
        raise TableError(f"{path}: an architecture appears twice; keep one measurement per architecture")
    return out


def signature_counts(space: SearchSpace, model: LatencyParts, genotype: Any,
                     skips_unread: bool = False) -> dict[str, float]:
    """How many times an end-to-end run of ``genotype`` runs each signature of ``model`` (on a
    device that skips unread ops: only those whose result is read)."""
    counts = dict.fromkeys(model.signatures, 0.0)
    for sig in model.fixed:
        counts[sig] += 1.0
    weights = path_weights(space, one_hot(space, space.choice_of(genotype)))
    if skips_unread:
        weights = read_weights(space, model, weights)
    for key, sigs in model.units:
        for src, row in enumerate(sigs):
            for op, sig in enumerate(row):
                if sig is not None:
                    counts[sig] += float(weights[key][src, op])
    return counts


def split(n: int, seed: int, heldout: float) -> tuple[list[int], list[int]]:
    """(fit rows, held-out rows) of ``n`` measurements: a seeded shuffle."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = int(round(heldout * n))
    return order[n_test:], order[:n_test]


def solve(space: SearchSpace, model: LatencyParts, data: Measurements, train: list[int],
          skips_unread: bool) -> tuple[dict[str, float], float, float]:
    """Non-negative least squares of the table on the ``train`` rows: (entries, constant, mean
    absolute percentage error on those rows)."""
    sigs = model.signatures
    X = np.array([[c[s] for s in sigs] + [1.0] for c in (signature_counts(space, model, data.genotypes[i], skips_unread)
                                                        for i in train)])
    y = np.array(data.ms)[train]
    groups: dict[bytes, list[int]] = {}
    for j in range(X.shape[1]):
        groups.setdefault(X[:, j].tobytes(), []).append(j)
    members = list(groups.values())
    fixed = {sigs.index(s) for s in model.fixed} | {X.shape[1] - 1}
    unseen = [sigs[j] for g in members if not set(g) <= fixed and np.ptp(X[:, g[0]]) == 0 for j in g]
    if unseen:
        raise TableError(f"{data.source}: every architecture in the fit ({len(train)} of {len(data.ms)} usable) runs "
                         f"{unseen[0]} equally often{f' (and {len(unseen) - 1} more)' if len(unseen) > 1 else ''}, "
                         "so its cost cannot be told from the rest: measure architectures that differ in it")
    A = np.stack([X[:, g[0]] for g in members], 1)
    if len(train) < len(members) or np.linalg.matrix_rank(A) < len(members):
        raise TableError(f"{data.source}: {len(train)} architectures in the fit ({len(data.ms)} usable) cannot "
                         f"determine the {len(members)} independent costs of this space's table: measure more "
                         "architectures, covering every op")
    coef, _ = nnls(A, y)
    entries, constant = dict.fromkeys(sigs, 0.0), 0.0
    for c, g in zip(coef, members):
        if X.shape[1] - 1 in g:          # run once by every network: the constant
            constant += float(c)
        else:
            for j in g:
                entries[sigs[j]] = float(c) / len(g)
    return entries, constant, float(np.mean(np.abs(A @ coef - y) / y) * 100)


def fit_table(space: SearchSpace, model: LatencyParts, data: Measurements, out: str | os.PathLike, hardware: str,
              device: str, batch_size: int = 1, seed: int = 0,
              heldout: float = 0.2) -> tuple[LatencyTable, dict[str, float]]:
    """The table fitted on a seeded ``1 - heldout`` of ``data`` and its validation on the rest
    (Kendall tau, mean absolute percentage error, largest error), written at ``out``.  Both
    readings of the device are fitted, every op run or only those whose result is read, and
    the one that fits the fit rows better is kept: a space whose every result is read has one."""
    train, test = split(len(data.ms), seed, heldout)
    fits = {False: solve(space, model, data, train, False)}
    if space.reader_edges():
        fits[True] = solve(space, model, data, train, True)
    skips_unread = min(fits, key=lambda k: fits[k][2])
    entries, constant, _ = fits[skips_unread]
    meta = {"device": device, "torch": None, "processor": None, "threads": None, "batch_size": batch_size,
            "dtype": "float32", "date": None, "imported": datetime.date.today().isoformat(),
            "skips_unread_ops": skips_unread}
    table = LatencyTable(meta, path=str(out), hardware=hardware)
    table.entries = entries
    table.calibration = {model.key: {"scale": 1.0, "per_op_ms": 0.0, "constant_ms": constant}}
    predictor = LatencyPredictor(space, model, table)
    pred = np.array([predictor.of_genotype(data.genotypes[i]) for i in test])
    truth = np.array(data.ms)[test]
    validation = {"rows": len(data.ms), "constant_output_rows_left_out": data.constant, "fit_rows": len(train),
                  "heldout_rows": len(test), "seed": seed,
                  "kendall_tau": float(kendalltau(pred, truth).statistic),
                  "mape_percent": float(np.mean(np.abs(pred - truth) / truth) * 100),
                  "max_abs_error_ms": float(np.abs(pred - truth).max()),
                  **{f"fit_rows_mape_percent_{'read_ops_only' if k else 'every_op'}": v[2] for k, v in fits.items()}}
    reading = ("only the ops whose result is read run (the device skips the rest; it fits the fit rows better)"
               if skips_unread else "every op runs")
    table.meta["method"] = (f"fitted from end-to-end measurements ({data.source}): non-negative least squares on a "
                            f"seeded {len(train)} of {len(data.ms)} architectures, {reading}, one cost per group of "
                            "signatures the measured networks run equally often (shared equally), the "
                            "once-per-network parts in the constant; validated on the other rows")
    table.meta["validation"] = validation
    table.meta["measured_column"] = data.column
    table.save()
    return table, validation
