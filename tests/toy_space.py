"""A toy space family defined in the test folder alone, to show that a new family is one module
(here) plus its registration: a stem, ``layers`` layers that each pick one op of ``ops``
(channels kept), a linear head.  :func:`registered` adds it to the space registry for one
test and removes it after."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional

from matplotlib.figure import Figure
from torch import nn

from supernet.canvas import save_figure
from supernet.gates import apply_gate
from supernet.genotype_json import SCHEMAS, GenotypeError
from supernet.latency.parts import Head, LatencyParts
from supernet.ops import build_op, search_op
from supernet.spaces.base import SPACES, Decision, Edge, SearchSpace, SpaceConfig, register_space

SCHEMA = "tests.toy_genotype/v1"


@dataclass
class ToyConfig(SpaceConfig):
    name: str = "toy"
    ops: List[str] = field(default_factory=lambda: ["skip_connect", "max_pool_3x3", "sep_conv_3x3"])
    layers: int = 2
    channels: int = 4


@dataclass(frozen=True)
class ToyGenotype:
    ops: tuple[str, ...]

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        return {"schema": SCHEMA, "ops": list(self.ops), **({"meta": meta} if meta else {})}

    def op_histogram(self) -> dict[str, dict[str, int]]:
        return {"toy": dict(Counter(self.ops))}


def _stem(in_channels: int, C: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))


class ToySupernet(nn.Module):
    def __init__(self, space: "ToySpace", info):
        super().__init__()
        self.stem = _stem(info.in_channels, space.channels)
        self.layers = nn.ModuleList(nn.ModuleList(search_op(op, space.channels, space.channels, 1) for op in space.ops)
                                    for _ in range(space.layers))
        self.head = Head(space.channels, info.num_classes)

    def forward(self, x, gates=None, mixture=None):
        x = self.stem(x)
        for i, ops in enumerate(self.layers):
            name = f"layer{i}"
            if mixture is not None:
                x = sum(w * op(x) for w, op in zip(mixture[name][0], ops))
            else:
                gate = gates[name]
                x = apply_gate(ops[gate.active](x), gate, lambda k, x=x, ops=ops: ops[k](x))
        return self.head(x)


class ToyNetwork(nn.Module):
    """The discrete network; the retrain loop sets ``drop_path_prob`` and calls ``forward_with_aux``."""

    def __init__(self, genotype: ToyGenotype, in_channels: int, num_classes: int, C: int):
        super().__init__()
        self.stem = _stem(in_channels, C)
        self.layers = nn.Sequential(*(build_op(op, C, C, 1, True) for op in genotype.ops))
        self.head = Head(C, num_classes)
        self.drop_path_prob = 0.0

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))

    def forward_with_aux(self, x):
        return self.forward(x), None


def parse(d: Any) -> ToyGenotype:
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise GenotypeError(f"schema: expected {SCHEMA!r}")
    if not isinstance(d.get("ops"), list) or not all(isinstance(op, str) for op in d["ops"]):
        raise GenotypeError("ops: expected a list of op names")
    return ToyGenotype(tuple(d["ops"]))


class ToySpace(SearchSpace):
    def __init__(self, ops, layers: int, channels: int):
        self.ops, self.layers, self.channels = tuple(ops), layers, channels
        self.decisions = [Decision(f"layer{i}", "op", self.ops, "toy", i, 0, f"layer{i}") for i in range(layers)]
        self.edges = {d.name: Edge(d.name, "toy", 1, self.ops, ((None, d.name),)) for d in self.decisions}
        self.by_name = {d.name: d for d in self.decisions}

    @classmethod
    def from_config(cls, cfg) -> "ToySpace":
        return cls(cfg.ops, cfg.layers, cfg.channels)

    def genotype(self, choice: Mapping[str, int]) -> ToyGenotype:
        return ToyGenotype(tuple(self.ops[choice[d.name]] for d in self.decisions))

    def choice_of(self, genotype) -> dict[str, int]:
        if not isinstance(genotype, ToyGenotype) or len(genotype.ops) != self.layers:
            raise ValueError(f"not a genotype of this {self.layers}-layer toy space: {genotype!r}")
        return {d.name: self.ops.index(op) for d, op in zip(self.decisions, genotype.ops)}

    def supernet(self, info) -> nn.Module:
        return ToySupernet(self, info)

    def network(self, genotype, info) -> nn.Module:
        return ToyNetwork(genotype, info.in_channels, info.num_classes, self.channels)

    def latency_model(self, info) -> LatencyParts:
        C, h = self.channels, info.image_size
        model = LatencyParts(self.name)
        model.fixed.append(model.add(f"stem|cin{info.in_channels}|c{C}|{h}x{h}", lambda: _stem(info.in_channels, C),
                                     (info.in_channels, h, h)))
        for d in self.decisions:
            model.units.append((d.name, [[model.add(f"{op}|c{C}|{h}x{h}|s1", lambda op=op: build_op(op, C, C, 1, True),
                                                    (C, h, h)) for op in self.ops]]))
        model.fixed.append(model.add(f"head|c{C}|cls{info.num_classes}", lambda: Head(C, info.num_classes), (C, h, h)))
        return model

    @classmethod
    def parse_genotype(cls, d: Any) -> ToyGenotype:
        return parse(d)

    @classmethod
    def retrain_network(cls, genotype, model_cfg, info) -> nn.Module:
        return ToyNetwork(genotype, info.in_channels, info.num_classes, model_cfg.init_channels)

    @classmethod
    def network_record(cls, genotype, model_cfg, info) -> dict[str, Any]:
        return {"model": "toy", "form": "toy", "in_chans": info.in_channels, "num_classes": info.num_classes,
                "layers": len(genotype.ops), "init_channels": model_cfg.init_channels}

    @classmethod
    def reported_network(cls, genotype) -> tuple[str, nn.Module, int]:
        return "toy 8x8, 10 classes, 4 channels", ToyNetwork(genotype, 3, 10, 4), 8

    @classmethod
    def plot_genotype(cls, genotype, path: Path, title: Optional[str] = None) -> Path:
        fig = Figure(figsize=(4, 1))
        fig.text(0.05, 0.5, " -> ".join(genotype.ops), va="center")
        return save_figure(fig, path)


@contextmanager
def registered():
    """The toy family in the registry while the block runs."""
    register_space("toy", ToyConfig, ToyGenotype, SCHEMA)(ToySpace)
    try:
        yield ToySpace
    finally:
        SPACES.pop("toy", None)
        SCHEMAS.pop(SCHEMA, None)

