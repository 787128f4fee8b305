"""Hard latency constraints, because a soft penalty alone often misses the target: a
latency-constrained derive, and rejection of sampled children over the target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from torch import Tensor

from ..gates import Gate
from ..spaces.base import SearchSpace
from .predict import LatencyPredictor


def constrained_choice(space: SearchSpace, probs: Mapping[str, Tensor], predictor: LatencyPredictor,
                       target_ms: float, choice: Mapping[str, int],
                       admissible: Callable[[Mapping[str, int]], bool] = lambda choice: True) -> dict[str, int]:
    """Starting from ``choice`` (the unconstrained derive), change one decision at a time, each
    time the change that gives up the least log-probability per millisecond saved, until the
    table latency is within ``target_ms``.  `none` is never derived, and every step stays
    ``admissible`` (the strategy's other derive rules, such as the skip cap)."""
    if set(probs) != set(space.by_name):
        raise ValueError("latency.constrained_derive needs a strategy that gives one probability vector per "
                         f"decision; this one lacks {sorted(set(space.by_name) - set(probs))[:3]} and gives "
                         f"{sorted(set(probs) - set(space.by_name))[:3]} that are not decisions")
    logp = {k: p.detach().clamp_min(1e-12).log() for k, p in probs.items()}
    choice = dict(choice)
    lat = predictor.of_genotype(space.genotype(choice))
    while lat > target_ms:
        best = None
        for d in space.decisions:
            for c in range(len(d.candidates)):
                if c == choice[d.name] or c in d.never_derived:
                    continue
                trial = {**choice, d.name: c}
                trial_lat = predictor.of_genotype(space.genotype(trial))
                if trial_lat >= lat or not admissible(trial):
                    continue
                score = float(logp[d.name][choice[d.name]] - logp[d.name][c]) / (lat - trial_lat)
                if best is None or score < best[0]:
                    best = (score, trial, trial_lat)
        if best is None:
            raise ValueError(f"no architecture of this space is within latency.target_ms={target_ms}: the "
                             f"fastest this greedy derive reaches is {lat:.3f} ms (one decision at a time, "
                             "within strategy.max_skip); raise the target, the skip cap or shrink the space")
        _, choice, lat = best
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
