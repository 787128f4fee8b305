"""Error statistics of paired figures (a predictor against the truth): how latency tables are
judged (Kendall tau and Spearman rho come from scipy.stats)."""
from __future__ import annotations

from typing import Sequence


def mape(pred: Sequence[float], measured: Sequence[float]) -> float:
    return 100.0 * sum(abs(p - m) / m for p, m in zip(pred, measured)) / len(measured)
