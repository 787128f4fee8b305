"""timm's model interface for the networks of cells a genotype builds (the cell family's and
NAS-Bench-201's), so that a derived network behaves as timm's own models do: a head of global
pooling, dropout and a linear classifier that ``reset_classifier`` replaces (0 classes: the
pooled features; ``global_pool=''``: the feature map), ``forward_features`` / ``forward_head``,
``forward_intermediates`` and ``feature_info`` (``features_only=True`` through timm's getter),
and gradient checkpointing of the cells."""
from __future__ import annotations

from typing import Iterator

import torch
from timm.layers import select_adaptive_pool2d
from timm.models._features import feature_take_indices
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

POOLS = {"avg": 1, "max": 1, "avgmax": 1, "catavgmax": 2, "": 1}      # global_pool -> feature multiplier


class GlobalPool(nn.Module):
    """timm's global pooling types, flattened; ``''`` passes the feature map through."""

    def __init__(self, pool_type: str = "avg"):
        super().__init__()
        if pool_type not in POOLS:
            raise ValueError(f"global_pool must be one of {', '.join(map(repr, POOLS))}, got {pool_type!r}")
        self.pool_type = pool_type

    def forward(self, x: Tensor) -> Tensor:
        if not self.pool_type:
            return x
        if self.pool_type == "avg":
            return x.mean((2, 3))
        return select_adaptive_pool2d(x, self.pool_type, 1).flatten(1)


class TimmNetwork:
    """Mixed into a network with ``cells`` (an ``nn.ModuleList``), ``num_features`` and
    ``feature_info`` (one entry per cell) that yields each cell's output from
    :meth:`cell_outputs`; its classifier sits at ``classifier_path`` (its state-dict name)."""

    classifier_path = "classifier"
    grad_checkpointing = False

    def init_head(self, global_pool: str = "avg", drop_rate: float = 0.0) -> None:
        """Pooling and dropout around the classifier the network built (so the RNG draws what
        it drew before); a pool that widens the features, or no classes, rebuild it."""
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.head_drop = nn.Dropout(drop_rate)
        self.global_pool = GlobalPool(global_pool)
        if POOLS[global_pool] != 1 or not global_pool or not self.num_classes:
            self.reset_classifier(self.num_classes)

    def cell_outputs(self, x: Tensor) -> Iterator[Tensor]:
        raise NotImplementedError

    def final(self, x: Tensor) -> Tensor:
        """What follows the last cell before pooling (NAS-Bench-201: BN and ReLU)."""
        return x

    def prune_final(self) -> None:
        """Drop what :meth:`final` applies (it fits the last cell's width only)."""

    def run_cell(self, cell: nn.Module, *inputs):
        """One cell, recomputed in the backward pass under gradient checkpointing."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(cell, *inputs, use_reentrant=False)
        return cell(*inputs)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @property
    def head_hidden_size(self) -> int:
        return self.num_features * POOLS[self.global_pool.pool_type]

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_path)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new classifier for ``num_classes`` (0: none, the pooled features come out)."""
        pool = GlobalPool(global_pool) if global_pool is not None else self.global_pool
        if not pool.pool_type and num_classes:
            raise ValueError("global_pool='' passes the feature map on: it takes num_classes=0")
        self.global_pool, self.num_classes = pool, num_classes
        parent, _, name = self.classifier_path.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, name,
                nn.Linear(self.head_hidden_size, num_classes) if num_classes else nn.Identity())

    def forward_features(self, x: Tensor) -> Tensor:
        """The last cell's feature map (before pooling)."""
        for x in self.cell_outputs(x):
            pass
        return self.final(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head_drop(self.global_pool(x))
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: Tensor, indices: int | list[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False):
        """The outputs of the cells ``indices`` names (an int: the last n), and unless
        ``intermediates_only`` the final feature map too, as timm's models return them."""
        if output_fmt != "NCHW":
            raise ValueError(f"the cell networks give NCHW feature maps, got output_fmt={output_fmt!r}")
        take, last = feature_take_indices(len(self.cells), indices)
        intermediates = []
        for i, x in enumerate(self.cell_outputs(x)):
            if i in take:
                intermediates.append(x)
            if (stop_early or intermediates_only) and i == last:
                break
        return intermediates if intermediates_only else (self.final(x), intermediates)

    def prune_intermediate_layers(self, indices: int | list[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop the cells after the last of ``indices`` (and the head); returns the indices kept."""
        take, last = feature_take_indices(len(self.cells), indices)
        if prune_norm or last + 1 < len(self.cells):
            self.prune_final()
        self.cells = self.cells[:last + 1]
        self.feature_info = self.feature_info[:last + 1]
        if prune_head:
            self.reset_classifier(0, "")
        return take
