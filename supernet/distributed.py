"""Data-parallel search on torch.distributed (started by torchrun): one search, one
architecture.

Every rank holds the same weights and alphas and samples the same child in every step (the
strategy's generator is seeded identically and called identically); the batch is split by a
DistributedSampler; weight gradients are averaged by DDP and architecture gradients by hooks;
batch-norm statistics are computed over the global batch (torch's SyncBatchNorm on GPUs, the
small all-reduce version below on CPUs, where SyncBatchNorm does not run), so N processes
compute what one process does with the same global batch.  Only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes in the environment (a single process: no-op).
    On GPUs every rank takes the GPU of its local rank; returns the world and this rank's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size()), device


def current_world() -> World:
    """The process group this process is in (a single process: the trivial world)."""
    return World(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else World()


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is again the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the batch of every rank (CPU stand-in for SyncBatchNorm; needs the same
    per-rank batch size).  Outside a process group it is a plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        # Two passes, as one process computes them: the global mean, then the squared deviations
        # from it (E[x^2] - E[x]^2 loses every digit when the mean is large against the spread).
        dims = (0, 2, 3)
        count = x.numel() // x.shape[1] * dist.get_world_size()
        mean = _AllReduceSum.apply(x.sum(dims)) / count
        var = _AllReduceSum.apply(((x - mean[None, :, None, None]) ** 2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                # momentum None: cumulative average, as BatchNorm2d (BN recalibration uses it)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * count / (count - 1))
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap every BatchNorm2d for its global-batch version, keeping parameters and buffers."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            convert_batchnorm(child, device)
    return module


def average_gradients(params) -> None:
    """Average these parameters' gradients over the ranks as autograd computes them (also
    inside ``torch.autograd.grad``), so every rank's arch optimizer takes the same step."""
    size = dist.get_world_size()

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad / size

    for p in params:
        p.register_hook(hook)


def mean_over_ranks(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each tensor averaged over the ranks (the tensors themselves in a single process): for
    gradients autograd computes outside DDP and the hooks of :func:`average_gradients`."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return tensors
    flat = torch.cat([t.flatten() for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    return [chunk.view_as(t) for chunk, t in zip(flat.split([t.numel() for t in tensors]), tensors)]


def all_reduce_sum(values: dict[str, float], world: World) -> dict[str, float]:
    """Sum per-rank metrics (counts, sums of losses) so that rank 0 reports the global ones."""
    if not world.distributed or not values:
        return values
    # NCCL reduces only GPU tensors
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, t.tolist()))
