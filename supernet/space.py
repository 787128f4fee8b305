"""The NASNet/DARTS cell search space as a list of decisions.

Every node of a cell is a NASNet block with two slots; each slot has an *input* decision
(which earlier state) and an *op* decision (which op on it).  Normal and reduction cells have
their own decisions; every cell of a type shares them, so one choice for every decision is one
child architecture (one genotype).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .genotype import CellGenotype, Genotype
from .ops import check_ops

CELL_TYPES = ("normal", "reduce")
SLOTS = (0, 1)


@dataclass(frozen=True)
class Decision:
    name: str
    cell: str
    node: int
    slot: int
    kind: str                       # "input" | "op"
    candidates: tuple[str, ...]


def decision_name(cell: str, node: int, slot: int, kind: str) -> str:
    return f"{cell}_n{node}_s{slot}_{kind}"


def state_names(n_states: int) -> tuple[str, ...]:
    return ("c_{k-2}", "c_{k-1}") + tuple(f"node{i}" for i in range(n_states - 2))


class CellSpace:
    """Decisions of the cell space for ``nodes`` intermediate nodes and the op set ``ops``."""

    def __init__(self, nodes: int, ops: Sequence[str]):
        if nodes < 1:
            raise ValueError(f"space.nodes must be >= 1, got {nodes}")
        check_ops(list(ops))
        if all(op == "none" for op in ops):
            raise ValueError("space.ops needs at least one op other than 'none'")
        self.nodes, self.ops = nodes, tuple(ops)
        self.decisions: list[Decision] = []
        for cell in CELL_TYPES:
            for node in range(nodes):
                for slot in SLOTS:
                    self.decisions.append(Decision(decision_name(cell, node, slot, "input"), cell, node,
                                                   slot, "input", state_names(node + 2)))
                    self.decisions.append(Decision(decision_name(cell, node, slot, "op"), cell, node,
                                                   slot, "op", self.ops))
        self.by_name = {d.name: d for d in self.decisions}

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
        choice = {}
        for cell, cg in genotype.cells().items():
            if cg.num_nodes != self.nodes:
                raise ValueError(f"{cell}: genotype has {cg.num_nodes} nodes, the space {self.nodes}")
            for n, node in enumerate(cg.nodes):
                for s, (op, src) in enumerate(node):
                    if op not in self.ops:
                        raise ValueError(f"{cell} node {n}: op {op!r} is not in this space's ops {self.ops}")
                    choice[decision_name(cell, n, s, "op")] = self.ops.index(op)
                    choice[decision_name(cell, n, s, "input")] = src
        return choice
