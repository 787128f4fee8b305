"""The NASNet/DARTS cell search space as a list of decisions.

Every node of a cell is a NASNet block with two slots; each slot has an *input* decision
(which earlier state) and an *op* decision (which op on it).  Normal and reduction cells have
their own decisions; every cell of a type shares them, so one choice for every decision is one
child architecture (one genotype).  A node is one edge: (node + 2) sources x ops paths, two
of which the child runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn

from ...latency.parts import LatencyParts
from ...ops import check_ops
from ..base import Decision, Edge, OpScores, SearchSpace, register_space
from .config import CellSpaceConfig
from .genotype import SCHEMA, CellGenotype, Genotype, genotype_from_dict
from .latency import cell_latency_model
from .macro import reduction_layers, unread_cells
from .network import CellNetwork, build_network
from .plot import plot_cells
from .supernet import CellSupernet

CELL_TYPES = ("normal", "reduce")
SLOTS = (0, 1)


def decision_name(cell: str, node: int, slot: int, kind: str) -> str:
    return f"{cell}_n{node}_s{slot}_{kind}"


def edge_key(cell: str, node: int) -> str:
    return f"{cell}_n{node}"


def state_names(n_states: int) -> tuple[str, ...]:
    return ("c_{k-2}", "c_{k-1}") + tuple(f"node{i}" for i in range(n_states - 2))


@register_space("nasnet_cell", CellSpaceConfig, Genotype, SCHEMA)
class CellSpace(SearchSpace):
    """Decisions of the cell space for ``nodes`` intermediate nodes and the op set ``ops``, and
    the macro network that stacks its cells (``layers`` cells of ``init_channels``)."""

    timm_entries = ("supernet_cifar", "supernet_mobile")
    space_yaml = "darts"

    def __init__(self, nodes: int, ops: Sequence[str], layers: int = 5, init_channels: int = 8,
                 stem_multiplier: int = 3, share_inputs: bool = True):
        if nodes < 1 or layers < 1 or init_channels < 1 or stem_multiplier < 1:
            raise ValueError(f"space.nodes, space.layers, space.init_channels and space.stem_multiplier must be >= 1, "
                             f"got {nodes}, {layers}, {init_channels}, {stem_multiplier}")
        check_ops(list(ops))
        if all(op == "none" for op in ops):
            raise ValueError("space.ops needs at least one op other than 'none'")
        self.nodes, self.ops = nodes, tuple(ops)
        self.layers, self.init_channels, self.stem_multiplier = layers, init_channels, stem_multiplier
        self.share_inputs = share_inputs
        self.decisions: list[Decision] = []
        self.edges: dict[str, Edge] = {}
        for cell in CELL_TYPES:
            for node in range(nodes):
                key = edge_key(cell, node)
                for slot in SLOTS:
                    for kind, candidates in (("input", state_names(node + 2)), ("op", self.ops)):
                        self.decisions.append(Decision(decision_name(cell, node, slot, kind), kind, candidates,
                                                       cell, node, slot, key, f"node {node} slot {slot}"))
                self.edges[key] = Edge(key, cell, node + 2, self.ops,
                                       tuple((decision_name(cell, node, s, "input"), decision_name(cell, node, s, "op"))
                                             for s in SLOTS))
        self.by_name = {d.name: d for d in self.decisions}
        self.input_slots = {cell: [d for d in self.decisions if d.kind == "input" and d.group == cell]
                            for cell in CELL_TYPES}     # which state each slot of a cell type reads

    @classmethod
    def from_config(cls, cfg) -> "CellSpace":
        return cls(cfg.nodes, cfg.ops, cfg.layers, cfg.init_channels, cfg.stem_multiplier, cfg.share_inputs)

    def genotype(self, choice: Mapping[str, int]) -> Genotype:
        """The genotype of one discrete choice (candidate index per decision name)."""
        cells = {}
        for cell in CELL_TYPES:
            nodes = tuple(
                tuple((self.ops[choice[decision_name(cell, n, s, "op")]],
                       choice[decision_name(cell, n, s, "input")]) for s in SLOTS)
                for n in range(self.nodes))
            cells[cell] = CellGenotype(nodes, tuple(range(2, self.nodes + 2)))
        return Genotype(**cells)

    def choice_of(self, genotype: Genotype) -> dict[str, int]:
        """Inverse of :meth:`genotype` (for genotypes of this space)."""
        if not isinstance(genotype, Genotype):
            raise ValueError(f"the cell space takes cell genotypes, got a {type(genotype).__name__}")
        choice = {}
        for cell, cg in genotype.cells().items():
            if cg.num_nodes != self.nodes:
                raise ValueError(f"{cell}: genotype has {cg.num_nodes} nodes, the space {self.nodes}")
            if cg.concat != tuple(range(2, self.nodes + 2)):
                raise ValueError(f"{cell}: genotype concatenates states {list(cg.concat)}, this space every "
                                 f"intermediate node {list(range(2, self.nodes + 2))}")
            for n, node in enumerate(cg.nodes):
                for s, (op, src) in enumerate(node):
                    if op not in self.ops:
                        raise ValueError(f"{cell} node {n}: op {op!r} is not in this space's ops {self.ops}")
                    choice[decision_name(cell, n, s, "op")] = self.ops.index(op)
                    choice[decision_name(cell, n, s, "input")] = src
        return choice

    def supernet(self, info) -> CellSupernet:
        return CellSupernet(self, info.in_channels, info.num_classes, self.layers, self.init_channels,
                             self.stem_multiplier)

    def network(self, genotype: Genotype, info) -> nn.Module:
        """The discrete child in the supernet's macro network (what the latency table models)."""
        return CellNetwork(genotype, info.in_channels, info.num_classes, self.layers, self.init_channels,
                               self.stem_multiplier)

    def latency_model(self, info) -> LatencyParts:
        return cell_latency_model(self, info)

    def derive_rules(self, choice: dict[str, int], op_scores: OpScores, max_skip: int,
                     probabilities: Mapping[str, torch.Tensor]) -> dict[str, int]:
        """Every cell reaches the classifier: a cell type whose slots read only c_{k-2} (so the
        cells before it are computed for nothing) reads c_{k-1} in the slot that prefers it most.
        The shared weights favour reading past a reduction cell through the factorized reduce
        every child trains; trained alone, such cells are worse than random ones.  Then P-DARTS's
        remedy for the collapse to skip-connects: at most ``max_skip`` per cell (the strongest by
        ``op_scores``); the others take their slot's best other op."""
        choice, reads = dict(choice), self._reads(choice)
        if unread_cells(reads, self.layers):
            for cell in CELL_TYPES:
                if not reads[cell == "reduce"][1]:
                    slot = max(self.input_slots[cell], key=lambda d: float(probabilities[d.name][1].detach()))
                    choice[slot.name] = 1
        if max_skip < 0 or "skip_connect" not in self.ops:
            return choice
        skips: dict[str, list] = {}
        with torch.no_grad():
            for d in self.decisions:
                if d.kind != "op" or d.candidates[choice[d.name]] != "skip_connect":
                    continue
                scores = op_scores(d, choice[self.edges[d.edge].slots[d.slot][0]]).detach().clone()
                skips.setdefault(d.group, []).append((float(scores[choice[d.name]]), d, scores))
            for group in skips.values():
                group.sort(key=lambda t: -t[0])
                for _, d, scores in group[max_skip:]:
                    banned = [d.candidates.index("skip_connect"), *d.never_derived]
                    if len(banned) == len(d.candidates):
                        raise ValueError("strategy.max_skip needs an op other than skip_connect and none in space.ops")
                    scores[banned] = float("-inf")
                    choice[d.name] = int(scores.argmax())
        return choice

    def slot_counts(self, edge: Edge, source: int, op: int, max_skip: int) -> tuple[int, ...]:
        """Per cell type (normal, reduce): its skip-connects (when capped), whether it reads
        c_{k-2}, whether it reads c_{k-1}."""
        counts = [0] * 3 * len(CELL_TYPES)
        at = 3 * CELL_TYPES.index(edge.group)
        counts[at] = int(max_skip >= 0 and edge.ops[op] == "skip_connect")
        if source < 2:
            counts[at + 1 + source] = 1
        return tuple(counts)

    def count_limits(self, max_skip: int) -> tuple[Optional[int], ...]:
        return (max(max_skip, 0), None, None) * len(CELL_TYPES)

    def admissible_counts(self, counts: tuple[int, ...], max_skip: int) -> bool:
        reads = {cell == "reduce": (bool(counts[3 * i + 1]), bool(counts[3 * i + 2]))
                 for i, cell in enumerate(CELL_TYPES)}
        return not unread_cells(reads, self.layers)

    def _reads(self, choice: Mapping[str, int]) -> dict[bool, tuple[bool, bool]]:
        """Per cell type (keyed by whether it is the reduction): whether a slot reads c_{k-2}, c_{k-1}."""
        return {cell == "reduce": tuple(any(choice[d.name] == src for d in self.input_slots[cell]) for src in (0, 1))
                for cell in CELL_TYPES}

    def unread_parts(self, genotype: Genotype) -> list[str]:
        """Cells of the macro network that no later cell reads on the way to the classifier (a
        cell type that reads only c_{k-2} skips the cell before it).  Derive never returns such
        a genotype; one written by hand or by an older version may be one."""
        reads = self._reads(self.choice_of(genotype))
        unread = unread_cells(reads, self.layers)
        if not unread:
            return []
        reductions = reduction_layers(self.layers)
        which = ", ".join(f"{k} ({'reduction' if k in reductions else 'normal'})" for k in unread)
        skipping = [cell for cell in CELL_TYPES if not reads[cell == "reduce"][1]]
        subject = " and the ".join(skipping) + (" cells read" if len(skipping) > 1 else " cell reads")
        return [f"cells {which} of {self.layers} run but never reach the classifier: the {subject} only c_{{k-2}}, "
                "so they cost latency for nothing"]

    @classmethod
    def parse_genotype(cls, d: Any) -> Genotype:
        return genotype_from_dict(d)

    @classmethod
    def retrain_network(cls, genotype: Genotype, model_cfg, info) -> nn.Module:
        m = model_cfg
        return build_network(genotype, m.form, info.in_channels, info.num_classes, m.layers, m.init_channels,
                             m.stem_multiplier, m.auxiliary, m.drop_path_prob)

    @classmethod
    def network_record(cls, genotype: Genotype, model_cfg, info) -> dict[str, Any]:
        m = model_cfg
        cifar = m.form == "cifar"
        return {"model": "supernet_cifar" if cifar else "supernet_mobile", "form": m.form, "in_chans": info.in_channels,
                "num_classes": info.num_classes, "layers": m.layers, "init_channels": m.init_channels,
                **({"stem_multiplier": m.stem_multiplier} if cifar else {})}

    @classmethod
    def reported_network(cls, genotype: Genotype) -> tuple[str, nn.Module, int]:
        """The DARTS CIFAR-10 network: 36 channels, 20 cells, 32x32."""
        return "cifar 36 channels, 20 cells, 32x32, 10 classes", build_network(genotype, "cifar", 3, 10, 20, 36), 32

    @classmethod
    def plot_genotype(cls, genotype: Genotype, path: Path, title: Optional[str] = None) -> Path:
        return plot_cells(genotype, path, title)
