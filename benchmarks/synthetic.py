"""Synthetic tasks whose best architecture is known, for tests and benchmarks of search
strategies.

``planted_task``: class-dependent mean images (:func:`blobs`) and an op set where every op but
``skip_connect`` destroys its input (``noise_a``, ``noise_b``: noise of the output's shape).
The planted teacher is the cell that keeps the signal on every slot (``skip_connect``
everywhere), so how many of its op decisions a derived genotype recovers measures the search.
Input decisions are not scored: every state carries the image, so no data can tell them apart.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from torch.utils.data import TensorDataset

from supernet.data import DataInfo
from supernet.ops import OPS, register_op
from supernet.spaces.nasnet_cell.genotype import Genotype
from supernet.spaces.nasnet_cell.space import CellSpace

NOISE_OPS = ("noise_a", "noise_b")
PLANTED_OPS = ["noise_a", "skip_connect", "noise_b"]


class Noise(nn.Module):
    """An op that destroys its input: standard normal noise of the output's shape."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return torch.randn_like(x[:, :, ::self.stride, ::self.stride])


@contextmanager
def noise_ops() -> Iterator[None]:
    """The noise ops in the op registry while the block runs (they are not registered by
    default, and leave no trace in it after)."""
    added = [name for name in NOISE_OPS if name not in OPS]
    for name in added:
        register_op(name)(lambda C_in, C_out, stride, affine: Noise(stride))
    try:
        yield
    finally:
        for name in added:
            OPS.pop(name, None)


def blobs(n=96, size=8, classes=3, seed=0) -> TensorDataset:
    """Class-dependent mean images (the same for every seed) plus noise (seeded)."""
    means = torch.randn(classes, 1, size, size, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = means[y] + 0.5 * torch.randn(n, 1, size, size, generator=g)
    return TensorDataset(x, y)


def planted_task(nodes: int = 2, n_train: int = 192, n_val: int = 192):
    """(ops, (train, val, info), teacher genotype) of the planted task; build and search it
    inside ``with noise_ops():``."""
    space = CellSpace(nodes, PLANTED_OPS)
    skip = PLANTED_OPS.index("skip_connect")
    teacher = space.genotype({d.name: skip if d.kind == "op" else d.node % 2 for d in space.decisions})
    return list(PLANTED_OPS), (blobs(n_train, seed=0), blobs(n_val, seed=1), DataInfo(1, 3, 8)), teacher


def recovered_fraction(genotype: Genotype, teacher: Genotype) -> float:
    """Fraction of the teacher's op decisions (every slot of both cells) the genotype makes too."""
    pairs = [(a[0], b[0]) for name, cell in teacher.cells().items()
             for node_t, node_g in zip(cell.nodes, genotype.cells()[name].nodes)
             for a, b in zip(node_t, node_g)]
    return sum(a == b for a, b in pairs) / len(pairs)
