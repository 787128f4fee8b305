"""The accuracy-latency Pareto front: the runs no other run beats on both axes."""
from __future__ import annotations

from typing import Sequence


def pareto_front(latency: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (lower latency and higher accuracy are better),
    ordered by latency.  A point is dominated when another is at least as good on both axes
    and strictly better on one; exact duplicates are all kept."""
    if len(latency) != len(accuracy):
        raise ValueError(f"{len(latency)} latencies but {len(accuracy)} accuracies")
    order = sorted(range(len(latency)), key=lambda i: (latency[i], -accuracy[i]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if accuracy[i] > best or (front and (latency[i], accuracy[i]) == (latency[front[-1]], accuracy[front[-1]])):
            front.append(i)
            best = max(best, accuracy[i])
    return front
