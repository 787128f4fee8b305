"""The picture of a NAS-Bench-201 cell: its four nodes in a row and the six edges as arcs, each
labelled and coloured by its op; a `none` edge is a faint dashed arc, an edge off every path
from input to output is drawn faint."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from ...canvas import PathLike, save_figure
from .genotype import EDGES, NODES, NB201Genotype

_COLOR = {"skip_connect": "#777777", "nor_conv_1x1": "#4c9be8", "nor_conv_3x3": "#e4572e",
          "avg_pool_3x3": "#59a14f", "none": "#cccccc"}
_LABEL = {"skip_connect": "skip", "nor_conv_1x1": "conv 1x1", "nor_conv_3x3": "conv 3x3",
          "avg_pool_3x3": "avg pool", "none": "none"}


def plot_nb201(genotype: NB201Genotype, path: PathLike, title: str | None = None) -> Path:
    fig = Figure(figsize=(7.0, 3.2 + (0.3 if title else 0)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.5, 3 * (NODES - 1) + 0.5)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")
    live = genotype.live_edges()
    for e, ((j, i), op) in enumerate(zip(EDGES, genotype.edge_ops)):
        bend = 0.0 if j - i == 1 else (0.45 if (j - i) == 2 else -0.35) * (1 if i % 2 == 0 else -1)
        faint = op == "none" or not live[e]
        arrow = FancyArrowPatch((3 * i, 0), (3 * j, 0), connectionstyle=f"arc3,rad={bend}", arrowstyle="-|>",
                                mutation_scale=12, lw=2.2, color=_COLOR.get(op, "#9467bd"), alpha=0.35 if faint else 1,
                                ls="--" if op == "none" else "-", shrinkA=14, shrinkB=14)
        ax.add_patch(arrow)
        y = -bend * 3 * (j - i) / 2
        ax.text(1.5 * (i + j), y, _LABEL.get(op, op), ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
    for n in range(NODES):
        ax.add_patch(Circle((3 * n, 0), 0.42, color="#f2f2f2", ec="#444444", zorder=3))
        ax.text(3 * n, 0, "in" if n == 0 else ("out" if n == NODES - 1 else str(n)), ha="center", va="center",
                fontsize=9, zorder=4)
    ax.set_title(title or genotype.arch, fontsize=8 if title is None else 10)
    return save_figure(fig, path, dpi=150)
