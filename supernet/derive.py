"""Derive: turn a search's architecture state into a genotype and the pictures people look
at.  Works on a finished or an interrupted run: it only needs the last checkpoint."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .checkpoint import load_checkpoint
from .flops import genotype_cost
from .genotype import Genotype, save_genotype
from .plots import plot_alpha_history, plot_genotype, plot_metrics
from .space import CellSpace


def write_outputs(genotype: Genotype, space: CellSpace, history, metrics, out_dir: Path,
                  **meta: Any) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta["cifar_setting"] = genotype_cost(genotype)  # params and multiply-adds at 36 ch / 20 cells, 32x32
    files = {"genotype": save_genotype(genotype, out_dir / "genotype.json", **meta),
             "cells": plot_genotype(genotype, out_dir / "cells.png")}
    if history:
        candidates = {d.name: list(d.candidates) for d in space.decisions}
        files["alphas"] = plot_alpha_history(history, candidates, out_dir / "alphas.png")
    if metrics:
        keys = [k for k in ("train_loss", "arch_loss", "train_acc", "val_acc_derived", "alpha_entropy")
                if any(k in row for row in metrics)]
        files["curves"] = plot_metrics(metrics, out_dir / "curves.png", keys)
    return files


def derive_run(run: str | os.PathLike, out: str | os.PathLike | None = None) -> tuple[Genotype, dict[str, Path]]:
    """Genotype of the run folder (or checkpoint file) ``run``; outputs go next to it or to ``out``."""
    from .search import build_space_and_strategy, config_from_dict

    run = Path(run)
    ckpt = run / "checkpoint.pt" if run.is_dir() else run
    state = load_checkpoint(ckpt, ("config", "strategy", "epoch"))
    cfg = config_from_dict(state["config"])
    space, strategy = build_space_and_strategy(cfg)
    strategy.load_state_dict(state["strategy"])
    genotype = strategy.derive()
    files = write_outputs(genotype, space, state.get("history", []), state.get("metrics", []),
                          Path(out) if out else ckpt.parent,
                          strategy=cfg.strategy.name, epochs=state["epoch"], seed=cfg.seed)
    return genotype, files
