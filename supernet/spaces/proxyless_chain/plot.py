"""The picture of a chain genotype, drawn as ProxylessNAS draws its networks."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ...canvas import PathLike, save_figure
from ...ops import mbconv_params
from .genotype import ChainGenotype

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
    return save_figure(fig, path, dpi=150)
