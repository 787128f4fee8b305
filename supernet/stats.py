"""Error statistics of paired figures (a predictor against the truth) and what a Kendall tau
(scipy.stats.kendalltau, tau-b) can show: how latency tables and shared weights are judged."""
from __future__ import annotations

import math
from typing import Sequence


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
