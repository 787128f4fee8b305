"""Timing discrete networks end to end on this device under a table's conditions: a derived
network's latency for its genotype.json, a child's for the reward that can use what no table
models, and whether such a figure is comparable with the table's prediction at all."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..latency.table import measurement_meta
from ..spaces.base import SearchSpace, choice_key
from .predict import LatencyPredictor
from .profile import DRIFT, Bench, end_to_end_ms, table_drift


@dataclass
class DeviceMeter:
    space: SearchSpace
    info: object                                # DataInfo: the input the network is timed on
    bench: Bench                                # the table's timing conditions
    cache: dict[tuple, float] = field(default_factory=dict)

    def measure(self, genotype) -> tuple[float, float]:
        """(ms, spread of the repeats) of ``genotype`` end to end."""
        ms = end_to_end_ms(genotype, self.space, self.info, self.bench)
        return ms, self.bench.spreads[-1]

    def child_ms(self, choice: Mapping[str, int]) -> float:
        """A child's end-to-end ms, timed once per child (ProxylessNAS's REINFORCE reward)."""
        key = choice_key(choice)
        if key not in self.cache:
            self.cache[key] = self.measure(self.space.genotype(choice))[0]
        return self.cache[key]

    def not_comparable(self, predictor: LatencyPredictor) -> str | None:
        """Why a latency measured here would not be comparable with ``predictor``'s (None: it
        is): another device or processor, or the table's own ops re-timed here under its
        conditions differ from it by more than DRIFT (a stale table, another host behind the
        same processor name, a busy machine)."""
        meta = predictor.table.meta
        try:
            here = measurement_meta(self.bench.device, self.bench.threads, self.bench.batch_size,
                                    self.bench.dtype, self.bench.warmup, self.bench.repeat)
        except RuntimeError:      # not a torch device (an imported table's phone)
            return f"the table was measured on {meta.get('device')!r}, which is not a device of this machine"
        for key in ("device", "processor"):
            if meta.get(key) != here[key]:
                return f"the table was measured on {key} {meta.get(key)!r}, this machine has {here[key]!r}"
        drift = table_drift(predictor.model, predictor.table, self.bench)
        if abs(drift - 1) > DRIFT:
            return (f"this machine takes {drift:.2f}x the table's time for the table's own ops (measured "
                    f"{meta.get('date')}): a busy machine or a stale table; profile the table again on a quiet "
                    f"machine (move {predictor.table.path} aside, then run supernet-profile)")
        return None
