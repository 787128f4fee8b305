"""Hard latency constraints, because a soft penalty alone often misses the target: the exact
latency-constrained derive, the latency range the derive rules allow, and rejection of sampled
children over the target.

Latency (the table's calibrated sum over the paths that run) and the strategy's log-score are
both sums over slots, so "the most probable architecture within [floor T, T]" is the space's
knapsack (spaces.knapsack) with the table's costs.  A space of at most EXACT_LIMIT
architectures (NAS-Bench-201's 15,625) keeps every distinct latency and is exact.  A larger one
adds latencies in steps of 1/RESOLUTION of its range: its answer lies in the window asked for
and is at least as probable as every architecture within [floor T + e, T - e], e = slots x step
(``error_ms``).  The fastest and the slowest admissible architectures are exact either way, so
"no architecture meets the target" is said exactly when none does.

On a device that skips unread ops an edge costs only when its result is read, which later
edges decide: so the slots are solved once per way the space's reader edges can be `none` or
not (NAS-Bench-201: 8), each a sum again, and the best over them is kept.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np

from ..gates import Gate
from ..spaces.base import SearchSpace, choice_key
from ..spaces.knapsack import Knapsack, Pick, Rules, SlotCosts, SlotScores
from .predict import LatencyPredictor

EXACT_LIMIT = 1 << 16
RESOLUTION = 4096


@dataclass(frozen=True)
class ConstrainedChoice:
    choice: dict[str, int]
    latency_ms: float
    error_ms: float         # 0: exact; else how far inside the window a more probable architecture may lie


def slot_costs(predictor: LatencyPredictor, shares: Mapping[str, float]) -> SlotCosts:
    """The table's calibrated cost of every slot's (source, op), each edge's times its read share."""
    cal = predictor.calibration
    scale, per_op = cal.get("scale", 1.0), cal.get("per_op_ms", 0.0)
    costs = SlotCosts(base_ms=scale * predictor.fixed_ms + cal.get("constant_ms", 0.0))
    for key, lut, runs in predictor.units:
        costs.ms[key] = costs.ms.get(key, 0.0) + shares.get(key, 1.0) * (scale * lut + per_op * runs)
        costs.real[key] = runs > 0
    return costs


def knapsacks(space: SearchSpace, predictor: LatencyPredictor, rules: Rules,
              scores: Optional[SlotScores] = None) -> list[Knapsack]:
    """The slots to solve: one set, or on a device that skips unread ops one per way the reader
    edges can be `none` or not (then which results are read is fixed and latency a sum); sets
    in which no architecture obeys the rules are left out (a space without any raises)."""
    if not predictor.skips_unread:
        return [Knapsack(space, rules, scores, slot_costs(predictor, {}))]
    keys = space.reader_edges()
    out = []
    for bits in itertools.product((False, True), repeat=len(keys)):
        required = dict(zip(keys, bits))
        shares = space.read_shares({k: float(b) for k, b in required.items()})
        sack = Knapsack(space, rules, scores, slot_costs(predictor, shares), required)
        if sack.admits_any():
            out.append(sack)
    return out or [Knapsack(space, rules, scores, slot_costs(predictor, {}))]


def extreme(sacks: list[Knapsack], fastest: bool) -> tuple[float, Knapsack, list[Pick]]:
    """The exact fastest (or slowest) admissible architecture over ``sacks``: (ms, its set, picks)."""
    found = [(*k.extreme(fastest), k) for k in sacks]
    ms, picks, sack = (min if fastest else max)(found, key=lambda f: f[0])
    return ms, sack, picks


def ms_up(ms: float) -> str:
    """``ms`` rounded up to what it prints, so that a target of the printed figure is met."""
    return f"{math.ceil(ms * 1e4) / 1e4:.4f}"


def latency_bounds(space: SearchSpace, predictor: LatencyPredictor, rules: Rules = Rules()) -> tuple[float, float]:
    """(fastest, slowest) table latency of the architectures derive may return under ``rules``."""
    sacks = knapsacks(space, predictor, rules)
    return extreme(sacks, True)[0], extreme(sacks, False)[0]


def constrained_choice(space: SearchSpace, scores: SlotScores, predictor: LatencyPredictor, target_ms: float,
                       rules: Rules = Rules(), floor: float = 0.0) -> ConstrainedChoice:
    """The architecture of the highest total log-``scores`` whose table latency lies within
    [``floor * target_ms``, ``target_ms``] (a network far under its budget leaves accuracy
    unbought); when none does, the highest within ``target_ms``; `none` never where the space
    does not derive it, and ``rules`` kept throughout."""
    return constrained_candidates(space, scores, predictor, target_ms, rules, floor, 1)[0]


def tolerance(target_ms: float) -> float:
    """How far a table latency may pass ``target_ms`` and count as within it (float sums)."""
    return 1e-9 * max(abs(target_ms), 1.0)


def derive_windows(target_ms: float, floor: float) -> list[tuple[float, float]]:
    """The table-latency windows a constrained derive looks in, in order: [floor T, T], then
    everything under T (where the first holds no architecture)."""
    eps = tolerance(target_ms)
    return [(floor * target_ms - eps, target_ms + eps), (-np.inf, target_ms + eps)]


def constrained_candidates(space: SearchSpace, scores: SlotScores, predictor: LatencyPredictor, target_ms: float,
                           rules: Rules = Rules(), floor: float = 0.0, k: int = 1) -> list[ConstrainedChoice]:
    """Up to ``k`` distinct architectures of :func:`constrained_choice`'s window, most probable
    first: the most probable one per distinct table latency (per latency step in a large space),
    which a shared-weight ranking then chooses among (``trainer.derive_candidates``)."""
    sacks = knapsacks(space, predictor, rules, scores)
    eps = tolerance(target_ms)
    fastest_ms, fastest_sack, fastest = extreme(sacks, True)
    if fastest_ms > target_ms + eps:
        raise ValueError(f"no architecture of this space is within latency.target_ms={target_ms}: the fastest the "
                         f"derive rules allow is {ms_up(fastest_ms)} ms; raise the target, the skip cap "
                         "(strategy.max_skip) or shrink the space")
    windows = derive_windows(target_ms, floor)
    labels, error = [(fastest_ms, -np.inf, fastest, fastest_sack)], 0.0
    if sum(sack.size() for sack in sacks) <= EXACT_LIMIT:
        for sack in sacks:
            labels += [(*label, sack) for label in sack.labels(lambda ms: ms, lambda a, b: a[1] > b[1])]
    else:
        step = max(extreme(sacks, False)[0] - fastest_ms, eps) / RESOLUTION
        for sack in sacks:
            labels += [(*label, sack) for label in sack.bucketed(step, windows)]
        error = max(len(sack.slots) for sack in sacks) * step
    for low, high in windows:
        out: dict[tuple, ConstrainedChoice] = {}
        for ms, _, picks, sack in sorted((label for label in labels if low <= label[0] <= high),
                                         key=lambda label: -label[1]):
            choice = sack.choice(picks)
            out.setdefault(choice_key(choice), ConstrainedChoice(choice, ms, error))
            if len(out) == k:
                break
        if out:
            return list(out.values())
    raise AssertionError("the fastest architecture is within the target")


@dataclass
class RejectOverTarget:
    """A strategy's child filter: redraw weight-step children whose latency is over the target
    (after ``max_tries`` keep the fastest seen, so a step never stalls)."""
    latency_of: Callable[[Mapping[str, Gate]], float]
    target_ms: float
    max_tries: int

    def __call__(self, draw: Callable[[], Mapping[str, Gate]]) -> Mapping[str, Gate]:
        best = None
        for _ in range(self.max_tries):
            gates = draw()
            lat = self.latency_of(gates)
            if lat <= self.target_ms:
                return gates
            if best is None or lat < best[0]:
                best = (lat, gates)
        return best[1]
