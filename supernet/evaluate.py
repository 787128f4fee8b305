"""Accuracy of one child of the supernet, as the search loop and random search measure it."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .distributed import World, all_reduce_sum
from .gates import Gate


@torch.no_grad()
def evaluate(net: nn.Module, loader, gates: Mapping[str, Gate], device, world: World = World()) -> float:
    """Accuracy of one child (``gates``) in the net's current mode (train: batch statistics),
    over the shards of every rank."""
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += (net(x, gates).argmax(1) == y).sum().item()
        total += len(y)
    counts = all_reduce_sum({"correct": correct, "total": total}, world)
    return counts["correct"] / max(counts["total"], 1)


@torch.no_grad()
def recalibrated_accuracy(net: nn.Module, gates: Mapping[str, Gate], calib_loader, val_loader,
                          device, calib_batches: int, world: World = World()) -> float:
    """SPOS's fair comparison of children with shared weights: BN running statistics are
    re-estimated for this child alone on ``calib_batches`` batches (of every rank: the
    recalibration runs the net in training mode), then it is evaluated in eval mode.  The net's BN buffers and mode are restored afterwards."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, {k: b.clone() for k, b in m.named_buffers()}) for m in bns]
    was_training = net.training
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None           # cumulative average over the calibration batches
        net.train()
        for i, (x, _) in enumerate(calib_loader):
            if i == calib_batches:
                break
            net(x.to(device), gates)
        net.eval()
        return evaluate(net, val_loader, gates, device, world)
    finally:
        net.train(was_training)
        for m, (momentum, buffers) in zip(bns, saved):
            m.momentum = momentum
            for k, b in buffers.items():
                getattr(m, k).copy_(b)
