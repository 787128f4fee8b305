"""The picture of a cell genotype: both cells side by side as DARTS-style DAGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch
from matplotlib.transforms import Bbox

from ...canvas import PathLike, save_figure
from .genotype import CellGenotype, Genotype

# DARTS-like palette: inputs green, intermediate nodes blue, output yellow.
_FILL = {"input": "#b7e4a8", "node": "#a6cee3", "output": "#fce38a"}
_DX, _DY = 2.8, 1.5      # data units between depth layers / between nodes of one layer
_INCH = 0.85             # inches per data unit; equal in x and y so arc3 curves are computable
_RADS = (0.0, 0.18, -0.18, 0.32, -0.32, 0.5, -0.5)   # edge curvatures tried, straightest first
_TS = (0.62, 0.52, 0.72, 0.42, 0.8, 0.32)  # label spots along an edge: past the middle, so near its node


# ---------------------------------------------------------------------------------- genotype

def _state_name(s: int) -> str:
    return ("$c_{k-2}$", "$c_{k-1}$")[s] if s < 2 else str(s - 2)


def _layout(cell: CellGenotype) -> dict[int | str, tuple[float, float]]:
    """x by depth (longest path from the inputs), so every arrow points right; within a layer,
    nodes stand in the genotype's order from the top, so they read as the genotype lists them
    (ordering them by their inputs' heights saved a crossing at times and scrambled the labels)."""
    depth = [0, 0]
    for node in cell.nodes:
        depth.append(1 + max(depth[src] for _, src in node))
    pos: dict[int | str, tuple[float, float]] = {0: (0.0, 0.9), 1: (0.0, -0.9)}
    for d in range(1, max(depth) + 1):
        layer = [s for s in range(2, len(depth)) if depth[s] == d]
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


def plot_cells(genotype: Genotype, path: PathLike, title: str | None = None) -> Path:
    """Both cells side by side (normal left, reduce right) as DARTS-style DAGs; each op has one
    color in both cells so they can be compared at a glance."""
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
    return save_figure(fig, path, dpi=150)
