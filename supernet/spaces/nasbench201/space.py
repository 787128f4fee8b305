"""NAS-Bench-201's space (Dong & Yang, ICLR 2020) as a list of decisions: one per edge of the
4-node cell, each choosing one of five ops, `none` included (it cuts the edge: a real choice
here, which derive may return).  Every cell of the network shares the six decisions, so a
choice of all six is one of the 15,625 architectures the benchmark trained."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from torch import nn

from ...genotype_json import GenotypeError
from ...latency.parts import LatencyParts
from ..base import Decision, Edge, SearchSpace, register_space
from ..knapsack import Knapsack, Rules
from .config import NB201SpaceConfig
from .genotype import EDGES, NB201_OPS, NODES, SCHEMA, NB201Genotype, genotype_from_dict, parse_arch
from .latency import nb201_latency_model
from .network import NB201Network
from .plot import plot_nb201
from .supernet import NB201Supernet


def edge_name(node: int, source: int) -> str:
    return f"edge_{node}_{source}"


def _cells(model_cfg) -> int:
    if model_cfg.layers % 3 or model_cfg.layers < 3:
        raise ValueError(f"a NAS-Bench-201 network has three stages of N cells: model.layers ({model_cfg.layers}) "
                         "must be a positive multiple of 3 (the benchmark's: recipe=nasbench201, 15 cells of 16 "
                         "channels)")
    return model_cfg.layers // 3


@register_space("nasbench201", NB201SpaceConfig, NB201Genotype, SCHEMA)
class NB201Space(SearchSpace):
    timm_entries = ("supernet_nasbench201",)
    space_yaml = "nasbench201"
    # Without a cap the single-path searches collapse to skip-connects here (proxyless seed 0: all six);
    # 3 (half the edges) is the loosest cap that removed it over three seeds (docs/results.md, 2026-12-03)
    default_max_skip = 3

    def __init__(self, ops: Sequence[str] = NB201_OPS, init_channels: int = 16, cells_per_stage: int = 5,
                 latency_channels: int = 0, latency_cells_per_stage: int = 0):
        bad = [op for op in ops if op not in NB201_OPS]
        if bad or len(set(ops)) != len(ops) or all(op == "none" for op in ops):
            raise ValueError(f"space.ops of NAS-Bench-201 must be distinct ops of {list(NB201_OPS)}, not only none; "
                             f"got {list(ops)}")
        if init_channels < 1 or cells_per_stage < 1:
            raise ValueError(f"space.init_channels and space.cells_per_stage must be >= 1, got {init_channels} and "
                             f"{cells_per_stage}")
        if latency_channels < 0 or latency_cells_per_stage < 0:
            raise ValueError("space.latency_channels and space.latency_cells_per_stage must be >= 0 (0: the "
                             f"supernet's own), got {latency_channels} and {latency_cells_per_stage}")
        self.ops, self.init_channels, self.cells_per_stage = tuple(ops), init_channels, cells_per_stage
        self.deployed = (latency_channels or init_channels, latency_cells_per_stage or cells_per_stage)
        self.decisions = [Decision(edge_name(j, i), "op", self.ops, "cell", j, i, edge_name(j, i), f"{j}<-{i}", ())
                          for j, i in EDGES]
        self.edges = {d.name: Edge(d.name, "cell", 1, self.ops, ((None, d.name),), ()) for d in self.decisions}
        self.by_name = {d.name: d for d in self.decisions}

    @classmethod
    def from_config(cls, cfg) -> "NB201Space":
        return cls(cfg.ops, cfg.init_channels, cfg.cells_per_stage, cfg.latency_channels, cfg.latency_cells_per_stage)

    def genotype(self, choice: Mapping[str, int]) -> NB201Genotype:
        return NB201Genotype(tuple(self.ops[choice[d.name]] for d in self.decisions))

    def choice_of(self, genotype: NB201Genotype) -> dict[str, int]:
        if not isinstance(genotype, NB201Genotype):
            raise ValueError(f"the NAS-Bench-201 space takes its architecture strings, got a {type(genotype).__name__}")
        outside = sorted(set(genotype.edge_ops) - set(self.ops))
        if outside:
            raise ValueError(f"{genotype.arch} uses {outside}, which this space's ops {list(self.ops)} leave out")
        return {d.name: self.ops.index(op) for d, op in zip(self.decisions, genotype.edge_ops)}

    def supernet(self, info) -> NB201Supernet:
        return NB201Supernet(self, info.in_channels, info.num_classes)

    def network(self, genotype: NB201Genotype, info) -> nn.Module:
        """The network of ``genotype`` a hardware target times and its table models (``deployed``)."""
        return NB201Network(genotype, info.in_channels, info.num_classes, *self.deployed)

    def latency_model(self, info) -> LatencyParts:
        return nb201_latency_model(self, info)

    def constant_output(self, genotype: NB201Genotype) -> bool:
        return not any(genotype.live_edges())

    def read_shares(self, real: Mapping[str, Any]) -> dict[str, Any]:
        """Edge j<-i is read when node j is: the output always, node i when some edge out of it
        runs an op and its end is read.  Exact for independent decisions: in this 4-node cell the
        ways a node is read run through disjoint edges."""
        read = [None] * (NODES - 1) + [1.0]
        for i in range(NODES - 2, 0, -1):
            unread = 1.0
            for j in range(i + 1, NODES):
                unread = unread * (1 - real[edge_name(j, i)] * read[j])
            read[i] = 1 - unread
        return {edge_name(j, i): read[j] for j, i in EDGES}

    def reader_edges(self) -> tuple[str, ...]:
        return tuple(edge_name(j, i) for j, i in EDGES if i > 0)

    def slot_counts(self, edge: Edge, source: int, op: int, max_skip: int) -> tuple[int, ...]:
        """Per edge, whether it runs an op (not `none`): what reaching the cell's output needs;
        then whether it is a skip-connect (when ``max_skip`` caps them)."""
        real = tuple(int(d.name == edge.key and edge.ops[op] != "none") for d in self.decisions)
        return real + (int(max_skip >= 0 and edge.ops[op] == "skip_connect"),)

    def count_limits(self, max_skip: int) -> tuple[Optional[int], ...]:
        return (None,) * len(self.decisions) + (max(max_skip, 0),)

    def admissible_counts(self, counts: tuple[int, ...], max_skip: int) -> bool:
        """A path of real ops reaches the cell's output: a network whose every path is cut predicts
        one class whatever the image (10% on CIFAR-10), so no derive returns it, however cheap."""
        edges = counts[:len(self.decisions)]
        return not self.constant_output(NB201Genotype(tuple("skip_connect" if c else "none" for c in edges)))

    def derive_rules(self, choice: dict[str, int], op_scores, max_skip: int, probabilities) -> dict[str, int]:
        """The most probable architecture that computes (a path reaches the output) and has at
        most ``max_skip`` skip-connects (P-DARTS's remedy for the collapse to them; -1: no cap):
        ``choice`` itself when it does, else the exact optimum over the space."""
        if self.admissible(choice, max_skip):
            return choice
        scores = {d.name: probabilities[d.name].detach().clamp_min(1e-12).log() for d in self.decisions}
        return Knapsack(self, Rules(max_skip), lambda edge, s: scores[edge.key][None, :]).most_probable()

    def unread_parts(self, genotype: NB201Genotype) -> list[str]:
        """Edges that run an op off every path from the cell's input to its output, and a cell
        whose output no path reaches (then the network predicts one class for every image)."""
        live = genotype.live_edges()
        if not any(live):
            return ["no path of ops other than none leads from the cell's input to its output: every cell outputs "
                    "zeros, so the network predicts the same class for every image"]
        dead = [f"{j}<-{i} ({op})" for (j, i), op, ok in zip(EDGES, genotype.edge_ops, live) if op != "none" and not ok]
        return [f"edges {', '.join(dead)} run but lie on no path from the cell's input to its output"] if dead else []

    @classmethod
    def parse_genotype(cls, d: Any) -> NB201Genotype:
        return genotype_from_dict(d)

    @classmethod
    def genotype_from_text(cls, text: str) -> Optional[NB201Genotype]:
        return parse_arch(text) if "|" in text and "~" in text else None

    @classmethod
    def retrain_network(cls, genotype: NB201Genotype, model_cfg, info) -> nn.Module:
        """The benchmark's network at ``model.init_channels`` with ``model.layers`` / 3 cells per
        stage; it has no auxiliary head (model.auxiliary does not apply)."""
        if model_cfg.auxiliary:
            warnings.warn("a NAS-Bench-201 network has no auxiliary head: model.auxiliary is ignored "
                          "(recipe=nasbench201 sets it false)")
        return NB201Network(genotype, info.in_channels, info.num_classes, model_cfg.init_channels, _cells(model_cfg),
                            model_cfg.drop_path_prob)

    @classmethod
    def network_record(cls, genotype: NB201Genotype, model_cfg, info) -> dict[str, Any]:
        return {"model": "supernet_nasbench201", "form": "nasbench201", "in_chans": info.in_channels,
                "num_classes": info.num_classes, "layers": model_cfg.layers, "init_channels": model_cfg.init_channels,
                "cells_per_stage": _cells(model_cfg)}

    @classmethod
    def reported_network(cls, genotype: NB201Genotype) -> tuple[str, nn.Module, int]:
        """The benchmark's CIFAR-10 network: 16 channels, 5 cells per stage, 32x32."""
        return "nasbench201 16 channels, 5 cells per stage, 32x32, 10 classes", NB201Network(genotype), 32

    @classmethod
    def plot_genotype(cls, genotype: NB201Genotype, path: Path, title: Optional[str] = None) -> Path:
        return plot_nb201(genotype, path, title)


def nb201_genotype(spec: Any) -> NB201Genotype:
    """An architecture string or NB201Genotype as a genotype (the look-up's and benchmarks' input)."""
    if isinstance(spec, NB201Genotype):
        return spec
    if isinstance(spec, str):
        return parse_arch(spec)
    raise GenotypeError(f"expected a NAS-Bench-201 architecture string, got {spec!r}")
