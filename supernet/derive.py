"""Derive: turn a search's architecture state into a genotype and the pictures people look
at.  Works on a finished or an interrupted run: it only needs the last checkpoint."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from .benchmark_table import BenchmarkTable
from .config import search_config_from_dict
from .cost import genotype_cost
from .data import DataInfo
from .genotype_json import save_genotype
from .hardware.profile import DRIFT, NOISY
from .hardware.target import HardwareTarget, hardware_target
from .plots import plot_alpha_history, plot_genotype, plot_metrics
from .probe import ChildProbe, checkpoint_probe
from .run.checkpoint import load_checkpoint
from .spaces.base import SearchSpace
from .strategies import build_space_and_strategy, strategy_class


def ranked_derive(strategy, hw: HardwareTarget | None, k: int = 1, probe: ChildProbe | None = None):
    """The genotype derive returns (within the hardware target's constraint when it has one), or
    with a ``probe`` the best on the shared weights of the ``k`` most probable it may return (the
    more probable on a tie): alpha ranks the choices near its optimum worse than the supernet."""
    if probe is None or k == 1:
        return hw.derive(strategy) if hw else strategy.derive()
    found = hw.candidates(strategy, k) if hw else strategy.candidates(k)
    return strategy.space.genotype(max(found, key=probe.accuracy))


def derive_genotype(cfg, strategy, hw: HardwareTarget | None, measure: bool = True,
                    table: BenchmarkTable | None = None, probe: ChildProbe | None = None) -> tuple[Any, dict[str, Any]]:
    """The genotype (within the hardware target's constraint when it has one; with a ``probe``
    the best of trainer.derive_candidates on the shared weights) and what its
    file records: strategy, seed, with a benchmark ``table`` its published figures and
    percentiles and, under a hardware target, its table latency and (when ``measure``) its
    latency measured here under the table's conditions, or why a measurement here would not be
    comparable with the table's."""
    genotype = ranked_derive(strategy, hw, cfg.trainer.derive_candidates if probe else 1, probe)
    meta: dict[str, Any] = {"strategy": cfg.strategy.name, "seed": cfg.seed}
    if table:
        meta["benchmark"] = table.record(genotype)
    unread = strategy.space.unread_parts(genotype)
    if unread:
        meta["unread"] = unread
        for problem in unread:
            warnings.warn(f"the derived network: {problem}")
    if hw:
        meta.update(hardware=cfg.hardware.name, target_ms=hw.target_ms, table_latency_ms=hw.of_genotype(genotype))
        measured = hw.predictor.table.meta.get("measured_column")    # a table fitted from measurements
        if table and measured in table.columns:                      # ... whose file is the benchmark table
            meta["published_latency_ms"] = table[genotype][measured]
        why_not = measure and hw.meter.not_comparable(hw.predictor)
        if why_not:
            meta["measured_latency_skipped"] = why_not
            warnings.warn(f"no measured latency recorded: {why_not}")
        elif measure:
            ms, spread = hw.meter.measure(genotype)
            meta.update(measured_latency_ms=ms, measured_latency_spread=round(spread, 3))
            ratio = ms / meta["table_latency_ms"]
            if spread > NOISY:
                warnings.warn(f"the repeats of the measured latency spread by {100 * spread:.0f}%: this machine is "
                              "too busy to trust it (meta.measured_latency_spread)")
            elif abs(ratio - 1) > DRIFT:
                warnings.warn(f"measured {ms:.3f} ms here, {ratio:.2f}x the table's {meta['table_latency_ms']:.3f} ms: "
                              "the table's calibration misses this network on this machine; check it with "
                              "supernet-validate and refit it with supernet-profile recalibrate=true")
    return genotype, meta


def write_outputs(genotype, space: SearchSpace, history, metrics, out_dir: Path, **meta: Any) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta["cost"] = genotype_cost(genotype)  # params and multiply-adds in the setting papers report
    files = {"genotype": save_genotype(genotype, out_dir / "genotype.json", **meta),
             "cells": plot_genotype(genotype, out_dir / "cells.png")}
    if history:
        files["alphas"] = plot_alpha_history(history, space.decisions, out_dir / "alphas.png")
    if metrics:
        keys = [k for k in ("train_loss", "arch_loss", "train_acc", "val_acc_derived", "val_acc_sampled",
                            "alpha_entropy", "expected_latency_ms") if any(k in row for row in metrics)]
        files["curves"] = plot_metrics(metrics, out_dir / "curves.png", keys)
    return files


def derive_run(run: str | os.PathLike, out: str | os.PathLike | None = None,
               target_ms: float | None = None) -> tuple[Any, dict[str, Path]]:
    """Genotype of the run folder (or checkpoint file) ``run``, under the run's hardware target
    as the search derives it; outputs go to ``out``, else next to the checkpoint when the search
    wrote no genotype there (an interrupted run), else to ``<run>/derived`` (what a finished
    search wrote, with its shared-weight figures, is never replaced).  ``target_ms``: the most
    probable architecture within [latency.derive_floor * T, T], T = target_ms less the run's
    latency.derive_margin, on the run's table instead (one search, many targets; default
    ``out``: ``<run>/target_<T>ms``).  It reads the search's data only to rank candidates
    (trainer.derive_candidates > 1), so its genotype.json has no
    ``meta.shared_weights`` (the end of a search records them)."""
    run = Path(run)
    ckpt = run / "checkpoint.pt" if run.is_dir() else run
    state = load_checkpoint(ckpt, ("config", "strategy", "epoch", "info", "net"))
    cfg = search_config_from_dict(state["config"])
    if target_ms is not None:
        if not cfg.hardware.table:
            raise ValueError(f"{ckpt} was searched without a hardware table, so a latency target means nothing to "
                             "it: search with hardware=<target> (it may have latency.loss=none)")
        cfg.latency.target_ms, cfg.latency.constrained_derive = target_ms, True
        out = out or ckpt.parent / f"target_{target_ms:g}ms"
    if state["epoch"] <= cfg.trainer.warmup_epochs and strategy_class(cfg.strategy.name).trains_architecture:
        warnings.warn(f"{ckpt} stopped after epoch {state['epoch']}, within its {cfg.trainer.warmup_epochs} warm-up "
                      "epochs: alpha has not been trained, and this genotype is its initial (near uniform) choice")
    space, strategy = build_space_and_strategy(cfg)
    strategy.load_state_dict(state["strategy"])
    info = DataInfo(**state["info"])
    table = BenchmarkTable(cfg.benchmark.table, space) if cfg.benchmark.table else None
    hw = hardware_target(cfg, space, info, type(strategy))
    genotype, meta = derive_genotype(cfg, strategy, hw, table=table, probe=checkpoint_probe(state, cfg, space)
                                     if cfg.trainer.derive_candidates > 1 else None)
    if out is None:
        out = ckpt.parent / "derived" if (ckpt.parent / "genotype.json").exists() else ckpt.parent
    files = write_outputs(genotype, space, state.get("history", []), state.get("metrics", []), Path(out),
                          epochs=state["epoch"], **meta)
    return genotype, files
