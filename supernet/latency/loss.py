"""How the expected latency enters the arch loss (chosen by ``latency.loss``), and how a
child's latency enters the reward of the reward-driven strategies (MnasNet's factor)."""
from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
from torch import Tensor

LOSS_FORMS = ("additive", "log", "power", "hinge", "lagrange")
LOG_FLOOR = 0.01


def check_target(form: str, target_ms: float) -> None:
    """Refuse, before any training, a target the loss form cannot take."""
    if target_ms <= 0:
        raise ValueError(f"latency.target_ms must be positive, got {target_ms}")
    if form == "log" and target_ms <= 1.0:
        raise ValueError(f"latency.loss=log (ProxylessNAS: CE (log LAT / log T)^beta, in ms) needs "
                         f"latency.target_ms > 1 ms, got {target_ms}; use latency.loss=power for smaller targets")


def latency_loss(ce: Tensor, latency_ms: Tensor, target_ms: float, form: str, weight: float, beta: float) -> Tensor:
    """additive: CE + weight * LAT/target; log (ProxylessNAS): CE * (log LAT / log target)^beta;
    power (MnasNet): CE * (LAT/target)^beta; hinge: CE + weight * max(0, LAT/target - 1);
    lagrange: CE + weight * (LAT/target - 1), ``weight`` the multiplier that dual ascent adapts
    (:class:`DualMultiplier`)."""
    ratio = latency_ms / target_ms
    if form == "additive":
        return ce + weight * ratio
    if form == "log":
        check_target(form, target_ms)
        # log LAT / log T goes negative below 1 ms (a NaN power) and its power has an infinite
        # slope at 1 ms; below LAT = T^0.01 the factor is held, so every latency gives a finite
        # loss and gradient (there the network is far below its target anyway).
        return ce * (torch.log(latency_ms) / math.log(target_ms)).clamp_min(LOG_FLOOR) ** beta
    if form == "power":
        return ce * ratio ** beta
    if form == "hinge":
        return ce + weight * torch.relu(ratio - 1)
    if form == "lagrange":
        return ce + weight * (ratio - 1)
    raise ValueError(f"unknown latency.loss {form!r}; choose one of {', '.join(LOSS_FORMS)} (or none)")


class DualMultiplier:
    """The latency weight of ``latency.loss=lagrange``: the Lagrange multiplier of the constraint
    LAT <= target, by dual ascent after every arch step, ``lambda <- max(0, lambda + lr * (LAT /
    target - 1))``.  It rises while the expected latency is over the target and falls (to 0)
    below it, so the search settles at the target whatever the target is, where a fixed weight
    pushes every target to the same place (under Adam the log form's target is a constant
    factor, which Adam's normalisation cancels)."""

    def __init__(self, lr: float, value: float = 0.0):
        if lr <= 0:
            raise ValueError(f"latency.dual_lr must be positive, got {lr}")
        self.lr, self.value = lr, value

    def update(self, latency_ms: float, target_ms: float) -> float:
        self.value = max(0.0, self.value + self.lr * (latency_ms / target_ms - 1.0))
        return self.value


def mnas_reward(latency: Callable[[Mapping[str, int]], float], target: float,
                w: float = -0.07) -> Callable[[float, Mapping[str, int]], float]:
    """MnasNet's reward ``accuracy * (latency / target) ** w`` (w < 0 penalizes slow children)."""
    if target <= 0:
        raise ValueError(f"latency target must be positive, got {target}")

    def reward(acc, choice):
        return acc * (latency(choice) / target) ** w
    return reward
