"""Measuring a device: every op signature of a space (incrementally, saved after each entry so
an interrupted run keeps what it measured), end-to-end runs of discrete children for the
calibration, and the validation of the table against end-to-end runs (the apps that run them:
supernet/apps/profile_latency.py and validate_latency.py)."""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from scipy.stats import kendalltau, spearmanr
from tqdm.auto import tqdm

from ..latency.parts import LatencyParts
from ..latency.table import LatencyTable
from ..spaces.base import SearchSpace, uniform_choice
from ..stats import mape
from ..timing import ROUNDS, interleaved_times, torch_threads
from .constraint import constrained_choice, latency_bounds
from .predict import LatencyPredictor, fit_calibration

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


NOISY = 0.2    # a spread of repeats above this: the machine is too busy to trust the figure
DRIFT = 0.1    # the table's own ops re-timed here differ from it by more: not measured as the table was;
               # a derived network measured this far off its prediction: the calibration misses it


@dataclass
class Bench:
    """How to time on this device (``threads``: intra-op threads while timing, None: as they
    are); ``spreads`` collects the spread of every measurement."""
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    warmup: int = 5
    repeat: int = 20
    threads: int | None = None
    spreads: list[float] = field(default_factory=list)

    def time_ms(self, module: torch.nn.Module, shape) -> float:
        """The least disturbed of three medians (measure.interleaved_times), in milliseconds."""
        return self.times_ms([(module, shape)])[0]

    def times_ms(self, modules: list[tuple[torch.nn.Module, tuple]], desc: str | None = None) -> list[float]:
        """:meth:`time_ms` of each (module, input shape), their rounds interleaved
        (measure.interleaved_times): a burst of load spoils one round of several, not one figure.
        ``desc``: show a progress bar with it."""
        dtype = DTYPES[self.dtype]
        calls = []
        for module, shape in modules:
            module = module.to(self.device, dtype).eval()
            x = torch.randn(self.batch_size, *shape, device=self.device, dtype=dtype)
            calls.append(lambda module=module, x=x: module(x))
        with (torch.inference_mode(), torch_threads(self.threads),
              tqdm(total=ROUNDS * len(calls), desc=desc, disable=desc is None, dynamic_ncols=True) as bar):
            timed = interleaved_times(calls, self.warmup, self.repeat, device=self.device, tick=bar.update)
        self.spreads += [spread for _, spread in timed]
        return [1e3 * seconds for seconds, _ in timed]


def measure_entries(model: LatencyParts, table: LatencyTable, bench: Bench, progress: bool = True) -> int:
    """Measure the signatures the table lacks; returns how many were measured.  A table that
    lacks nothing is left as it is (not even rewritten)."""
    missing = table.missing(model.signatures)
    if not missing:
        return 0
    t0 = time.perf_counter()
    for sig in tqdm(missing, desc="profiling ops", disable=not progress, dynamic_ncols=True):
        builder, shape = model.builders[sig]
        table.entries[sig] = bench.time_ms(builder(), shape)
        table.save()
    table.meta["profile_seconds"] = round(table.meta.get("profile_seconds", 0.0) + time.perf_counter() - t0, 2)
    spread = statistics.median(bench.spreads)
    table.meta["spread_percent"] = round(100 * spread, 1)   # median spread of repeats of this session
    if spread > NOISY:
        table.meta["noisy"] = True
        log.warning(f"{table.path}: the repeats of a measurement spread by {100 * spread:.0f}% (median): this machine "
                    "is too busy to trust these entries; profile again on a quiet machine (the table says so in "
                    "meta.noisy)")
    table.save()
    return len(missing)


def table_drift(model: LatencyParts, table: LatencyTable, bench: Bench, k: int = 5) -> float:
    """How many times as long this machine takes now for the table's ``k`` dearest entries of
    ``model`` (median ratio, re-timed with ``bench``) as when the table was measured.  Device and
    processor names say which kind of machine; this says whether it runs as the table's did (another
    host of the same name, a busy machine, another torch build all show here)."""
    dearest = sorted(dict.fromkeys(model.signatures), key=table.__getitem__, reverse=True)[:k]
    now = bench.times_ms([(model.builders[s][0](), model.builders[s][1]) for s in dearest])
    return statistics.median(ms / table[s] for ms, s in zip(now, dearest))


def random_genotypes(space: SearchSpace, k: int, seed: int, accept: Optional[Callable[[Any], bool]] = None) -> list:
    """``k`` uniformly random discrete children (no `none`: a deployed network has none); with
    ``accept``, the first ``k`` it accepts (refused after 5,000 draws per child)."""
    g, out = torch.Generator().manual_seed(seed), []
    if k <= 0:
        return out
    for _ in range(5000 * k):
        child = space.genotype(uniform_choice(space, g, allow_none=False))
        if accept is None or accept(child):
            out.append(child)
            if len(out) == k:
                return out
    raise RuntimeError(f"only {len(out)} of {k} random children were accepted in {5000 * k} draws")


def spanning_genotypes(predictor: LatencyPredictor, k: int, seed: int) -> list:
    """``k`` children spread evenly over the latency range derive may return, each the most
    probable under seeded random scores within [0.95 t, t] of a target t in it.  Uniform
    children cluster in the middle of the range; these reach its ends, with other op mixes (a
    calibration fitted on uniform children alone missed the cheapest by 37%)."""
    g, space = torch.Generator().manual_seed(seed), predictor.space
    low, high = latency_bounds(space, predictor)
    out = []
    for i in range(k):
        noise = {(key, s): torch.rand(edge.sources, len(edge.ops), generator=g, dtype=torch.float64).log()
                 for key, edge in space.edges.items() for s in range(len(edge.slots))}
        out.append(space.genotype(constrained_choice(space, lambda edge, s: noise[edge.key, s], predictor,
                                                     low + (high - low) * (i + 0.5) / k, floor=0.95).choice))
    return out


def end_to_end_ms(genotype, space: SearchSpace, info, bench: Bench) -> float:
    return all_end_to_end_ms([genotype], space, info, bench)[0]


def all_end_to_end_ms(genotypes: list, space: SearchSpace, info, bench: Bench, desc: str | None = None) -> list[float]:
    """End-to-end latency of every one of ``genotypes``, measured interleaved."""
    shape = (info.in_channels, info.image_size, info.image_size)
    return bench.times_ms([(space.network(g, info), shape) for g in genotypes], desc)


def calibrate(predictor: LatencyPredictor, genotypes: list, info, bench: Bench,
              progress: bool = True) -> dict[str, float]:
    """Fit and store the calibration of the predictor's space configuration from end-to-end
    runs of ``genotypes``."""
    measured = all_end_to_end_ms(genotypes, predictor.space, info, bench, "calibrating" if progress else None)
    raw = [predictor.of_genotype(g, calibrated=False) for g in genotypes]
    fit = fit_calibration(raw, [predictor.ops_run(g) for g in genotypes], measured)
    predictor.table.calibration[predictor.model.key] = fit
    predictor.table.save()
    return fit


def validate(predictor: LatencyPredictor, genotypes: dict, info, bench: Bench, progress: bool = True) -> dict:
    """Predicted (before / after calibration) vs measured end-to-end latency of ``genotypes``."""
    measured = all_end_to_end_ms(list(genotypes.values()), predictor.space, info, bench,
                                 "validating" if progress else None)
    rows = [{"name": name, "raw_ms": predictor.of_genotype(g, calibrated=False),
             "predicted_ms": predictor.of_genotype(g), "measured_ms": ms}
            for (name, g), ms in zip(genotypes.items(), measured)]
    stats = {}
    for key, label in (("raw_ms", "before"), ("predicted_ms", "after")):
        pred = [r[key] for r in rows]
        stats[label] = {"kendall_tau": float(kendalltau(pred, measured).statistic),
                        "spearman_rho": float(spearmanr(pred, measured).statistic),
                        "mape_percent": mape(pred, measured),
                        "max_error_percent": 100 * max(abs(p - m) / m for p, m in zip(pred, measured))}
    return {"rows": rows, "stats": stats}
