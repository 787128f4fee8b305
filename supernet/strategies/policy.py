"""What the reward-driven strategies (reinforce, enas; random ranks its children by it) share:
the reward of a sampled child, a moving-average baseline, and the REINFORCE step.

A reward is a callable ``(accuracy, choice) -> float``, so that it can use what no gradient
reaches: the child's latency measured on the device, or read from a table.  A strategy is given
its reward when it is built (default: the accuracy; under a hardware target MnasNet's
``latency.loss.mnas_reward``, see hardware/target.py).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from ..distributed import all_reduce_sum, current_world
from ..gates import child_gates
from ..probe import own_bn_statistics


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Accuracy over the global batch: under torchrun every rank holds a shard of it, and every
    rank must fold the same reward into its baseline and its update."""
    counts = all_reduce_sum({"correct": float((logits.argmax(1) == y).sum()), "total": float(len(y))}, current_world())
    return counts["correct"] / max(counts["total"], 1.0)


def child_on_val(net: nn.Module, choice: Mapping[str, int], x: Tensor, y: Tensor, objective,
                 train: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
    """Logits and objective of a sampled child on the val batch ``(x, y)``, its BN statistics
    re-estimated on the weight step's batch ``train`` (the val batch when there is none): what
    a reward reads, leaving the supernet's own statistics as they were."""
    gates = child_gates(choice)
    with own_bn_statistics(net, gates, [train or (x, y)], x.device), torch.no_grad():
        logits = net(x, gates)
        return logits, objective(logits, y)


class MovingAverageBaseline(nn.Module):
    """b <- decay * b + (1 - decay) * r, starting at the first reward; a buffer, so it is
    checkpointed with the strategy."""

    def __init__(self, decay: float):
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"strategy.baseline_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.register_buffer("value", torch.tensor(float("nan")))

    def advantage(self, reward: float) -> float:
        """``reward - b`` with b before this reward, then fold the reward into b."""
        if torch.isnan(self.value):
            self.value.fill_(reward)
        adv = reward - float(self.value)
        self.value.mul_(self.decay).add_((1 - self.decay) * reward)
        return adv


def reinforce_step(optimizer: torch.optim.Optimizer, log_prob: Tensor, advantage: float,
                   entropy: Tensor | float = 0.0, entropy_weight: float = 0.0) -> Tensor:
    """Ascend ``advantage * log p(child) + entropy_weight * H``; returns the surrogate loss."""
    loss = -advantage * log_prob - entropy_weight * entropy
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return loss
