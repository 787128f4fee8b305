"""Measuring a device: every op signature of a space (incrementally, saved after each entry so
an interrupted run keeps what it measured), end-to-end runs of discrete children for the
calibration, and the validation of the table against end-to-end runs."""
from __future__ import annotations

import datetime
import json
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from scipy.stats import kendalltau, spearmanr
from tqdm.auto import tqdm

from ..atomic import write_text_atomic
from ..data import build_dataset
from ..genotypes import resolve_genotype
from ..measure import ROUNDS, interleaved_times, torch_threads
from ..plots import plot_latency_validation
from ..spaces import build_space
from ..spaces.base import SearchSpace, uniform_choice
from ..stats import mape
from .constraint import constrained_choice, latency_bounds
from .model import LatencyModel
from .predict import LatencyPredictor, fit_calibration
from .table import LatencyTable, TableError, add_session, load_table, measurement_meta, table_path

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
        """The least disturbed of three medians (measure.robust_time), in milliseconds."""
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


def measure_entries(model: LatencyModel, table: LatencyTable, bench: Bench, progress: bool = True) -> int:
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


def table_drift(model: LatencyModel, table: LatencyTable, bench: Bench, k: int = 5) -> float:
    """How many times as long this machine takes now for the table's ``k`` dearest entries of
    ``model`` (median ratio, re-timed with ``bench``) as when the table was measured.  Device and
    processor names say which kind of machine; this says whether it runs as the table's did (another
    host of the same name, a busy machine, another torch build all show here)."""
    dearest = sorted(dict.fromkeys(model.signatures), key=table.__getitem__, reverse=True)[:k]
    now = bench.times_ms([(model.builders[s][0](), model.builders[s][1]) for s in dearest])
    return statistics.median(ms / table[s] for ms, s in zip(now, dearest))


def random_genotypes(space: SearchSpace, k: int, seed: int) -> list:
    """Uniformly random discrete children (no `none`: a deployed network has none)."""
    g = torch.Generator().manual_seed(seed)
    return [space.genotype(uniform_choice(space, g, allow_none=False)) for _ in range(k)]


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


def _setup(cfg):
    """The model, bench and space of a profile/validate config (shapes come from the data set)."""
    hw = cfg.hardware
    if not hw.table:
        raise ValueError(f"hardware {hw.name!r} has no table path: choose a target with one "
                         "(hardware=cpu_2core) or set hardware.table=latency_tables/<name>.yaml")
    try:
        torch.device(hw.device)
    except RuntimeError:
        raise ValueError(f"hardware {hw.name!r} measures on {hw.device!r}, which is not a torch device on this "
                         "machine: its table is imported (supernet-import-latency), not measured here") from None
    _, info = build_dataset(cfg.data, train=True, augment=False)
    bench = Bench(hw.device, hw.dtype, hw.batch_size, cfg.warmup, cfg.repeat, hw.threads or torch.get_num_threads())
    space = build_space(cfg.space)
    return space.latency_model(info), bench, space, info


def run_profile(cfg) -> tuple[LatencyTable, int]:
    """Measure what the table of ``cfg.hardware`` lacks for ``cfg.space``, then (re)fit the
    calibration of this space configuration on uniform children and as many spanning its
    latency range when anything was added, it has none, or ``cfg.recalibrate``.  Returns the
    table and how many entries were measured."""
    model, bench, space, info = _setup(cfg)
    hw = cfg.hardware
    meta = measurement_meta(hw.device, bench.threads, hw.batch_size, hw.dtype, cfg.warmup, cfg.repeat)
    if table_path(hw.table).exists():
        table = load_table(hw.table, hw.name, hw.batch_size, hw.dtype)
        if (table.meta["device"], table.meta["threads"]) != (meta["device"], meta["threads"]):
            raise TableError(f"{hw.table} was measured on {table.meta['device']} with {table.meta['threads']} "
                             f"threads, this run uses {meta['device']} with {meta['threads']}: measure into "
                             "another table (hardware.table=...)")
        if table.missing(model.signatures):
            add_session(table.meta, meta)
    else:
        table = LatencyTable(meta, path=hw.table, hardware=hw.name)
    added = measure_entries(model, table, bench, cfg.progress)
    if added or model.key not in table.calibration or cfg.recalibrate:
        predictor = LatencyPredictor(space, model, table)
        half = cfg.calibration_children // 2
        calibrate(predictor, random_genotypes(space, half, cfg.seed)
                  + spanning_genotypes(predictor, cfg.calibration_children - half, cfg.seed), info, bench, cfg.progress)
    return table, added


def run_validation(cfg, out_dir) -> dict:
    """K random children, children spanning the latency range (where derives for other targets
    land) and any named genotypes: predicted vs measured under the table's own conditions, with
    a picture.  A validation on a quiet machine is recorded in the table
    (``meta.validation[<network configuration>]``): how the table was checked travels with it."""
    model, bench, space, info = _setup(cfg)
    hw = cfg.hardware
    table = load_table(hw.table, hw.name, hw.batch_size, hw.dtype, hw.allow_mismatch)
    bench.threads = table.meta["threads"]
    predictor = LatencyPredictor(space, model, table)
    genotypes = {f"random{i}": g for i, g in enumerate(random_genotypes(space, cfg.children, cfg.seed))}
    genotypes.update((f"spanning{i}", g) for i, g in enumerate(spanning_genotypes(predictor, cfg.span_children,
                                                                                    cfg.seed)))
    for spec in cfg.genotypes:
        genotype = resolve_genotype(spec)
        try:
            space.choice_of(genotype)
        except ValueError as e:
            raise ValueError(f"genotype {spec!r} is not an architecture of the configured space ({e}); "
                             "choose the space it belongs to (space=..., space.nodes=..., space.ops=[...])") from None
        genotypes[str(spec)] = genotype
    result = validate(predictor, genotypes, info, bench, cfg.progress)
    result["spread_percent"] = round(100 * statistics.median(bench.spreads), 1)
    if result["spread_percent"] > 100 * NOISY:
        log.warning(f"the repeats of a measurement spread by {result['spread_percent']:.0f}% (median): this "
                    "machine is too busy for this validation to say anything about the table (not recorded in "
                    "it); run it on a quiet machine")
    elif "imported" not in table.meta:
        after = result["stats"]["after"]
        table.meta.setdefault("validation", {})[model.key] = {
            "date": datetime.date.today().isoformat(), "children": len(genotypes), "spanning": cfg.span_children,
            "mape_percent": round(after["mape_percent"], 1), "max_error_percent": round(after["max_error_percent"], 1),
            "kendall_tau": round(after["kendall_tau"], 3),
            "spread_percent": result["spread_percent"], "seed": cfg.seed}
        table.save()
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "latency_validation.json", json.dumps(result, indent=2) + "\n")
    result["plot"] = plot_latency_validation(result["rows"], out_dir / "latency_validation.png",
                                             f"{hw.name}: {len(genotypes)} children")
    return result
