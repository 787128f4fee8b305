"""Parameters and multiply-adds as papers report them.

Multiply-adds come from torch's own flop counter (``torch.utils.flop_counter``), which counts
the convolutions and matrix products (2 FLOPs per multiply-add) and ignores BN, pooling,
activations and element-wise adds, the convention behind the published "mult-adds" (DARTS's
574M).  Counting a genotype runs on the ``meta`` device: shapes only, no weights, milliseconds.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .spaces.base import family_of


def count_parameters(model: nn.Module, exclude: tuple[str, ...] = ("auxiliary_head",)) -> int:
    """Trainable parameters without the auxiliary head (it is dropped after training, and
    DARTS's count_parameters_in_MB leaves it out too)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and not any(name.startswith(e) for e in exclude))


def multiply_adds(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one inference forward of ``model`` on a batch of ``input_shape``
    (use batch 1 for the per-image figure), counted in eval mode on the model's device."""
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def genotype_cost(genotype) -> dict[str, Any]:
    """Parameters and per-image multiply-adds of ``genotype``'s network in the setting its papers
    report (its family's ``reported_network``: a cell genotype in the DARTS CIFAR-10 network, a
    chain genotype as itself at 224x224), built on the meta device."""
    with torch.device("meta"):
        setting, net, size = family_of(genotype).reported_network(genotype)
    return {"setting": setting, "params": count_parameters(net),
            "multiply_adds": multiply_adds(net, (1, 3, size, size))}
