"""How the expected latency enters the arch loss (chosen by ``latency.loss``)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

LOSS_FORMS = ("additive", "log", "power", "hinge")


def latency_loss(ce: Tensor, latency_ms: Tensor, target_ms: float, form: str, weight: float, beta: float) -> Tensor:
    """additive: CE + weight * LAT/target; log (ProxylessNAS): CE * (log LAT / log target)^beta;
    power (MnasNet): CE * (LAT/target)^beta; hinge: CE + weight * max(0, LAT/target - 1)."""
    ratio = latency_ms / target_ms
    if form == "additive":
        return ce + weight * ratio
    if form == "log":
        if target_ms <= 1.0:
            raise ValueError(f"the log form needs latency.target_ms > 1 ms (log target > 0), got {target_ms}")
        return ce * (torch.log(latency_ms) / math.log(target_ms)) ** beta
    if form == "power":
        return ce * ratio ** beta
    if form == "hinge":
        return ce + weight * torch.relu(ratio - 1)
    raise ValueError(f"unknown latency.loss {form!r}; choose one of {', '.join(LOSS_FORMS)} (or none)")
