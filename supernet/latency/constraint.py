"""Hard latency constraints, because a soft penalty alone often misses the target: a
latency-constrained derive, and rejection of sampled children over the target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from torch import Tensor

from ..gates import Gate
from ..spaces.base import SearchSpace
from .predict import LatencyPredictor


def _moves(space: SearchSpace, logp: Mapping[str, Tensor], predictor: LatencyPredictor, choice: dict[str, int],
           admissible) -> list[tuple[float, dict[str, int], float]]:
    """Every admissible single-decision change of ``choice``: (log-probability it gives up, the
    new choice, its table latency)."""
    out = []
    for d in space.decisions:
        for c in range(len(d.candidates)):
            if c == choice[d.name] or c in d.never_derived:
                continue
            trial = {**choice, d.name: c}
            if admissible(trial):
                out.append((float(logp[d.name][choice[d.name]] - logp[d.name][c]), trial,
                            predictor.of_genotype(space.genotype(trial))))
    return out


def _greedy_step(moves, lat: float, accept) -> tuple[dict[str, int], float] | None:
    """Of ``moves`` (:func:`_moves` from a choice of latency ``lat``), the one whose latency
    ``accept``s at the least log-probability given up per millisecond moved; None when there is
    none."""
    scored = [(cost / abs(lat - t), trial, t) for cost, trial, t in moves if t != lat and accept(t)]
    return min(scored, key=lambda m: m[0])[1:] if scored else None


def _pair_step(space: SearchSpace, logp: Mapping[str, Tensor], predictor: LatencyPredictor, moves,
               low: float, high: float, admissible, tries: int = 8) -> tuple[dict[str, int], float] | None:
    """Two changes at once, for when no single one of ``moves`` lands in [``low``, ``high``] (a
    space of coarse latency steps, such as the chain's blocks): one of the ``tries`` cheapest
    moves past ``high``, then the change back that lands in the window; the pair that gives up the
    least log-probability, or None."""
    ups = sorted((m for m in moves if m[2] > high), key=lambda m: m[0])
    best = None
    for up_cost, up, _ in ups[:tries]:
        for down_cost, trial, t in _moves(space, logp, predictor, up, admissible):
            if low <= t <= high and (best is None or up_cost + down_cost < best[0]):
                best = (up_cost + down_cost, trial, t)
    return best and best[1:]


def constrained_choice(space: SearchSpace, probs: Mapping[str, Tensor], predictor: LatencyPredictor,
                       target_ms: float, choice: Mapping[str, int],
                       admissible: Callable[[Mapping[str, int]], bool] = lambda choice: True,
                       floor: float = 0.0) -> dict[str, int]:
    """Starting from ``choice`` (the unconstrained derive), change one decision at a time, each
    time the change that gives up the least log-probability per millisecond saved, until the
    table latency is within ``target_ms``; then, while it is below ``floor * target_ms``, the
    change that gives up the least per millisecond spent without passing the target (a network
    far under its budget leaves accuracy unbought; when no single change lands within the
    window, a pair does).  `none` is never derived, and every step stays ``admissible`` (the
    strategy's other derive rules, such as the skip cap)."""
    if set(probs) != set(space.by_name):
        raise ValueError("latency.constrained_derive needs a strategy that gives one probability vector per "
                         f"decision; this one lacks {sorted(set(space.by_name) - set(probs))[:3]} and gives "
                         f"{sorted(set(probs) - set(space.by_name))[:3]} that are not decisions")
    logp = {k: p.detach().clamp_min(1e-12).log() for k, p in probs.items()}
    choice = dict(choice)
    lat = predictor.of_genotype(space.genotype(choice))
    while lat > target_ms:
        step = _greedy_step(_moves(space, logp, predictor, choice, admissible), lat, lambda t, lat=lat: t < lat)
        if step is None:
            raise ValueError(f"no architecture of this space is within latency.target_ms={target_ms}: the "
                             f"fastest this greedy derive reaches is {lat:.3f} ms (one decision at a time, "
                             "within strategy.max_skip); raise the target, the skip cap or shrink the space")
        choice, lat = step
    while lat < floor * target_ms:
        moves = _moves(space, logp, predictor, choice, admissible)
        step = (_greedy_step(moves, lat, lambda t, lat=lat: lat < t <= target_ms)
                or _pair_step(space, logp, predictor, moves, floor * target_ms, target_ms, admissible))
        if step is None:
            break
        choice, lat = step
    return choice


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
