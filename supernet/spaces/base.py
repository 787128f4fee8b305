"""What every search space is made of, whatever its shape: decisions and edges.

A *decision* is one choice point (the input of a cell slot, the op of a slot, the block of a
chain layer) with its candidates.  An *edge* groups the paths that compete for one place in
the network: a cell node's (source state, op) pairs, filled by two slots; a chain layer's
blocks, filled by one.  Strategies, the latency model and derive see a space only through
these two lists plus :class:`SearchSpace`'s methods, so a new space is one class.

Path weights, the currency of the latency term and of the DARTS relaxation, are per edge a
(sources x ops) matrix: how many times the child runs op ``o`` on source ``s`` there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Protocol

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Decision:
    name: str
    kind: str                       # "input" (which earlier state) | "op" (which op / block)
    candidates: tuple[str, ...]
    group: str                      # normal | reduce (cells), chain
    node: int                       # the cell node, or the chain layer's block index
    slot: int
    edge: str                       # key of the edge this decision fills

    @property
    def none(self) -> list[int]:
        """Candidates that compute nothing and are never derived (`none`; a chain's `zero`
        skips a layer and is a real architecture choice)."""
        return [i for i, c in enumerate(self.candidates) if c == "none"]


@dataclass(frozen=True)
class Edge:
    key: str
    group: str
    sources: int                                 # how many states the paths read from
    ops: tuple[str, ...]
    slots: tuple[tuple[Optional[str], str], ...]  # (input decision or None: the one source, op decision)

    @property
    def none(self) -> list[int]:
        return [i for i, c in enumerate(self.ops) if c == "none"]


class SearchSpace(Protocol):
    """The interface every space offers (CellSpace, ChainSpace)."""
    name: str
    ops: tuple[str, ...]
    decisions: list[Decision]
    by_name: dict[str, Decision]
    edges: dict[str, Edge]

    def genotype(self, choice: Mapping[str, int]) -> Any: ...
    def choice_of(self, genotype: Any) -> dict[str, int]: ...
    def supernet(self, info) -> nn.Module: ...           # forward(x, gates) or forward(x, mixture=weights)
    def network(self, genotype: Any, info) -> nn.Module: ...   # the discrete child
    def latency_model(self, info): ...


def path_weights(space: SearchSpace, probs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Expected use of every path when every decision is drawn independently from ``probs``:
    per edge, the sum over its slots of p_input (outer) p_op.  Differentiable in ``probs``."""
    out = {}
    for key, edge in space.edges.items():
        terms = []
        for input_name, op_name in edge.slots:
            p_op = probs[op_name]
            p_in = probs[input_name] if input_name else p_op.new_ones(1)
            terms.append(torch.outer(p_in, p_op))
        out[key] = sum(terms)
    return out


def derivable(space: SearchSpace, probs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``probs`` conditioned on what derive can return: `none` removed, the rest renormalised.
    The latency term reads these, so that it describes the network derive will produce (a
    `none` counted as a free path would pull probability onto an op that is never derived, and
    meet the target on paper only)."""
    out = {}
    for name, p in probs.items():
        none = space.by_name[name].none
        if none:
            keep = torch.ones_like(p, dtype=torch.bool)
            keep[none] = False
            p = torch.where(keep, p, torch.zeros_like(p))
            p = p / p.sum()
        out[name] = p
    return out


def one_hot(space: SearchSpace, choice: Mapping[str, int]) -> dict[str, Tensor]:
    """The probabilities of a discrete child: one-hot per decision."""
    return {d.name: torch.nn.functional.one_hot(torch.tensor(choice[d.name]), len(d.candidates)).float()
            for d in space.decisions}


def uniform_choice(space: SearchSpace, generator: torch.Generator, allow_none: bool) -> dict[str, int]:
    """A child drawn uniformly from every decision's candidates (`none` excluded unless allowed)."""
    choice = {}
    for d in space.decisions:
        ks = [i for i in range(len(d.candidates)) if allow_none or i not in d.none]
        choice[d.name] = ks[int(torch.randint(len(ks), (), generator=generator))]
    return choice


def fair_children(space: SearchSpace, generator: torch.Generator) -> list[dict[str, int]]:
    """FairNAS's strict fairness: as many children as the largest decision has candidates, each
    decision's column a random permutation of its candidates, so every candidate of every
    decision of that size runs exactly once.  A decision with fewer candidates (a cell's early
    inputs) repeats a fresh permutation, so its candidates run equally often, within one."""
    m = max(len(d.candidates) for d in space.decisions)
    columns = {}
    for d in space.decisions:
        column: list[int] = []
        while len(column) < m:
            column += torch.randperm(len(d.candidates), generator=generator).tolist()
        columns[d.name] = column[:m]
    return [{name: column[i] for name, column in columns.items()} for i in range(m)]
