"""Expected latency as a plain differentiable function of the architecture.

E[LAT] = fixed parts + sum over the model's units (every network position of every edge) of
sum_{src, op} w[edge][src, op] * LUT(signature[src][op]), where ``w`` is the strategy's
``path_weights()`` (expected number of times each path runs).  The sum-of-ops model misses
what end-to-end runs pay besides the ops (dispatch per op, the adds and concats, memory
traffic, caches an op timed alone keeps warm): the table's calibration of this network
configuration scales the sum by ``scale`` and adds ``per_op_ms`` per op run plus ``constant_ms``,
fitted by least squares on end-to-end measurements of children spread over the latency range.

A device whose runtime skips ops whose result nothing reads (``meta.skips_unread_ops`` of its
table: TF-Lite's converter drops them, so on the phones of HW-NAS-Bench a NAS-Bench-201 cell whose
node feeds only `none` edges does not run the ops into that node) pays for a path only as often
as its result is read: the weights are scaled by ``space.read_shares``, still differentiable.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from ..latency.parts import LatencyParts
from ..latency.table import LatencyTable
from ..spaces.base import SearchSpace, one_hot, path_weights


class LatencyPredictor:
    def __init__(self, space: SearchSpace, model: LatencyParts, table: LatencyTable):
        missing = table.missing(model.signatures)
        if missing:
            table[missing[0]]   # raises MissingEntryError naming the signature and the command
        self.space, self.model, self.table = space, model, table
        self.skips_unread = bool(table.meta.get("skips_unread_ops"))
        self.fixed_ms = sum(table[s] for s in model.fixed)
        self.units = [(key, torch.tensor([[0.0 if s is None else table[s] for s in row] for row in sigs],
                                         dtype=torch.float64),
                       torch.tensor([[0.0 if s is None else 1.0 for s in row] for row in sigs], dtype=torch.float64))
                      for key, sigs in model.units]

    def read(self, weights: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """The path ``weights`` of what the device runs."""
        return read_weights(self.space, self.model, weights) if self.skips_unread else weights

    def expected(self, weights: Mapping[str, Tensor], calibrated: bool = True) -> Tensor:
        """Milliseconds; differentiable in the path ``weights``."""
        weights = self.read(weights)
        ops_ms = ops_run = 0.0
        for key, lut, runs in self.units:
            w = weights[key]
            ops_ms = ops_ms + (w * lut.to(w)).sum()
            ops_run = ops_run + (w * runs.to(w)).sum()
        total = self.fixed_ms + ops_ms
        if calibrated:
            cal = self.calibration
            total = (cal.get("scale", 1.0) * total + cal.get("per_op_ms", 0.0) * ops_run
                     + cal.get("constant_ms", 0.0))
        return total

    @property
    def calibration(self) -> dict[str, float]:
        """This network configuration's calibration; none (the raw sum, as ProxylessNAS used its
        tables) until profile_latency.py fits one."""
        return self.table.calibration.get(self.model.key, {})

    def path_weights(self, genotype: Any) -> dict[str, Tensor]:
        """Path weights of a discrete architecture of the space (a path counts once per slot), in
        float64: a table latency is compared with targets and sums exactly."""
        one = {k: p.double() for k, p in one_hot(self.space, self.space.choice_of(genotype)).items()}
        return path_weights(self.space, one)

    def of_genotype(self, genotype: Any, calibrated: bool = True) -> float:
        return self.expected(self.path_weights(genotype), calibrated).item()

    def ops_run(self, genotype: Any) -> float:
        """How many ops an end-to-end run of ``genotype`` executes (the calibration's regressor)."""
        weights = self.read(self.path_weights(genotype))
        return float(sum((weights[key] * runs).sum() for key, _, runs in self.units))


def read_weights(space: SearchSpace, model: LatencyParts, weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Each edge's path ``weights`` times the probability that its result is read (what a device
    that skips unread ops runs); an edge runs an op with the weight of its signatures that run."""
    real = {}
    for key, sigs in model.units:
        if key not in real:
            w = weights[key]
            real[key] = sum(w[s, o] for s, row in enumerate(sigs) for o, sig in enumerate(row) if sig) / w.sum()
    shares = space.read_shares(real)
    return {key: w * shares.get(key, 1.0) for key, w in weights.items()}


def fit_calibration(raw_ms: Sequence[float], ops_run: Sequence[float],
                    measured_ms: Sequence[float]) -> dict[str, float]:
    """Least-squares ``measured = scale * raw + per_op_ms * ops_run + constant_ms``.  When every
    measured network runs the same number of ops (every child of a cell space without `none`
    does) the per-op term cannot be told from the constant and is 0; a scale that is not
    positive (too few or too alike networks) is held at 1."""
    if len(raw_ms) < 3:
        raise ValueError("calibration needs at least three end-to-end measurements (calibration_children >= 3)")
    per_op = len(set(ops_run)) > 1

    def solve(scaled: bool) -> list[float]:
        A = [[r] * scaled + [float(n)] * per_op + [1.0] for r, n in zip(raw_ms, ops_run)]
        b = [[m - r * (not scaled)] for m, r in zip(measured_ms, raw_ms)]
        return torch.linalg.lstsq(torch.tensor(A, dtype=torch.float64),
                                  torch.tensor(b, dtype=torch.float64)).solution[:, 0].tolist()

    scale, *rest = solve(True)
    if scale <= 0:
        scale, rest = 1.0, solve(False)
    return {"scale": scale, "per_op_ms": rest[0] if per_op else 0.0, "constant_ms": rest[-1]}
