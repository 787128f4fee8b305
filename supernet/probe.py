"""Accuracy of one child of the supernet: the one way every figure taken from shared weights is
measured (the loop's derived child and supernet quality, random search's ranking, the rewards
of reinforce and enas).

Running BN statistics accumulated while many children trained describe none of them, so a
child is always measured with statistics of its own (SPOS, Once-for-All): the BN buffers are
reset, re-estimated on a few calibration batches with this child in training mode, the child
is evaluated in eval mode, and the supernet's own buffers and mode are put back afterwards.
"""
from __future__ import annotations

import contextlib
from itertools import islice
from typing import Iterable, Iterator, Mapping

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from .data import PerSampleAugment, build_search_data, search_loader
from .distributed import World, all_reduce_sum
from .gates import Gate, child_gates
from .spaces.base import SearchSpace, choice_key, uniform_choice

Batches = Iterable[tuple[Tensor, Tensor]]


@contextlib.contextmanager
def own_bn_statistics(net: nn.Module, gates: Mapping[str, Gate], calibration: Batches, device) -> Iterator[None]:
    """Inside the block the net is in eval mode with BN statistics of the child ``gates`` alone,
    estimated on ``calibration`` (averages over its batches, exact for one batch; under torchrun
    the global batch's, as training computes them).  Buffers and mode are restored on exit."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, {k: b.clone() for k, b in m.named_buffers()}) for m in bns]
    modes = [(m, m.training) for m in net.modules()]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None           # cumulative average over the calibration batches
        net.train()
        with torch.no_grad():
            for x, _ in calibration:
                net(x.to(device), gates)
        net.eval()
        yield
    finally:
        for m, training in modes:       # every module's own mode: one in eval inside a training net stays so
            m.training = training
        for m, (momentum, buffers) in zip(bns, saved):
            m.momentum = momentum
            for k, b in buffers.items():
                getattr(m, k).copy_(b)


def child_accuracy(net: nn.Module, gates: Mapping[str, Gate], calibration: Batches, val: Batches, device,
                   world: World = World()) -> float:
    """Accuracy of the child ``gates`` on ``val`` (over the shards of every rank) with BN
    statistics re-estimated on ``calibration``."""
    correct = total = 0
    with own_bn_statistics(net, gates, calibration, device), torch.no_grad():
        for x, y in val:
            x, y = x.to(device), y.to(device)
            correct += (net(x, gates).argmax(1) == y).sum().item()
            total += len(y)
    counts = all_reduce_sum({"correct": correct, "total": total}, world)
    return counts["correct"] / max(counts["total"], 1)


class ChildProbe:
    """Measures children of one supernet as its weights are now (build another after training
    them further): the first batch of ``calib_loader`` calibrates each child's BN statistics,
    ``val_loader`` scores it; a child measured again is not run again (its figure cannot differ)."""

    def __init__(self, net: nn.Module, calib_loader, val_loader, device, world: World = World()):
        self.net, self.calib_loader, self.val_loader = net, calib_loader, val_loader
        self.device, self.world = device, world
        self.measured: dict[tuple, float] = {}

    def accuracy(self, choice: Mapping[str, int]) -> float:
        key = choice_key(choice)
        if key not in self.measured:
            self.measured[key] = child_accuracy(self.net, child_gates(choice), islice(self.calib_loader, 1),
                                                self.val_loader, self.device, self.world)
        return self.measured[key]

    def sampled(self, space: SearchSpace, n: int, generator: torch.Generator) -> list[float]:
        """Accuracies of ``n`` children drawn uniformly (no `none`, which derive never picks):
        how good the shared weights are for the space as a whole."""
        return [self.accuracy(uniform_choice(space, generator, allow_none=False)) for _ in range(n)]


def child_probe(net: torch.nn.Module, train_set: Dataset, val_set: Dataset, cfg, world: World,
                epoch: int, device) -> ChildProbe:
    """How a search measures its children in ``epoch``: one batch of ``trainer.bn_images``
    train images (augmented as in that epoch) re-estimates BN, the whole val split scores."""
    if isinstance(train_set, PerSampleAugment):
        train_set.set_epoch(epoch)
    loaders = (search_loader(d, cfg.trainer.bn_images, cfg.seed, world, epoch, cfg.data.num_workers)
               for d in (train_set, val_set))
    return ChildProbe(net, *loaders, device, world)


def search_supernet(space: SearchSpace, info, trainer) -> nn.Module:
    """The supernet a search trains, in the memory format it computes in (``trainer.channels_last``)."""
    return space.supernet(info).to(memory_format=torch.channels_last if trainer.channels_last
                                   else torch.contiguous_format)


def checkpoint_probe(state: Mapping, cfg, space: SearchSpace) -> ChildProbe:
    """The probe of the search (config ``cfg``) whose checkpoint ``state`` holds the "net" and
    "epoch", rebuilt from its data settings: a child scores here what that search measured."""
    train, val, info = build_search_data(cfg.data, cfg.seed)
    net = search_supernet(space, info, cfg.trainer)
    net.load_state_dict(state["net"])
    return child_probe(net, PerSampleAugment(train, cfg.seed), val, cfg, World(), state["epoch"], torch.device("cpu"))
