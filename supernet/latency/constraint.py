"""Hard latency constraints, because a soft penalty alone often misses the target: the exact
latency-constrained derive, the latency range the derive rules allow, and rejection of sampled
children over the target.

Latency (the table's calibrated sum over the paths that run) and the strategy's log-score are
both sums over slots, so "the most probable architecture within [floor T, T]" is a
multiple-choice knapsack, solved by dynamic programming over the slots with what the derive
rules count (skip-connects, which cell inputs are read, the source the edge's previous slot
read) in the state.  A space of at most EXACT_LIMIT architectures (NAS-Bench-201's 15,625)
keeps every distinct latency and is exact.  A larger one adds latencies in steps of 1/RESOLUTION
of its range: its answer lies in the window asked for and is at least as probable as every
architecture within [floor T + e, T - e], e = slots x step (``error_ms``).  The fastest and the
slowest admissible architectures are exact either way, so "no architecture meets the target" is
said exactly when none does.

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
import torch
from torch import Tensor

from ..gates import Gate
from ..spaces.base import Edge, SearchSpace
from .predict import LatencyPredictor

EXACT_LIMIT = 1 << 16
RESOLUTION = 4096
SlotScores = Callable[[Edge, int], Tensor]     # (edge, slot) -> log-score of each (source, op) the slot may pick
Case = tuple[Mapping[str, bool], Mapping[str, float]]   # (edges that must run an op or be `none`, read shares)


@dataclass(frozen=True)
class Rules:
    """What a derived architecture obeys besides latency: at most ``max_skip`` skip-connects
    per cell (-1: no cap; the space counts them) and, as DARTS derives, distinct inputs per node
    (read in ascending order)."""
    max_skip: int = -1
    distinct_inputs: bool = False


@dataclass(frozen=True)
class Pick:
    source: int
    op: int
    ms: float
    score: float
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Slot:
    input_name: Optional[str]
    op_name: str
    picks: tuple[Pick, ...]
    after_source: bool      # its source must be above the one the edge's previous slot read
    keeps_source: bool      # the edge's next slot needs this slot's source


@dataclass(frozen=True)
class ConstrainedChoice:
    choice: dict[str, int]
    latency_ms: float
    error_ms: float         # 0: exact; else how far inside the window a more probable architecture may lie


class Knapsack:
    """The slots of one space under one set of rules, and the programmes over them.  A state is
    (the rule counts, the source the edge's previous slot read); counts with a limit are
    dropped once no later slot adds to them (the limit was checked on the way)."""

    def __init__(self, space: SearchSpace, predictor: Optional[LatencyPredictor], rules: Rules,
                 scores: Optional[SlotScores] = None, case: Case = ({}, {})):
        self.space, self.rules = space, rules
        self.limits = space.count_limits(rules.max_skip)
        cal = predictor.calibration if predictor else {}
        scale, per_op = cal.get("scale", 1.0), cal.get("per_op_ms", 0.0)
        required, shares = case
        cost: dict[str, Tensor] = {}
        real: dict[str, Tensor] = {}
        for key, lut, runs in predictor.units if predictor else ():
            cost[key] = cost.get(key, 0.0) + shares.get(key, 1.0) * (scale * lut + per_op * runs)
            real[key] = runs > 0
        self.base_ms = scale * predictor.fixed_ms + cal.get("constant_ms", 0.0) if predictor else 0.0
        self.slots: list[Slot] = []
        for key, edge in space.edges.items():
            for s, (input_name, op_name) in enumerate(edge.slots):
                ms = cost.get(key, torch.zeros(edge.sources, len(edge.ops), dtype=torch.float64))
                score = (scores(edge, s).detach().double() if scores
                         else torch.zeros(edge.sources, len(edge.ops), dtype=torch.float64))
                picks = tuple(Pick(src, op, float(ms[src, op]), float(score[src, op]),
                                   space.slot_counts(edge, src, op, rules.max_skip))
                              for src in range(edge.sources if input_name else 1) for op in range(len(edge.ops))
                              if op not in edge.never_derived
                              and (key not in required or bool(real[key][src, op]) == required[key]))
                distinct = rules.distinct_inputs and input_name is not None
                self.slots.append(Slot(input_name, op_name, picks, distinct and s > 0,
                                       distinct and s + 1 < len(edge.slots)))
        added = [tuple(any(p.counts[j] for p in slot.picks) for j in range(len(self.limits))) for slot in self.slots]
        self.live = [tuple(any(a[j] for a in added[i:]) for j in range(len(self.limits)))
                     for i in range(1, len(self.slots) + 1)]     # counts some slot after slot i still adds to

    def size(self) -> int:
        return int(np.prod([float(len(s.picks)) for s in self.slots]))

    def start(self) -> tuple:
        return tuple(0 for _ in self.limits), -1

    def step(self, i: int, state: tuple, pick: Pick) -> Optional[tuple]:
        """The state after slot ``i`` takes ``pick`` (None: the rules forbid it)."""
        counts, last = state
        slot = self.slots[i]
        if slot.after_source and pick.source <= last:
            return None
        new = []
        for c, a, limit, live in zip(counts, pick.counts, self.limits, self.live[i]):
            c += a
            if limit is None:
                new.append(min(c, 1))
            elif c > limit:
                return None
            else:
                new.append(c if live else 0)
        return tuple(new), pick.source if slot.keeps_source else -1

    def admissible(self, state: tuple) -> bool:
        return self.space.admissible_counts(state[0], self.rules.max_skip)

    def labels(self, key: Callable[[float], object], better: Callable[[tuple, tuple], bool]) -> list[tuple]:
        """Every admissible final (ms, score, picks), one per (state, ``key(ms)``) as ``better``
        keeps them (every distinct latency when ``key`` is the identity)."""
        layer = {(self.start(), key(0.0)): (0.0, 0.0, None)}
        for i, slot in enumerate(self.slots):
            nxt: dict = {}
            for (state, _), label in layer.items():
                for pick in slot.picks:
                    ns = self.step(i, state, pick)
                    if ns is None:
                        continue
                    new = (label[0] + pick.ms, label[1] + pick.score, (label[2], pick))
                    k = (ns, key(new[0]))
                    if k not in nxt or better(new, nxt[k]):
                        nxt[k] = new
            layer = nxt
        return [(self.base_ms + ms, score, unwind(back)) for (state, _), (ms, score, back) in layer.items()
                if self.admissible(state)]

    def best(self, rank: Callable[[tuple], float]) -> tuple:
        """The admissible final (ms, score, picks) of the highest ``rank`` (exact)."""
        labels = self.labels(lambda ms: None, lambda a, b: rank(a) > rank(b))
        if not labels:
            raise ValueError("no architecture of this space obeys the derive rules (strategy.max_skip, the cell "
                             "inputs): relax the skip cap or use more ops")
        return max(labels, key=rank)

    def most_probable(self) -> dict[str, int]:
        """The admissible choice of the highest score, latency aside."""
        return self.choice(self.best(lambda label: label[1])[2])

    def extreme(self, fastest: bool) -> tuple[float, list[Pick]]:
        """The exact fastest (or slowest) admissible architecture: (ms, picks)."""
        ms, _, picks = self.best(lambda label: -label[0] if fastest else label[0])
        return ms, picks

    def admits_any(self) -> bool:
        return bool(self.labels(lambda ms: None, lambda a, b: False))

    def bucketed(self, step_ms: float, windows: list[tuple[float, float]]) -> list[tuple]:
        """Per admissible state and window (low, high) of ``windows``, the final (ms, score,
        picks) of the highest score within it, of the most probable architecture kept per
        latency step of ``step_ms`` (numpy arrays over the steps)."""
        lows = [min(p.ms for p in s.picks) for s in self.slots]
        shifts = [[int(round((p.ms - low) / step_ms)) for p in s.picks] for s, low in zip(self.slots, lows)]
        n = sum(max(q) for q in shifts) + 1
        score = np.full(n, -np.inf)
        score[0] = 0.0
        layer = {self.start(): (score, np.zeros(n))}
        history = []
        for i, slot in enumerate(self.slots):
            states, nxt = list(layer), {}
            for sid, state in enumerate(states):
                score, ms = layer[state]
                for pid, (pick, q) in enumerate(zip(slot.picks, shifts[i])):
                    ns = self.step(i, state, pick)
                    if ns is None:
                        continue
                    if ns not in nxt:
                        nxt[ns] = (np.full(n, -np.inf), np.zeros(n), np.zeros(n, np.int32), np.zeros(n, np.int32))
                    s2, m2, from_state, from_pick = nxt[ns]
                    cand = score[:n - q] + pick.score
                    better = np.flatnonzero(cand > s2[q:])
                    s2[q + better], m2[q + better] = cand[better], ms[better] + pick.ms
                    from_state[q + better], from_pick[q + better] = sid, pid
            history.append((states, {ns: arrays[2:] for ns, arrays in nxt.items()}))
            layer = {ns: arrays[:2] for ns, arrays in nxt.items()}
        out = []
        for state, (score, ms) in layer.items():
            if not self.admissible(state):
                continue
            for low, high in windows:
                inside = np.where((self.base_ms + ms >= low) & (self.base_ms + ms <= high), score, -np.inf)
                b = int(inside.argmax())
                if inside[b] > -np.inf:
                    out.append((self.base_ms + float(ms[b]), float(score[b]), self._back(history, shifts, state, b)))
        return out

    def _back(self, history, shifts, state, at: int) -> list[Pick]:
        picks = []
        for i in range(len(self.slots) - 1, -1, -1):
            states, back = history[i]
            from_state, from_pick = back[state]
            pid = int(from_pick[at])
            picks.append(self.slots[i].picks[pid])
            state, at = states[int(from_state[at])], at - shifts[i][pid]
        return picks[::-1]

    def choice(self, picks: list[Pick]) -> dict[str, int]:
        out = {}
        for slot, pick in zip(self.slots, picks):
            if slot.input_name:
                out[slot.input_name] = pick.source
            out[slot.op_name] = pick.op
        return out


def unwind(back) -> list[Pick]:
    picks = []
    while back is not None:
        back, pick = back
        picks.append(pick)
    return picks[::-1]


def ms_up(ms: float) -> str:
    """``ms`` rounded up to what it prints, so that a target of the printed figure is met."""
    return f"{math.ceil(ms * 1e4) / 1e4:.4f}"


def knapsacks(space: SearchSpace, predictor: LatencyPredictor, rules: Rules,
              scores: Optional[SlotScores] = None) -> list[Knapsack]:
    """The slots to solve: one set, or on a device that skips unread ops one per way the reader
    edges can be `none` or not (then which results are read is fixed and latency a sum); sets
    in which no architecture obeys the rules are left out (a space without any raises)."""
    if not predictor.skips_unread:
        return [Knapsack(space, predictor, rules, scores)]
    keys = space.reader_edges()
    out = []
    for bits in itertools.product((False, True), repeat=len(keys)):
        required = dict(zip(keys, bits))
        sack = Knapsack(space, predictor, rules, scores, (required, space.read_shares(
            {k: float(b) for k, b in required.items()})))
        if sack.admits_any():
            out.append(sack)
    return out or [Knapsack(space, predictor, rules, scores)]


def extreme(sacks: list[Knapsack], fastest: bool) -> tuple[float, Knapsack, list[Pick]]:
    """The exact fastest (or slowest) admissible architecture over ``sacks``: (ms, its set, picks)."""
    found = [(*k.extreme(fastest), k) for k in sacks]
    ms, picks, sack = (min if fastest else max)(found, key=lambda f: f[0])
    return ms, sack, picks


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
    sacks = knapsacks(space, predictor, rules, scores)
    eps = 1e-9 * max(abs(target_ms), 1.0)
    fastest_ms, fastest_sack, fastest = extreme(sacks, True)
    if fastest_ms > target_ms + eps:
        raise ValueError(f"no architecture of this space is within latency.target_ms={target_ms}: the fastest the "
                         f"derive rules allow is {ms_up(fastest_ms)} ms; raise the target, the skip cap "
                         "(strategy.max_skip) or shrink the space")
    windows = [(floor * target_ms - eps, target_ms + eps), (-np.inf, target_ms + eps)]
    labels, error = [(fastest_ms, -np.inf, fastest, fastest_sack)], 0.0
    if sum(k.size() for k in sacks) <= EXACT_LIMIT:
        for k in sacks:
            labels += [(*label, k) for label in k.labels(lambda ms: ms, lambda a, b: a[1] > b[1])]
    else:
        step = max(extreme(sacks, False)[0] - fastest_ms, eps) / RESOLUTION
        for k in sacks:
            labels += [(*label, k) for label in k.bucketed(step, windows)]
        error = max(len(k.slots) for k in sacks) * step
    for low, high in windows:
        within = [label for label in labels if low <= label[0] <= high]
        if within:
            ms, _, picks, sack = max(within, key=lambda label: label[1])
            return ConstrainedChoice(sack.choice(picks), ms, error)
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
