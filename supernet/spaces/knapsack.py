"""The most probable architecture of a space under its derive rules and a budget, exactly:
log-scores and (where given) costs are sums over the space's slots, so the best choice is a
multiple-choice knapsack, solved by dynamic programming over the slots with what the derive
rules count (skip-connects, which cell inputs are read, the source the edge's previous slot
read) in the state.  The spaces derive with it (the most probable architecture the rules
admit); the hardware floor adds latency costs (the latency-constrained derive)."""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np
import torch
from torch import Tensor

from .base import Edge, SearchSpace

SlotScores = Callable[[Edge, int], Tensor]     # (edge, slot) -> log-score of each (source, op) the slot may pick


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


@dataclass
class SlotCosts:
    """What every (source, op) of an edge's slot costs, summed over the network's units: ``ms``
    per edge key (sources x ops), ``real`` where the path runs an op (not `none`), and what every
    architecture pays (``base_ms``)."""
    ms: dict[str, Tensor] = field(default_factory=dict)
    real: dict[str, Tensor] = field(default_factory=dict)
    base_ms: float = 0.0


class Knapsack:
    """The slots of one space under one set of rules, and the programmes over them.  A state is
    (the rule counts, the source the edge's previous slot read); counts with a limit are
    dropped once no later slot adds to them (the limit was checked on the way)."""

    def __init__(self, space: SearchSpace, rules: Rules, scores: Optional[SlotScores] = None,
                 costs: Optional[SlotCosts] = None, required: Optional[Mapping[str, bool]] = None):
        """``required``: edges whose pick must run an op (True) or be `none` (False)."""
        self.space, self.rules, required = space, rules, required or {}
        self.limits = space.count_limits(rules.max_skip)
        cost, real = (costs.ms, costs.real) if costs else ({}, {})
        self.base_ms = costs.base_ms if costs else 0.0
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

    def top(self, k: int) -> list[dict[str, int]]:
        """The ``k`` admissible choices of the highest score, best first: exact, keeping the
        ``k`` best prefixes per state (a prefix outside them completes worse than they do)."""
        layer: dict = {self.start(): [(0.0, None)]}
        for i, slot in enumerate(self.slots):
            nxt: dict = {}
            for state, prefixes in layer.items():
                for pick in slot.picks:
                    ns = self.step(i, state, pick)
                    if ns is not None:
                        nxt.setdefault(ns, []).extend((score + pick.score, (back, pick)) for score, back in prefixes)
            layer = {state: heapq.nlargest(k, prefixes, key=lambda p: p[0]) for state, prefixes in nxt.items()}
        final = heapq.nlargest(k, (p for state, prefixes in layer.items() if self.admissible(state) for p in prefixes),
                               key=lambda p: p[0])
        return [self.choice(unwind(back)) for _, back in final]

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


