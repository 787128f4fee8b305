"""Figures for search runs: genotype cells, alpha trajectories, metric curves, accuracy vs latency.

Every figure is a bare ``matplotlib.figure.Figure`` rendered by the Agg canvas: plotting works
headless, never touches pyplot's global state (no figure leaks when called every epoch) and does
not depend on which backend the caller selected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .canvas import PathLike, save_figure
from .spaces.base import Decision, family_of


def plot_genotype(genotype, path: PathLike, title: str | None = None) -> Path:
    """The picture of a genotype of any registered family (cells as DARTS-style DAGs, a chain
    as ProxylessNAS draws its networks)."""
    return family_of(genotype).plot_genotype(genotype, path, title)


# ----------------------------------------------------------------------------- alpha history

_ROW = 8   # decisions per row of the grid


def plot_alpha_history(history: list[dict[str, list[float]]], decisions: Sequence[Decision],
                       path: PathLike, title: str | None = None) -> Path:
    """Grid of probability trajectories: one row per (group, kind) of decisions (a cell's ops, a
    cell's inputs; a chain's layers, in rows of at most 8), so one row reads as "how each edge's
    choice of op (or input) converged".  A decision missing from some epochs (e.g. added on
    resume) is drawn as a gap; a probability vector whose length disagrees with its candidates,
    or a decision the space does not have, is a ValueError since the plot would lie."""
    if not history:
        raise ValueError("plot_alpha_history: empty history")
    candidates = {d.name: list(d.candidates) for d in decisions}
    names = list(dict.fromkeys(n for epoch in history for n in epoch))
    for name in names:
        if name not in candidates:
            raise ValueError(f"plot_alpha_history: decision {name!r} is not one of the space's decisions")
    series = {n: np.full((len(history), len(candidates[n])), np.nan) for n in names}
    for e, epoch in enumerate(history):
        for n, probs in epoch.items():
            probs = np.asarray(probs, dtype=float).ravel()
            if probs.shape[0] != len(candidates[n]):
                raise ValueError(f"plot_alpha_history: epoch {e}, {n!r} has {probs.shape[0]} probabilities "
                                 f"but {len(candidates[n])} candidates {candidates[n]}")
            series[n][e] = probs

    rows: dict[str, dict[str, str]] = {}   # row label -> column label -> decision name
    groups: dict[tuple[str, str], list[Decision]] = {}
    for d in decisions:
        if d.name in names:
            groups.setdefault((d.group, d.kind), []).append(d)
    for (group, kind), ds in groups.items():
        for start in range(0, len(ds), _ROW):
            part = ds[start:start + _ROW]
            label = f"{group} {kind}" if len(ds) <= _ROW else f"{group} {start + 1}-{start + len(part)}"
            rows[label] = {d.label or d.name: d.name for d in part}

    ncols = max(len(c) for c in rows.values())
    fig = Figure(figsize=(2.3 * ncols + 1.8, 1.9 * len(rows) + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    epochs = np.arange(1, len(history) + 1)      # epochs count from 1, as in metrics.csv and curves.png
    marker = "o" if len(history) <= 12 else None
    for r, (row, cols) in enumerate(rows.items()):
        row_cands = list(dict.fromkeys(c for n in cols.values() for c in candidates[n]))
        colors = {c: f"C{i % 10}" for i, c in enumerate(row_cands)}
        styles = {c: "-" if i < 10 else "--" for i, c in enumerate(row_cands)}   # >10 candidates: dashed
        for c, (col, name) in enumerate(cols.items()):
            ax = axes[r, c]
            for k, cand in enumerate(candidates[name]):
                ax.plot(epochs, series[name][:, k], color=colors[cand], ls=styles[cand], marker=marker,
                        ms=3, lw=1.2)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlim(0.5, len(history) + 0.5)   # same span everywhere, even for one epoch or gaps
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=1))
            ax.set_title(col, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in axes[r, len(cols):]:
            ax.axis("off")
        axes[r, 0].set_ylabel(f"{row}\nprobability", fontsize=8)
        handles = [Line2D([], [], color=colors[c], ls=styles[c], lw=1.5) for c in row_cands]
        # Always in the last column, even for a short row, so constrained layout keeps columns equal.
        axes[r, -1].legend(handles, row_cands, loc="center left", bbox_to_anchor=(1.02, 0.5),
                           fontsize=7, frameon=False)
    for c in range(ncols):   # label the lowest used subplot of each column (rows can be short)
        lowest = max(i for i, cols in enumerate(rows.values()) if c < len(cols))
        axes[lowest, c].set_xlabel("epoch", fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------- metric curves

def plot_metrics(rows: list[dict[str, float]], path: PathLike, keys: list[str]) -> Path:
    """One stacked subplot per requested key that appears in ``rows``; x is each row's ``epoch``
    when given, else its index.  A line joins the rows that hold a value (a key measured every
    few epochs, nan or absent in between), never a zero."""
    present = [k for k in keys if any(k in row for row in rows)]
    fig = Figure(figsize=(6.5, 2.2 * max(1, len(present))), layout="constrained")
    if not present:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"no data for {', '.join(keys) or 'any key'}", ha="center", va="center")
        ax.axis("off")
        return save_figure(fig, path)
    x = [row.get("epoch", i) for i, row in enumerate(rows)]
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, present):
        xy = [(xi, row[key]) for xi, row in zip(x, rows) if key in row and np.isfinite(row[key])]
        ax.plot(*zip(*xy) if xy else ([], []), marker="o" if len(xy) <= 20 else None, ms=3)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))      # no fractional epochs
    return save_figure(fig, path)


# ----------------------------------------------------------------------- accuracy vs latency

def plot_accuracy_latency(points: list[dict], path: PathLike, front: Sequence[int] | None = None,
                          curves: bool = False) -> Path:
    """Accuracy (y) against latency (x), one color per ``group`` (``curves``: each group's points
    joined in latency order, a trade-off curve); the ``front`` indices (a Pareto front) are
    ringed and joined by a step line, since accuracy only changes at front members."""
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    groups = list(dict.fromkeys(p.get("group") for p in points))
    for i, group in enumerate(groups):
        members = [p for p in points if p.get("group") == group]
        ax.scatter([p["latency_ms"] for p in members], [p["accuracy"] for p in members], s=28,
                   color=f"C{i % 10}", alpha=0.8, label=None if group is None else str(group), zorder=2)
        if curves:
            members = sorted(members, key=lambda p: p["latency_ms"])
            ax.plot([p["latency_ms"] for p in members], [p["accuracy"] for p in members], color=f"C{i % 10}",
                    lw=1.2, alpha=0.8, zorder=1)
    for p in points:
        if p.get("label"):
            ax.annotate(str(p["label"]), (p["latency_ms"], p["accuracy"]), xytext=(4, 4),
                        textcoords="offset points", fontsize=7)
    if front:
        best = sorted((points[i] for i in front), key=lambda p: p["latency_ms"])
        xs, ys = [p["latency_ms"] for p in best], [p["accuracy"] for p in best]
        ax.step(xs, ys, where="post", color="black", lw=1.2, zorder=1, label="Pareto front")
        ax.scatter(xs, ys, s=80, facecolors="none", edgecolors="black", lw=1.5, zorder=3)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy")
    ax.margins(x=0.15, y=0.08)       # room for the labels of the rightmost and topmost points
    ax.grid(alpha=0.3)
    if any(g is not None for g in groups) or front:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_latency_validation(rows: list[dict], path: PathLike, title: str | None = None) -> Path:
    """Predicted (table, before and after calibration) vs measured end-to-end latency; the
    diagonal is a perfect table."""
    fig = Figure(figsize=(5.5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    measured = [r["measured_ms"] for r in rows]
    ax.scatter(measured, [r["raw_ms"] for r in rows], s=16, alpha=0.6, label="sum of table entries")
    ax.scatter(measured, [r["predicted_ms"] for r in rows], s=16, alpha=0.8, label="calibrated")
    lo = min(min(measured), *(r["raw_ms"] for r in rows)) * 0.95
    hi = max(max(measured), *(r["predicted_ms"] for r in rows)) * 1.05
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("measured end-to-end latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title or "latency table vs measurement")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
