"""A hardware target inside a search: the table's predictor, the latency target, and how the
latency enters the search: a differentiable arch-loss term for the gradient strategies, a
MnasNet reward factor for the reward-driven ones (from the table or measured on this device by
its :class:`~supernet.hardware.meter.DeviceMeter`), and the hard constraints.  What the strategy
needs (its reward, its child filter) is given to it when it is built
(:attr:`HardwareTarget.strategy_parts`)."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from ..gates import Gate
from ..latency.loss import LOSS_FORMS, DualMultiplier, check_target, latency_loss, mnas_reward
from ..latency.table import MissingEntryError, load_table
from ..spaces.base import SearchSpace, space_class
from .constraint import RejectOverTarget, Rules, constrained_candidates, latency_bounds, ms_up
from .meter import DeviceMeter
from .predict import LatencyPredictor
from .profile import Bench

REWARD_SOURCES = ("table", "measured")
log = logging.getLogger(__name__)


@dataclass
class HardwareTarget:
    """The latency target of a search and what it does to it: the arch loss's latency term
    (with the adaptive multiplier of latency.loss=lagrange), the table's prediction of any
    child, and the derive within the target; timing on the device is its ``meter``'s."""
    space: SearchSpace
    predictor: LatencyPredictor
    target_ms: float | None
    cfg: object                                 # LatencyConfig
    meter: DeviceMeter                          # end-to-end timing under the table's conditions
    strategy_parts: dict[str, Any] = dataclasses.field(default_factory=dict)   # build_strategy(..., **these)
    multiplier: DualMultiplier | None = None    # latency.loss=lagrange: the adaptive weight

    def expected(self, strategy) -> Tensor:
        return self.predictor.expected(strategy.path_weights())

    def arch_loss(self, ce: Tensor, strategy) -> Tensor:
        if self.cfg.loss == "none" or strategy.reward_driven:   # their latency is in their reward
            return ce
        weight = self.multiplier.value if self.multiplier else self.cfg.weight
        return latency_loss(ce, self.expected(strategy), self.target_ms, self.cfg.loss, weight, self.cfg.beta)

    def after_arch_step(self, strategy) -> None:
        """Dual ascent on the latency weight (latency.loss=lagrange) with the expected latency
        the arch step left."""
        if self.multiplier and not strategy.reward_driven:
            with torch.no_grad():
                self.multiplier.update(self.expected(strategy).item(), self.target_ms)

    def state_dict(self) -> dict[str, float]:
        return {"multiplier": self.multiplier.value} if self.multiplier else {}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        if self.multiplier:
            self.multiplier.value = state.get("multiplier", 0.0)

    def of_genotype(self, genotype) -> float:
        return self.predictor.of_genotype(genotype)

    def of_choice(self, choice: Mapping[str, int]) -> float:
        return self.of_genotype(self.space.genotype(choice))

    def of_gates(self, gates: Mapping[str, Gate]) -> float:
        return self.of_choice({k: g.active for k, g in gates.items()})

    def derive(self, strategy):
        return self.space.genotype(self.candidates(strategy, 1)[0])

    def candidates(self, strategy, k: int) -> list[dict[str, int]]:
        """Up to ``k`` of the most probable choices the derive may return, its own first: within the
        target when the derive is constrained."""
        if not self.cfg.constrained_derive:
            return strategy.candidates(k)
        return [c.choice for c in constrained_candidates(self.space, strategy.slot_scores, self.predictor,
                                                         self.derive_ms, strategy.rules, self.cfg.derive_floor, k)]

    @property
    def derive_ms(self) -> float:
        return derive_ms(self.target_ms, self.cfg.derive_margin)

def _override(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override(v) for v in value) + "]"
    return str(value)


def profile_command(cfg, info) -> str:
    """The profile_latency.py command that measures ``cfg``'s table for exactly its space,
    input size and hardware settings (each spelled out: the profile app has its own defaults)."""
    group = space_class(cfg.space.name).space_yaml
    fields = [f"{prefix}.{k}={_override(v)}" for prefix, c in (("hardware", cfg.hardware), ("space", cfg.space))
              for k, v in dataclasses.asdict(c).items() if not (prefix == "space" and k == "name")]
    return (f"supernet-profile data={cfg.data.name} data.image_size={info.image_size} "
            f"space={group} " + " ".join(fields))


def run_target(latency_target_ms: float | None, hardware_target_ms: float | None) -> float | None:
    """The target a run aims at: ``latency.target_ms``, else its hardware target's."""
    return latency_target_ms if latency_target_ms is not None else hardware_target_ms


def derive_ms(target_ms: float, margin: float) -> float:
    """What a constrained derive's table latency may reach: the target less the margin."""
    return target_ms * (1 - margin)


def check_reachable(predictor: LatencyPredictor, target_ms: float, hardware: str, rules: Rules,
                    margin: float = 0.0) -> None:
    """Refuse a target below the cheapest network derive may return (its rules, the skip cap
    included; ``margin``: the constrained derive's, which aims under the target); say when it is
    above the dearest (then the latency term has nothing to do)."""
    low, high = latency_bounds(predictor.space, predictor, rules)
    aim = derive_ms(target_ms, margin)
    if aim < low - 1e-9 * max(low, 1.0):
        what = f"latency.target_ms={target_ms}" + (f" less latency.derive_margin={margin} ({aim:.4f} ms)"
                                                   if margin else "")
        raise ValueError(f"{what} is below the cheapest network derive may return in this space "
                         f"on {hardware} ({ms_up(low)} ms with strategy.max_skip={rules.max_skip}; the dearest is "
                         f"{high:.4f} ms): raise the target, the skip cap or shrink the space")
    if target_ms > high:
        log.warning(f"latency.target_ms={target_ms} is above the dearest network of this space on {hardware} "
                    f"({high:.3f} ms): every architecture meets it, and the latency term only slows the search")


def hardware_target(cfg, space: SearchSpace, info, strategy_cls) -> HardwareTarget | None:
    """The search's hardware target (None without a table) for a strategy of class
    ``strategy_cls``: checks everything before training, and says in ``strategy_parts`` what the
    strategy is built with: the latency-aware reward of a reward-driven strategy, the rejection
    of children over the target."""
    hw_cfg, lat = cfg.hardware, cfg.latency
    if lat.loss not in LOSS_FORMS + ("none",):
        raise ValueError(f"unknown latency.loss {lat.loss!r}; choose one of {', '.join(LOSS_FORMS)} or none")
    if lat.reward not in REWARD_SOURCES:
        raise ValueError(f"unknown latency.reward {lat.reward!r}; choose one of {', '.join(REWARD_SOURCES)}")
    if not hw_cfg.table:
        return None
    target = run_target(lat.target_ms, hw_cfg.target_ms)
    if target is None and (lat.loss != "none" or lat.constrained_derive or lat.reject_over_target):
        raise ValueError(f"hardware {hw_cfg.name} has no target: set latency.target_ms=<ms> (or hardware.target_ms)")
    if target is not None and lat.loss != "none":
        check_target(lat.loss, target)
    if not 0 <= lat.derive_margin < 1:
        raise ValueError(f"latency.derive_margin is the share of the target kept free for the table's error: it must "
                         f"be in [0, 1), got {lat.derive_margin}")
    if lat.reject_over_target and not strategy_cls.samples_children:
        raise ValueError(f"latency.reject_over_target resamples the weight step's children, and {strategy_cls.name} "
                         "trains the mixture of every path instead: use latency.constrained_derive with it")
    if lat.reject_over_target and cfg.trainer.strict_fairness:
        raise ValueError("latency.reject_over_target resamples the weight step's children, and "
                         "trainer.strict_fairness trains every candidate in every step: choose one of the two")
    table = load_table(hw_cfg.table, hw_cfg.name, hw_cfg.batch_size, hw_cfg.dtype, hw_cfg.allow_mismatch)
    try:
        predictor = LatencyPredictor(space, space.latency_model(info), table)
    except MissingEntryError as e:
        if "imported" in table.meta:
            raise
        raise MissingEntryError(e.signature, e.table, "measure the missing entries for this space and input "
                                f"size with: {profile_command(cfg, info)}") from None
    if target is not None:
        check_reachable(predictor, target, hw_cfg.name, strategy_cls.rules_for(space, cfg.strategy),
                        lat.derive_margin if lat.constrained_derive else 0.0)
    if not predictor.calibration and "imported" not in table.meta:
        log.warning(f"{hw_cfg.table} has no calibration for this network configuration: its latencies are the raw sum "
                    "of the ops, which misses what an end-to-end run pays besides them; fit one with: "
                    f"{profile_command(cfg, info)}")
    bench = Bench(hw_cfg.device, hw_cfg.dtype, hw_cfg.batch_size, threads=table.meta["threads"])   # as the table was
    out = HardwareTarget(space, predictor, target, lat, DeviceMeter(space, info, bench),
                         multiplier=DualMultiplier(lat.dual_lr) if lat.loss == "lagrange" else None)
    if lat.loss != "none" and strategy_cls.reward_driven:
        latency = out.meter.child_ms if lat.reward == "measured" else out.of_choice
        out.strategy_parts["reward"] = mnas_reward(latency, target, lat.reward_exponent)
    if lat.reject_over_target:
        out.strategy_parts["child_filter"] = RejectOverTarget(out.of_gates, target, lat.max_tries)
    return out
