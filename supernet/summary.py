"""Collect a multirun's run folders into one table (CSV + Markdown) and one accuracy-latency
picture with the Pareto front per hardware target.

Reads only the files the runs wrote (never re-runs anything).  Failed and unfinished runs are
listed with their status, never dropped.  Hydra stops reporting a sweep at its first failed job,
so :class:`RunStatusCallback` records every job's outcome in its folder as ``status.json``.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from .console import AppError
from .files import RecordWriteError, write_text_atomic
from .hardware.target import run_target
from .pareto import pareto_front
from .plots import plot_accuracy_latency
from .run import CONFIG_FILE, STARTED
from .run.metrics import write_csv

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
COLUMNS = ["run", "status", "hardware", "target_ms", "strategy", "seed", "table_latency_ms",
           "measured_latency_ms", "val_acc", "params_M", "madds_M", "search_s", "error"]


def _get(d: Any, dotted: str, default=None):
    for key in dotted.split("."):
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def summarize_run(run: Path, root: Path) -> dict[str, Any]:
    """One row of the summary for the run folder ``run``."""
    config = next((p for p in (run / CONFIG_FILE, run / ".hydra" / "config.yaml") if p.exists()), None)
    cfg = (yaml.safe_load(config.read_text()) or {}) if config else {}     # none: the job failed before it ran
    metrics = _read_metrics(run / "metrics.csv")
    genotype_path = run / "genotype.json"
    meta = json.loads(genotype_path.read_text()).get("meta", {}) if genotype_path.exists() else {}
    recorded = json.loads((run / STATUS_FILE).read_text()) if (run / STATUS_FILE).exists() else {}
    epochs = _get(cfg, "trainer.epochs")
    if recorded.get("status") == "failed":
        status = "failed"
    elif genotype_path.exists() and (recorded.get("status") == "completed" or epochs is None or len(metrics) >= epochs):
        status = "finished"     # completed: hydra saw the job return (also when it stopped early)
    else:
        status = "unfinished"
    cost = meta.get("cost", {})
    last = metrics[-1] if metrics else {}
    return {
        "run": str(run.relative_to(root)),
        "status": status,
        "hardware": _get(cfg, "hardware.name", "none"),
        "target_ms": meta.get("target_ms", run_target(_get(cfg, "latency.target_ms"), _get(cfg, "hardware.target_ms"))),
        "strategy": _get(cfg, "strategy.name"),
        "seed": cfg.get("seed"),
        "table_latency_ms": meta.get("table_latency_ms"),
        "measured_latency_ms": meta.get("measured_latency_ms"),
        "val_acc": _num(last.get("val_acc_derived")),
        "params_M": cost["params"] / 1e6 if "params" in cost else None,
        "madds_M": cost["multiply_adds"] / 1e6 if "multiply_adds" in cost else None,
        "search_s": sum(_num(r.get("seconds")) or 0.0 for r in metrics) or None,
        "error": recorded.get("error", ""),
    }


def collect_runs(sweep_dir: str | os.PathLike) -> list[dict[str, Any]]:
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such multirun folder (hydra writes them under multirun/)")
    # a run folder holds config.yaml or, written by hydra itself, .hydra/config.yaml (a run made
    # outside the apps' job logging)
    records = [*root.rglob(CONFIG_FILE), *root.rglob(STATUS_FILE)]
    runs = sorted({p.parent.parent if p.parent.name == ".hydra" else p.parent for p in records} - {root})
    if not runs:
        raise FileNotFoundError(f"{root}: holds no run folders (none has {CONFIG_FILE} or {STATUS_FILE})")
    return [_summarize_or_broken(run, root) for run in runs]


def _summarize_or_broken(run: Path, root: Path) -> dict[str, Any]:
    """A run whose records cannot be read (a file cut short by a full disk, say) is listed as
    broken with the reason, and the summary goes on."""
    try:
        return summarize_run(run, root)
    except (OSError, ValueError, yaml.YAMLError) as e:     # JSONDecodeError is a ValueError
        return {**dict.fromkeys(COLUMNS), "run": str(run.relative_to(root)), "status": "broken",
                "error": f"unreadable record: {type(e).__name__}: {e}"}


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cell(v) -> str:
    """A markdown table cell: one line, no column bar (a multi-line error would break the row)."""
    return " ".join(_fmt(v).replace("|", "/").split())


def write_summary(rows: list[dict[str, Any]], out_dir: str | os.PathLike) -> dict[str, Path]:
    """summary.csv, summary.md and accuracy_latency.png (front per hardware target)."""
    out_dir = Path(out_dir)
    files = {"csv": write_csv([{k: _fmt(row[k]) for k in COLUMNS} for row in rows], out_dir / "summary.csv", COLUMNS)}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[k]) for k in COLUMNS) + " |" for row in rows]
    files["markdown"] = write_text_atomic(out_dir / "summary.md", "\n".join(lines) + "\n")
    points = [{"latency_ms": r["table_latency_ms"], "accuracy": r["val_acc"], "group": r["hardware"],
               "label": r["run"]} for r in rows
              if r["status"] == "finished" and r["table_latency_ms"] is not None and r["val_acc"] is not None]
    if points:
        front = []
        for group in sorted({p["group"] for p in points}):
            idx = [i for i, p in enumerate(points) if p["group"] == group]
            front += [idx[j] for j in pareto_front([points[i]["latency_ms"] for i in idx],
                                                   [points[i]["accuracy"] for i in idx])]
        files["plot"] = plot_accuracy_latency(points, out_dir / "accuracy_latency.png", front)
    else:
        log.info("no accuracy-latency picture: no finished run has a table latency (sweep with hardware=<target> "
                 "for one)")
    return files


def summarize(sweep_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    rows = collect_runs(sweep_dir)
    return rows, write_summary(rows, sweep_dir)


class RunStatusCallback(Callback):
    """Writes ``status.json`` (completed / failed with the error) into every job's folder, except
    for a job that failed before its run started there (a refusal, a bad setting, data or a table
    that cannot be read): the folder is another run's, whose record stays as it was, or nothing,
    unless it is a fresh folder of a sweep, whose summary lists the job as failed."""

    def on_job_end(self, config, job_return, **kwargs) -> None:
        out = Path(job_return.hydra_cfg.hydra.runtime.output_dir)
        status = {"status": job_return.status.name.lower()}
        sweep_job = job_return.hydra_cfg.hydra.mode == RunMode.MULTIRUN and not (out / CONFIG_FILE).exists()
        if status["status"] == "failed" and out.resolve() not in STARTED and not sweep_job:
            if out.is_dir() and not any(out.iterdir()):      # hydra made it for a run that never started
                out.rmdir()
            return
        if status["status"] == "failed":
            error = job_return._return_value
            status["error"] = str(error) if isinstance(error, AppError) else f"{type(error).__name__}: {error}"
        record_status(out / STATUS_FILE, status)


def record_status(path: Path, status: dict[str, str]) -> None:
    """Write ``status`` to ``path``.  On a full disk the previous record would stay and lie (a
    resumed run that failed, listed as completed): it goes, freeing its block for the new one;
    when even that cannot be written the folder has none, and summarize judges it by its files."""
    for _ in range(2):
        try:
            write_text_atomic(path, json.dumps(status) + "\n")
            return
        except RecordWriteError as err:
            with contextlib.suppress(OSError):      # a folder that became read-only: the failure below says so
                path.unlink(missing_ok=True)
            failure = err
    log.warning(f"{failure}; the run folder has no {STATUS_FILE}, so summarize judges the run by its files")


class SummaryCallback(Callback):
    """At the end of a multirun whose jobs all succeeded, summarize it in its sweep folder."""

    def on_multirun_end(self, config, **kwargs) -> None:
        rows, files = summarize(config.hydra.sweep.dir)
        log.info(f"summary of {len(rows)} runs: " + ", ".join(str(p) for p in files.values()))
