"""The cell genotype: a discrete NASNet/DARTS cell architecture (schema ``supernet.genotype/v1``).

State indices inside a cell: 0 is the output of the cell two back, 1 of the previous cell,
``2 + i`` is intermediate node ``i``.  Each node is a NASNet block: two slots, each an
``(op, input)`` pair, combined by add; the cell output concatenates the states in ``concat``.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from ...genotype_json import GenotypeError
from ...ops import OPS, mbconv_params

SCHEMA = "supernet.genotype/v1"


@dataclass(frozen=True)
class CellGenotype:
    nodes: tuple[tuple[tuple[str, int], tuple[str, int]], ...]
    concat: tuple[int, ...]

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [[{"op": op, "input": src} for op, src in node] for node in self.nodes],
            "concat": list(self.concat),
        }


@dataclass(frozen=True)
class Genotype:
    normal: CellGenotype
    reduce: CellGenotype

    def cells(self) -> dict[str, CellGenotype]:
        return {"normal": self.normal, "reduce": self.reduce}

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "normal": self.normal.to_dict(),
                               "reduce": self.reduce.to_dict()}
        if meta:
            out["meta"] = meta
        return out

    def summary(self) -> str:
        return "\n".join(f"{name}: " + ", ".join(f"{op}({src})" for node in cell.nodes for op, src in node)
                         + f" -> concat {list(cell.concat)}" for name, cell in self.cells().items())

    def op_histogram(self) -> dict[str, dict[str, int]]:
        """Per cell, how many slots use each op: the collapse diagnostic (all skip_connect)."""
        return {name: dict(Counter(op for node in cell.nodes for op, _ in node))
                for name, cell in self.cells().items()}

    def ops(self) -> set[str]:
        return {op for cell in self.cells().values() for node in cell.nodes for op, _ in node}


def _cell_from_dict(d: Any, where: str, known_ops: Sequence[str] | None) -> CellGenotype:
    if not isinstance(d, dict):
        raise GenotypeError(f"{where}: expected an object with 'nodes' and 'concat', got {type(d).__name__}")
    for key in ("nodes", "concat"):
        if key not in d:
            raise GenotypeError(f"{where}.{key}: missing")
    if not isinstance(d["nodes"], list) or not d["nodes"]:
        raise GenotypeError(f"{where}.nodes: expected a non-empty list of nodes")
    nodes = []
    for i, node in enumerate(d["nodes"]):
        at = f"{where}.nodes[{i}]"
        if not isinstance(node, list) or len(node) != 2:
            raise GenotypeError(f"{at}: a node has exactly two slots (got {node!r})")
        slots = []
        for s, slot in enumerate(node):
            sat = f"{at}[{s}]"
            if not isinstance(slot, dict) or set(slot) != {"op", "input"}:
                raise GenotypeError(f"{sat}: expected {{'op': name, 'input': state index}}, got {slot!r}")
            op, src = slot["op"], slot["input"]
            if not isinstance(op, str) or (known_ops is not None and op not in known_ops):
                raise GenotypeError(f"{sat}.op: unknown op {op!r}; known ops: {', '.join(sorted(known_ops or []))}")
            if not isinstance(src, int) or isinstance(src, bool) or not 0 <= src < i + 2:
                raise GenotypeError(f"{sat}.input: {src!r} is not an earlier state of node {i} (0..{i + 1})")
            slots.append((op, src))
        nodes.append(tuple(slots))
    concat = d["concat"]
    n_states = len(nodes) + 2
    if (not isinstance(concat, list) or not concat
            or any(not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < n_states for c in concat)):
        raise GenotypeError(f"{where}.concat: expected a non-empty list of state indices in 0..{n_states - 1}, "
                            f"got {concat!r}")
    return CellGenotype(tuple(nodes), tuple(concat))


def genotype_from_dict(d: Any, known_ops: Sequence[str] | None = None) -> Genotype:
    """Validate and build; ``known_ops`` defaults to the op registry."""
    if known_ops is None:
        known_ops = list(OPS)
    if not isinstance(d, dict):
        raise GenotypeError(f"genotype: expected a JSON object, got {type(d).__name__}")
    if d.get("schema") != SCHEMA:
        raise GenotypeError(f"schema: expected {SCHEMA!r}, got {d.get('schema')!r}")
    genotype = Genotype(_cell_from_dict(d.get("normal"), "normal", known_ops),
                        _cell_from_dict(d.get("reduce"), "reduce", known_ops))
    for problem in suspicious(genotype):
        warnings.warn(f"genotype {problem}; it trains, but probably not as meant")
    return genotype


def suspicious(genotype: Genotype) -> list[str]:
    """What a valid cell genotype holds that is probably a mistake: a node whose two slots are
    both `none` (it is zero), a node nothing reads (neither a later node nor the concat: its ops
    run for nothing), a chain block in a cell."""
    problems = []
    for name, cell in genotype.cells().items():
        read = set(cell.concat) | {src for node in cell.nodes for _, src in node}
        for i, node in enumerate(cell.nodes):
            if all(op == "none" for op, _ in node):
                problems.append(f"{name} node {i}: both slots are none (the node is zero)")
            if i + 2 not in read:
                problems.append(f"{name} node {i}: neither a later node nor the concat {list(cell.concat)} reads it")
        blocks = sorted({op for node in cell.nodes for op, _ in node if mbconv_params(op)})
        if blocks:
            problems.append(f"{name} cell: {blocks} are the chain space's blocks, not cell ops")
    return problems
