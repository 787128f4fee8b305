"""The NAS-Bench-201 genotype: one op per edge of the benchmark's 4-node cell, written as the
benchmark's architecture string (``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|``), so
that a derived architecture is looked up in the benchmark's tables as it is.  Schema
``supernet.nasbench201_genotype/v1``: ``{"schema": ..., "arch": "<string>"}``.

Node ``j`` (1..3) is the sum over ``i < j`` of ``op(node i)``; node 0 is the cell's input and
node 3 its output.  The string lists node 1's edge, then node 2's two, then node 3's three, each
``op~i``, the nodes joined by ``+``.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ...genotype_json import GenotypeError

SCHEMA = "supernet.nasbench201_genotype/v1"
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4
EDGES = tuple((j, i) for j in range(1, NODES) for i in range(j))    # (node, source), the string's order


@dataclass(frozen=True)
class NB201Genotype:
    edge_ops: tuple[str, ...]           # one op per edge, in EDGES order

    @property
    def arch(self) -> str:
        """The benchmark's architecture string."""
        nodes = [[f"{op}~{i}" for (j, i), op in zip(EDGES, self.edge_ops) if j == node] for node in range(1, NODES)]
        return "+".join("|" + "|".join(node) + "|" for node in nodes)

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        return {"schema": SCHEMA, "arch": self.arch, **({"meta": meta} if meta else {})}

    def summary(self) -> str:
        return self.arch

    def op_histogram(self) -> dict[str, dict[str, int]]:
        return {"cell": dict(Counter(self.edge_ops))}

    def ops(self) -> set[str]:
        return set(self.edge_ops)

    def live_edges(self) -> list[bool]:
        """Per edge, whether it runs an op on a path from the cell's input to its output: an
        edge off every such path computes on zeros or feeds nothing that is used."""
        real = [op != "none" for op in self.edge_ops]
        reached = [True] + [False] * (NODES - 1)           # a path from node 0 reaches node j
        for e, (j, i) in enumerate(EDGES):
            reached[j] = reached[j] or (real[e] and reached[i])
        used = [False] * (NODES - 1) + [True]              # node i is read on a path to node 3
        for e, (j, i) in reversed(list(enumerate(EDGES))):
            used[i] = used[i] or (real[e] and used[j])
        return [real[e] and reached[i] and used[j] for e, (j, i) in enumerate(EDGES)]


def parse_arch(text: Any, ops: tuple[str, ...] = NB201_OPS) -> NB201Genotype:
    """The genotype of an architecture string; what is wrong with a malformed one is said
    (which node, which edge, the op or input index that is off)."""
    if not isinstance(text, str):
        raise GenotypeError(f"arch: expected a NAS-Bench-201 architecture string, got {type(text).__name__}")
    nodes = text.split("+")
    if len(nodes) != NODES - 1:
        raise GenotypeError(f"arch {text!r}: expected {NODES - 1} nodes joined by '+', got {len(nodes)}")
    edge_ops = []
    for j, node in enumerate(nodes, start=1):
        if len(node) < 2 or node[0] != "|" or node[-1] != "|":
            raise GenotypeError(f"arch {text!r}: node {j} ({node!r}) must be written |op~i|...| ")
        edges = node[1:-1].split("|")
        if len(edges) != j:
            raise GenotypeError(f"arch {text!r}: node {j} takes {j} edge(s) (from nodes 0..{j - 1}), got {len(edges)}")
        for i, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep:
                raise GenotypeError(f"arch {text!r}: edge {edge!r} of node {j} must be op~input")
            if op not in ops:
                raise GenotypeError(f"arch {text!r}: unknown op {op!r} on node {j}; ops: {', '.join(ops)}")
            if src != str(i):
                raise GenotypeError(f"arch {text!r}: edge {i + 1} of node {j} must read node {i} ({op}~{i}), "
                                    f"got input {src!r}")
            edge_ops.append(op)
    return NB201Genotype(tuple(edge_ops))


def genotype_from_dict(d: Any) -> NB201Genotype:
    if not isinstance(d, dict):
        raise GenotypeError(f"NAS-Bench-201 genotype: expected a JSON object, got {type(d).__name__}")
    if d.get("schema") != SCHEMA:
        raise GenotypeError(f"schema: expected {SCHEMA!r}, got {d.get('schema')!r}")
    if "arch" not in d:
        raise GenotypeError(f"arch: missing; expected a NAS-Bench-201 architecture string such as "
                            f"{NB201Genotype(('nor_conv_3x3',) * len(EDGES)).arch!r}")
    return parse_arch(d["arch"])


def all_genotypes(ops: tuple[str, ...] = NB201_OPS) -> list[NB201Genotype]:
    """Every architecture of the space (5^6 = 15,625 with the benchmark's ops)."""
    return [NB201Genotype(combo) for combo in itertools.product(ops, repeat=len(EDGES))]
