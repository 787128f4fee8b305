"""Expected latency as a plain differentiable function of the architecture.

E[LAT] = fixed parts + sum over cell instances, nodes, sources and ops of
w[node][src, op] * LUT(op at that instance's shape), where ``w`` is the strategy's
``path_weights()`` (expected number of times each path runs).  The sum-of-ops model misses
what end-to-end runs pay besides the ops (dispatch per op, the adds and concats, memory
traffic): the table's calibration adds ``per_op_ms`` per op run plus ``constant_ms``, both
fitted by least squares on a few end-to-end measurements.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..genotype import Genotype
from .model import LatencyModel
from .table import LatencyTable


class LatencyPredictor:
    def __init__(self, model: LatencyModel, table: LatencyTable):
        missing = table.missing(model.signatures)
        if missing:
            table[missing[0]]   # raises MissingEntryError naming the signature and the command
        self.model, self.table = model, table
        self.fixed_ms = sum(table[s] for s in model.fixed)
        self.matrices = [[torch.tensor([[0.0 if s is None else table[s] for s in row] for row in node])
                          for node in cell.signatures] for cell in model.cells]
        self.runs = torch.tensor([0.0 if op == "none" else 1.0 for op in model.ops])

    def expected(self, path_weights: Mapping[str, Sequence[Tensor]], calibrated: bool = True) -> Tensor:
        """Milliseconds; differentiable in ``path_weights``."""
        ops_ms = ops_run = 0.0
        for cell, matrices in zip(self.model.cells, self.matrices):
            for w, lut in zip(path_weights[cell.kind], matrices):
                ops_ms = ops_ms + (w * lut.to(w)).sum()
                ops_run = ops_run + (w * self.runs.to(w)).sum()
        total = self.fixed_ms + ops_ms
        if calibrated:
            total = total + self.table.calibration.get("per_op_ms", 0.0) * ops_run \
                + self.table.calibration.get("constant_ms", 0.0)
        return total

    def path_weights(self, genotype: Genotype) -> dict[str, list[Tensor]]:
        """One-hot path weights of a discrete architecture (a slot counts once)."""
        out = {}
        for kind, cell in genotype.cells().items():
            ws = []
            for node, slots in enumerate(cell.nodes):
                w = torch.zeros(node + 2, len(self.model.ops))
                for op, src in slots:
                    w[src, self.model.ops.index(op)] += 1
                ws.append(w)
            out[kind] = ws
        return out

    def of_genotype(self, genotype: Genotype, calibrated: bool = True) -> float:
        return self.expected(self.path_weights(genotype), calibrated).item()

    def ops_run(self, genotype: Genotype) -> float:
        """How many ops an end-to-end run of ``genotype`` executes (the calibration's regressor)."""
        weights = self.path_weights(genotype)
        return float(sum((w * self.runs).sum() for cell in self.model.cells for w in weights[cell.kind]))


def fit_calibration(raw_ms: Sequence[float], ops_run: Sequence[float], measured_ms: Sequence[float]) -> dict[str, float]:
    """Least-squares ``measured - raw = per_op_ms * ops_run + constant_ms``.  When every
    measured network runs the same number of ops the two terms cannot be told apart, and only
    the constant is fitted."""
    if len(raw_ms) < 2:
        raise ValueError("calibration needs at least two end-to-end measurements")
    if len(set(ops_run)) == 1:
        return {"per_op_ms": 0.0, "constant_ms": sum(m - r for m, r in zip(measured_ms, raw_ms)) / len(raw_ms)}
    A = torch.tensor([[float(n), 1.0] for n in ops_run], dtype=torch.float64)
    b = torch.tensor([m - r for m, r in zip(measured_ms, raw_ms)], dtype=torch.float64)[:, None]
    per_op, constant = torch.linalg.lstsq(A, b).solution[:, 0].tolist()
    return {"per_op_ms": per_op, "constant_ms": constant}
