"""Honest measurements of a callable: median wall time after warm-up, the bytes autograd keeps
for the backward, and the process's peak resident memory.  Used by the benchmarks and the
latency profiler."""
from __future__ import annotations

import contextlib
import resource
import statistics
import sys
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


def saved_tensor_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the distinct tensors autograd saves for the backward while ``fn()`` runs: the
    activation memory of a training step, exactly, independent of allocator noise."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
