"""Figures for search runs: genotype cells, alpha trajectories, metric curves, accuracy vs latency.

Every figure is a bare ``matplotlib.figure.Figure`` rendered by the Agg canvas: plotting works
headless, never touches pyplot's global state (no figure leaks when called every epoch) and does
not depend on which backend the caller selected.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from .atomic import write_atomic
from .spaces.proxyless_chain.genotype import ChainGenotype
from .genotype import CellGenotype, Genotype
from .ops import mbconv_params

PathLike = str | os.PathLike

# DARTS-like palette: inputs green, intermediate nodes blue, output yellow.
_FILL = {"input": "#b7e4a8", "node": "#a6cee3", "output": "#fce38a"}
_DX, _DY = 2.8, 1.5      # data units between depth layers / between nodes of one layer
_INCH = 0.85             # inches per data unit; equal in x and y so arc3 curves are computable
_RADS = (0.0, 0.18, -0.18, 0.32, -0.32, 0.5, -0.5)   # edge curvatures tried, straightest first
_TS = (0.62, 0.52, 0.72, 0.42, 0.8, 0.32)  # label spots along an edge: past the middle, so near its node


def _save(fig: Figure, path: PathLike, dpi: int = 120) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


# ---------------------------------------------------------------------------------- genotype

def _state_name(s: int) -> str:
    return ("$c_{k-2}$", "$c_{k-1}$")[s] if s < 2 else str(s - 2)


def _layout(cell: CellGenotype) -> dict[int | str, tuple[float, float]]:
    """x by depth (longest path from the inputs), so every arrow points right; within a layer,
    nodes are ordered by the mean height of their inputs, which avoids most crossings."""
    depth = [0, 0]
    for node in cell.nodes:
        depth.append(1 + max(depth[src] for _, src in node))
    pos: dict[int | str, tuple[float, float]] = {0: (0.0, 0.9), 1: (0.0, -0.9)}
    for d in range(1, max(depth) + 1):
        layer = [s for s in range(2, len(depth)) if depth[s] == d]
        layer.sort(key=lambda s: -np.mean([pos[src][1] for _, src in cell.nodes[s - 2]]))
        for j, s in enumerate(layer):
            pos[s] = (d * _DX, ((len(layer) - 1) / 2 - j) * _DY)
    pos["out"] = ((max(depth) + 1) * _DX, 0.0)
    return pos


def _bezier(p, q, rad: float, t: float) -> np.ndarray:
    """Point at ``t`` on matplotlib's arc3 curve from p to q (valid because the axes scale is equal)."""
    p, q = np.asarray(p), np.asarray(q)
    d = q - p
    c = (p + q) / 2 + rad * np.array([d[1], -d[0]])
    return (1 - t) ** 2 * p + 2 * (1 - t) * t * c + t ** 2 * q


def _route(p, q, obstacles: list[np.ndarray], used: set[float]) -> float:
    """Straightest curvature whose arc clears every node it does not connect and that no other
    edge between the same two states already uses (the two slots of a node may share an input)."""
    samples = np.linspace(0.08, 0.92, 25)
    for rad in _RADS:
        if rad in used:
            continue
        pts = np.array([_bezier(p, q, rad, t) for t in samples])
        if all(np.min(np.hypot(*(pts - o).T)) > 0.5 for o in obstacles):
            return rad
    return next(r for r in _RADS if r not in used)


def _draw_cell(ax, cell: CellGenotype, op_color: dict[str, str], renderer) -> None:
    pos = _layout(cell)
    patches = {}
    for key, (x, y) in pos.items():
        kind = "output" if key == "out" else "input" if key in (0, 1) else "node"
        w = 0.6 if kind == "node" else 1.0
        patches[key] = Ellipse((x, y), w, 0.6, facecolor=_FILL[kind], edgecolor="black", lw=1.2, zorder=3)
        ax.add_patch(patches[key])
        ax.text(x, y, "$c_{k}$" if key == "out" else _state_name(key), ha="center", va="center",
                fontsize=11, zorder=4)

    edges = [(src, 2 + i, op) for i, node in enumerate(cell.nodes) for op, src in node]
    edges += [(s, "out", None) for s in cell.concat]
    used: dict[tuple, set[float]] = {}
    routed = []
    for src, dst, op in edges:
        obstacles = [np.asarray(xy) for k, xy in pos.items() if k not in (src, dst)]
        rad = _route(pos[src], pos[dst], obstacles, used.setdefault((src, dst), set()))
        used[(src, dst)].add(rad)
        routed.append((src, dst, op, rad))
        color = op_color[op] if op else "0.55"
        ax.add_patch(FancyArrowPatch(pos[src], pos[dst], patchA=patches[src], patchB=patches[dst],
                                     connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                     mutation_scale=12, color=color, lw=1.3 if op else 1.0,
                                     ls="-" if op else "--", zorder=2))

    # Labels go last, greedily: each takes the spot along its arrow (middle first) that overlaps
    # the fewest already placed labels and nodes, measured in pixels with the real text extent.
    taken = [p.get_window_extent(renderer) for p in patches.values()]
    for src, dst, op, rad in routed:
        if op is None:
            continue
        text = ax.text(0, 0, op, ha="center", va="center", fontsize=8, color=op_color[op], zorder=5,
                       bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=op_color[op], lw=0.6, alpha=0.95))
        ext = text.get_window_extent(renderer).padded(4)

        def box_at(t):
            cx, cy = ax.transData.transform(_bezier(pos[src], pos[dst], rad, t))
            return Bbox.from_bounds(cx - ext.width / 2, cy - ext.height / 2, ext.width, ext.height)

        def overlap(b):
            return sum(max(0, min(b.x1, o.x1) - max(b.x0, o.x0)) * max(0, min(b.y1, o.y1) - max(b.y0, o.y0))
                       for o in taken)

        best = min(_TS, key=lambda t: overlap(box_at(t)))   # min keeps the earliest (most central) tie
        text.set_position(_bezier(pos[src], pos[dst], rad, best))
        taken.append(box_at(best))


_KERNEL_COLOR = {3: "#4c9be8", 5: "#f2a541", 7: "#e4572e"}


def plot_chain(genotype: ChainGenotype, path: PathLike, title: str | None = None) -> Path:
    """The chain left to right as ProxylessNAS draws its networks: one box per block, its color
    the kernel, its height the expansion; a skipped (`zero`) layer is a dashed outline; widths
    are written where they change and stride-2 blocks are marked."""
    n = len(genotype.blocks)
    fig = Figure(figsize=(max(6.0, 0.55 * (n + 4)), 2.9 + (0.3 if title else 0)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-1.2, n + 1.6)
    ax.set_ylim(-0.85, 1.55)
    ax.axis("off")
    ax.add_patch(Rectangle((-1.0, -0.3), 0.8, 0.6, color="#bbbbbb"))
    ax.text(-0.6, 0, "3x3\nconv", ha="center", va="center", fontsize=6)
    ax.text(-0.6, 1.2, str(genotype.first_conv), ha="center", fontsize=7)
    width = genotype.first_conv
    for i, b in enumerate(genotype.blocks):
        if b.op == "zero":
            ax.add_patch(Rectangle((i + 0.1, -0.25), 0.8, 0.5, fill=False, ls="--", lw=1, ec="#999999"))
            ax.text(i + 0.5, 0, "skip", ha="center", va="center", fontsize=6, color="#777777")
        else:
            k, e = mbconv_params(b.op)
            h = 0.35 + 0.13 * e
            ax.add_patch(Rectangle((i + 0.1, -h / 2), 0.8, h, color=_KERNEL_COLOR.get(k, "#9467bd")))
            ax.text(i + 0.5, 0, f"MB{e}\n{k}x{k}", ha="center", va="center", fontsize=6)
        if b.out != width:
            ax.text(i + 0.5, 1.2, str(b.out), ha="center", fontsize=7)
            width = b.out
        if b.stride == 2:
            ax.text(i + 0.5, -0.75, "/2", ha="center", fontsize=7, color="#444444")
    ax.add_patch(Rectangle((n + 0.2, -0.3), 1.2, 0.6, color="#bbbbbb"))
    ax.text(n + 0.8, 0, "1x1 conv\npool, fc", ha="center", va="center", fontsize=6)
    ax.text(n + 0.8, 1.2, str(genotype.feature_mix), ha="center", fontsize=7)
    ax.text(-1.0, 1.42, "width", fontsize=7, color="#444444")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in _KERNEL_COLOR.values()]
    ax.legend(handles, [f"{k}x{k}" for k in _KERNEL_COLOR], loc="lower right", ncols=3, fontsize=7, frameon=False,
              bbox_to_anchor=(1.0, -0.08), title="kernel (height: expansion)", title_fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path, dpi=150)


def plot_genotype(genotype: Genotype | ChainGenotype, path: PathLike, title: str | None = None) -> Path:
    """Both cells side by side (normal left, reduce right) as DARTS-style DAGs; each op has one
    color in both cells so they can be compared at a glance.  A chain is drawn by :func:`plot_chain`."""
    if isinstance(genotype, ChainGenotype):
        return plot_chain(genotype, path, title)
    cells = genotype.cells()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
               "#17becf", "#bcbd22", "#393b79", "#637939", "#843c39"]   # no gray: gray marks concat arrows
    op_color = {op: palette[i % len(palette)] for i, op in enumerate(sorted(genotype.ops()))}
    layouts = {name: _layout(c) for name, c in cells.items()}
    margin = 0.9
    widths = {n: max(x for x, _ in lay.values()) + 2 * margin for n, lay in layouts.items()}
    half_h = max(abs(y) for lay in layouts.values() for _, y in lay.values()) + margin
    gap, top, bottom = 0.4, 0.55 + (0.35 if title else 0), 0.15   # inches
    fig_w = _INCH * sum(widths.values()) + 3 * gap
    fig_h = _INCH * 2 * half_h + top + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    renderer = FigureCanvasAgg(fig).get_renderer()
    left = gap
    for name, cell in cells.items():
        w = _INCH * widths[name]
        ax = fig.add_axes((left / fig_w, bottom / fig_h, w / fig_w, 2 * half_h * _INCH / fig_h))
        ax.set_xlim(-margin, widths[name] - margin)
        ax.set_ylim(-half_h, half_h)
        ax.axis("off")
        ax.set_title(f"{name} cell", fontsize=12)
        _draw_cell(ax, cell, op_color, renderer)
        left += w + gap
    if title:
        fig.suptitle(title, fontsize=13, y=1 - 0.12 / fig_h, va="top")
    return _save(fig, path, dpi=150)


# ----------------------------------------------------------------------------- alpha history

_DECISION = re.compile(r"^(normal|reduce)_n(\d+)_s(\d+)_(op|input)$")


def plot_alpha_history(history: list[dict[str, list[float]]], candidates: dict[str, list[str]],
                       path: PathLike, title: str | None = None) -> Path:
    """Grid of probability trajectories: rows (cell, kind), columns (node, slot), so one row reads
    as "how each edge's choice of op (or input) converged".  A decision missing from some epochs
    (e.g. added on resume) is drawn as a gap; a probability vector whose length disagrees with its
    candidates, or a decision without candidates, is a ValueError since the plot would lie."""
    if not history:
        raise ValueError("plot_alpha_history: empty history")
    names = list(dict.fromkeys(n for epoch in history for n in epoch))
    for name in names:
        if name not in candidates:
            raise ValueError(f"plot_alpha_history: decision {name!r} has no entry in candidates")
    series = {n: np.full((len(history), len(candidates[n])), np.nan) for n in names}
    for e, epoch in enumerate(history):
        for n, probs in epoch.items():
            probs = np.asarray(probs, dtype=float).ravel()
            if probs.shape[0] != len(candidates[n]):
                raise ValueError(f"plot_alpha_history: epoch {e}, {n!r} has {probs.shape[0]} probabilities "
                                 f"but {len(candidates[n])} candidates {candidates[n]}")
            series[n][e] = probs

    rows: dict[str, dict[str, str]] = {}   # row label -> column label -> decision name
    parsed = {n: m.groups() for n in names if (m := _DECISION.match(n))}
    for cell in ("normal", "reduce"):
        for kind in ("op", "input"):
            cols = sorted(((int(g[1]), int(g[2])), n) for n, g in parsed.items() if (g[0], g[3]) == (cell, kind))
            if cols:
                rows[f"{cell} {kind}"] = {f"node {i} slot {s}": n for (i, s), n in cols}
    others = [n for n in names if n not in parsed]   # a chain's layers: rows of at most 6
    for start in range(0, len(others), 6):
        rows[f"decisions {start + 1}-{min(start + 6, len(others))}"] = {n: n for n in others[start:start + 6]}

    ncols = max(len(c) for c in rows.values())
    fig = Figure(figsize=(2.3 * ncols + 1.8, 1.9 * len(rows) + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    epochs = np.arange(len(history))
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
            ax.set_xlim(-0.5, len(history) - 0.5)   # same span everywhere, even for one epoch or gaps
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
    return _save(fig, path)


# ---------------------------------------------------------------------------- metric curves

def plot_metrics(rows: list[dict[str, float]], path: PathLike, keys: list[str]) -> Path:
    """One stacked subplot per requested key that appears in ``rows``; x is each row's ``epoch``
    when given, else its index.  Missing values are gaps, not zeros."""
    present = [k for k in keys if any(k in row for row in rows)]
    fig = Figure(figsize=(6.5, 2.2 * max(1, len(present))), layout="constrained")
    if not present:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"no data for {', '.join(keys) or 'any key'}", ha="center", va="center")
        ax.axis("off")
        return _save(fig, path)
    x = [row.get("epoch", i) for i, row in enumerate(rows)]
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, present):
        ax.plot(x, [row.get(key, np.nan) for row in rows], marker="o" if len(rows) <= 20 else None, ms=3)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("epoch")
    return _save(fig, path)


# ----------------------------------------------------------------------- accuracy vs latency

def plot_accuracy_latency(points: list[dict], path: PathLike, front: Sequence[int] | None = None) -> Path:
    """Accuracy (y) against latency (x), one color per ``group``; the ``front`` indices (a Pareto
    front) are ringed and joined by a step line, since accuracy only changes at front members."""
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    groups = list(dict.fromkeys(p.get("group") for p in points))
    for i, group in enumerate(groups):
        members = [p for p in points if p.get("group") == group]
        ax.scatter([p["latency_ms"] for p in members], [p["accuracy"] for p in members], s=28,
                   color=f"C{i % 10}", alpha=0.8, label=None if group is None else str(group), zorder=2)
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
    ax.grid(alpha=0.3)
    if any(g is not None for g in groups) or front:
        ax.legend(fontsize=8)
    return _save(fig, path)


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
    return _save(fig, path)
