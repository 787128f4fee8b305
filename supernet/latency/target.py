"""A hardware target inside a search: the table's predictor, the latency target, and how the
expected latency enters the arch loss and the derive."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from torch import Tensor

from ..gates import Gate
from ..genotype import Genotype
from ..space import CellSpace
from .constraint import constrained_choice, install_rejection
from .loss import LOSS_FORMS, latency_loss
from .model import LatencyModel
from .predict import LatencyPredictor
from .table import load_table


@dataclass
class HardwareTarget:
    space: CellSpace
    predictor: LatencyPredictor
    target_ms: float | None
    cfg: object                                 # LatencyConfig

    def expected(self, strategy) -> Tensor:
        return self.predictor.expected(strategy.path_weights())

    def arch_loss(self, ce: Tensor, strategy) -> Tensor:
        if self.cfg.loss == "none":
            return ce
        return latency_loss(ce, self.expected(strategy), self.target_ms, self.cfg.loss, self.cfg.weight, self.cfg.beta)

    def of_genotype(self, genotype: Genotype) -> float:
        return self.predictor.of_genotype(genotype)

    def of_gates(self, gates: Mapping[str, Gate]) -> float:
        return self.of_genotype(self.space.genotype({k: g.active for k, g in gates.items()}))

    def derive(self, strategy) -> Genotype:
        genotype = strategy.derive()
        if not self.cfg.constrained_derive:
            return genotype
        choice = constrained_choice(self.space, strategy.probabilities(), self.predictor, self.target_ms,
                                    self.space.choice_of(genotype))
        return self.space.genotype(choice)


def hardware_target(cfg, space: CellSpace, info, strategy) -> HardwareTarget | None:
    """The search's hardware target (None without a table); checks everything before training."""
    hw, lat = cfg.hardware, cfg.latency
    if not hw.table:
        return None
    if lat.loss not in LOSS_FORMS + ("none",):
        raise ValueError(f"unknown latency.loss {lat.loss!r}; choose one of {', '.join(LOSS_FORMS)} or none")
    target = lat.target_ms if lat.target_ms is not None else hw.target_ms
    if target is None and (lat.loss != "none" or lat.constrained_derive or lat.reject_over_target):
        raise ValueError(f"hardware {hw.name} has no target: set latency.target_ms=<ms> (or hardware.target_ms)")
    table = load_table(hw.table, hw.name, hw.batch_size, hw.dtype, hw.allow_mismatch)
    predictor = LatencyPredictor(LatencyModel(cfg.space, info), table)
    out = HardwareTarget(space, predictor, target, lat)
    if lat.reject_over_target:
        install_rejection(strategy, out.of_gates, target, lat.max_tries)
    return out
