"""Rank and error statistics of paired figures (a predictor against the truth): how latency
tables and shared weights are judged."""
from __future__ import annotations

import math
from typing import Sequence

import torch


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b: concordant minus discordant pairs, normalised so that ties in either
    ranking (equal accuracies on a small set are common) neither count for nor against."""
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    dx, dy = torch.sign(x[:, None] - x[None]), torch.sign(y[:, None] - y[None])
    upper = torch.ones_like(dx, dtype=torch.bool).triu(1)
    untied_x, untied_y = int((dx[upper] != 0).sum()), int((dy[upper] != 0).sum())
    return float((dx * dy)[upper].sum()) / (untied_x * untied_y) ** 0.5 if untied_x and untied_y else 0.0


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = (torch.tensor(x, dtype=torch.float64).argsort().argsort().double() for x in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def mape(pred: Sequence[float], measured: Sequence[float]) -> float:
    return 100.0 * sum(abs(p - m) / m for p, m in zip(pred, measured)) / len(measured)


def tau_ceiling(spread: float, noise: float) -> float:
    """The Kendall tau a perfect ranking would show against a yardstick whose figures are the
    true values (sd ``spread`` between items) plus independent noise (sd ``noise``): for normal
    values, (2 / pi) asin(rho) with rho = spread / sqrt(spread^2 + noise^2).  A measured tau is
    judged against this, not against 1: a yardstick noisier than its spread ranks nothing."""
    if spread <= 0:
        return 0.0
    return 2 / math.pi * math.asin(spread / math.hypot(spread, noise))


def tau_sampling_error(n: int) -> float:
    """Standard deviation of Kendall's tau over ``n`` items drawn at random when the rankings are
    unrelated, sqrt(2 (2n + 5) / (9 n (n - 1))): how far a tau measured on a few children moves
    from one draw of children to the next (0.16 for 20), so two figures closer than this agree."""
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
