"""Honest timings of a callable: the median wall time after warm-up, and medians interleaved
over rounds so that a disturbance hits every candidate alike.  The latency profiler times ops
with them (the benchmarks' memory figures are in benchmarks/memory.py)."""
from __future__ import annotations

import contextlib
import statistics
import time
from typing import Callable, Iterator, Sequence

import torch


def sync(device: torch.device | str | None = None) -> None:
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


ROUNDS = 3    # medians per robust measurement: the least disturbed is kept


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None or 0: as they are), then restore them, so
    that a measurement taken inside a search runs under its table's conditions, not the search's."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def median_time(fn: Callable[[], object], warmup: int = 3, repeat: int = 10,
                device: torch.device | str | None = None) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(fns: Sequence[Callable[[], object]], warmup: int = 3, repeat: int = 12, rounds: int = ROUNDS,
                      device: torch.device | str | None = None,
                      tick: Callable[[], object] = lambda: None) -> list[tuple[float, float]]:
    """(seconds, spread) of each of ``fns`` on a machine that may be busy: ``rounds`` medians of
    ``repeat // rounds`` runs each; the time is the smallest median (the least disturbed), the
    spread ``(largest - smallest) / smallest`` says how far to trust it.  The rounds are
    interleaved (round 1 of every one, then round 2 ...), so that a disturbance longer than one
    measurement spoils one round of several callables instead of every round of one.  ``tick()``
    after each median (progress)."""
    medians: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for fn, out in zip(fns, medians):
            out.append(median_time(fn, warmup if r == 0 else 0, max(repeat // rounds, 1), device))
            tick()
    return [(min(m), (max(m) - min(m)) / min(m)) for m in medians]
