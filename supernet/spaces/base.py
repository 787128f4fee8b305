"""The generic space interface, whatever a space's shape: decisions, edges, and the
:class:`SearchSpace` base class every family subclasses and registers.

A *decision* is one choice point (the input of a cell slot, the op of a slot, the block of a
chain layer) with its candidates.  An *edge* groups the paths that compete for one place in
the network: a cell node's (source state, op) pairs, filled by two slots; a chain layer's
blocks, filled by one.  Strategies, the latency model and derive see a space only through
these two lists plus :class:`SearchSpace`'s methods; retrain, cost counting, pictures, genotype
loading and the timm entries ask the registry (:func:`family_of`) instead of testing types, so
a new space family is one package under ``supernet/spaces/`` plus one yaml.

Path weights, the currency of the latency term and of the DARTS relaxation, are per edge a
(sources x ops) matrix: how many times the child runs op ``o`` on source ``s`` there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Optional

import torch
from omegaconf import MISSING, OmegaConf
from torch import Tensor, nn

from ..genotype_json import GenotypeError, register_schema


@dataclass(frozen=True)
class Decision:
    name: str
    kind: str                       # "input" (which earlier state) | "op" (which op / block)
    candidates: tuple[str, ...]
    group: str                      # normal | reduce (cells), chain
    node: int                       # the cell node, or the chain layer's block index
    slot: int
    edge: str                       # key of the edge this decision fills
    label: str = ""                 # how pictures name it (default: its name)
    underivable: tuple[str, ...] = ("none",)    # candidates derive never returns

    @property
    def never_derived(self) -> list[int]:
        """Candidates that derive never returns: `none` in a NASNet cell, where it only stands for
        an unchosen input (a chain's `zero` skips a layer, and NAS-Bench-201's `none` cuts an
        edge: real architecture choices there)."""
        return [i for i, c in enumerate(self.candidates) if c in self.underivable]


@dataclass(frozen=True)
class Edge:
    key: str
    group: str
    sources: int                                 # how many states the paths read from
    ops: tuple[str, ...]
    slots: tuple[tuple[Optional[str], str], ...]  # (input decision or None: the one source, op decision)
    underivable: tuple[str, ...] = ("none",)    # as its decisions'

    @property
    def never_derived(self) -> list[int]:
        return [i for i, c in enumerate(self.ops) if c in self.underivable]


@dataclass
class SpaceConfig:
    """What every space's config has; each family extends it (``spaces/<family>/config.py``)
    and ``supernet/conf/space/<name>.yaml`` picks it by ``base_<family>``."""
    name: str = MISSING


OpScores = Callable[[Decision, int], Tensor]    # (op decision, the state its slot reads) -> score per op


class SearchSpace:
    """A search space family: its decisions and edges, the networks it builds and what happens
    to its genotypes after a search.  Subclasses set ``decisions``, ``edges`` and ``by_name`` in
    ``__init__`` and are registered with :func:`register_space`; the class-level methods work
    on a genotype alone (a retrain or a picture needs no space instance)."""

    name: ClassVar[str]
    config: ClassVar[type]
    genotype_type: ClassVar[type]
    space_yaml: ClassVar[str] = ""           # a supernet/conf/space/<name>.yaml of this family (the apps compose it)
    default_max_skip: ClassVar[int] = -1     # the derive's skip cap unless strategy.max_skip says (-1: none)
    ops: tuple[str, ...]
    decisions: list[Decision]
    by_name: dict[str, Decision]
    edges: dict[str, Edge]

    @classmethod
    def from_config(cls, cfg) -> "SearchSpace":
        raise NotImplementedError

    def genotype(self, choice: Mapping[str, int]) -> Any:
        """The genotype of one discrete choice (candidate index per decision name)."""
        raise NotImplementedError

    def choice_of(self, genotype: Any) -> dict[str, int]:
        """Inverse of :meth:`genotype`; a genotype of another space is a ValueError saying where."""
        raise NotImplementedError

    def supernet(self, info) -> nn.Module:
        """The shared-weight network: ``forward(x, gates)`` (and ``forward(x, mixture=...)``)."""
        raise NotImplementedError

    def network(self, genotype: Any, info) -> nn.Module:
        """The discrete child in the supernet's macro network (what the latency table models)."""
        raise NotImplementedError

    def latency_model(self, info):
        raise NotImplementedError

    def topology_decisions(self) -> list[Decision]:
        """The decisions that wire the network (which state an op reads): the ones a topology
        warm-up holds fixed."""
        return [d for d in self.decisions if d.kind == "input"]

    @classmethod
    def skip_cap(cls, asked: Optional[int]) -> int:
        """The skip cap derive keeps: ``strategy.max_skip`` where set, else the family's."""
        return cls.default_max_skip if asked is None else asked

    @staticmethod
    def skip_count(genotype: Any) -> int:
        """The most skip-connects in one cell of ``genotype``: the collapse of a differentiable
        search to parameter-free ops that ``trainer.stop_at_skips`` watches (0 where none)."""
        return max((counts.get("skip_connect", 0) for counts in genotype.op_histogram().values()), default=0)

    def derive_rules(self, choice: dict[str, int], op_scores: OpScores, max_skip: int,
                     probabilities: Mapping[str, Tensor]) -> dict[str, int]:
        """The derived choice after the space's derive rules (the cell space's: every cell
        reaches the classifier, the skip cap); ``op_scores`` says how strongly the strategy
        prefers each op of a slot, ``probabilities`` each candidate of every decision."""
        return choice

    def slot_counts(self, edge: Edge, source: int, op: int, max_skip: int) -> tuple[int, ...]:
        """What the derive rules count of one slot's pick (summed over slots; the cell space:
        skip-connects and the cell inputs read, per cell type)."""
        return ()

    def count_limits(self, max_skip: int) -> tuple[Optional[int], ...]:
        """Per count of :meth:`slot_counts`: the most a derived architecture may have, or None
        for a flag (whether any slot counts it)."""
        return ()

    def admissible_counts(self, counts: tuple[int, ...], max_skip: int) -> bool:
        """Whether an architecture whose counts meet their limits (flags 0 or 1) obeys the rest
        of the derive rules (the cell space: every cell reaches the classifier)."""
        return True

    def admissible(self, choice: Mapping[str, int], max_skip: int) -> bool:
        """Whether ``choice`` obeys the derive rules, so that a constrained derive that swaps
        ops for latency keeps every hard constraint at once (one definition: the counts, which
        the constrained derive sums slot by slot)."""
        limits = self.count_limits(max_skip)
        total = [0] * len(limits)
        for edge in self.edges.values():
            for input_name, op_name in edge.slots:
                adds = self.slot_counts(edge, choice[input_name] if input_name else 0, choice[op_name], max_skip)
                total = [t + a for t, a in zip(total, adds)]
        if any(limit is not None and t > limit for t, limit in zip(total, limits)):
            return False
        return self.admissible_counts(tuple(min(t, 1) if limit is None else t for t, limit in zip(total, limits)),
                                      max_skip)

    def constant_output(self, genotype: Any) -> bool:
        """Whether no path reaches the classifier from the input (NAS-Bench-201: every path into
        the cell's output is `none`): such a network predicts one class whatever the image, and
        some runtimes compute nothing for it."""
        return False

    def unread_parts(self, genotype: Any) -> list[str]:
        """Parts of this space's network for ``genotype`` that run but never reach the classifier
        (each a sentence saying why): what a derive tells the user, as they cost latency for nothing."""
        return []

    def read_shares(self, real: Mapping[str, Any]) -> dict[str, Any]:
        """Per edge key, the probability that the edge's result is read on a path to the output,
        given each edge's probability ``real`` of running an op (not `none`): what a runtime
        that skips unread ops (TF-Lite's converter drops them) runs.  A key left out is always
        read, as in every space whose cells have no `none`."""
        return {}

    def reader_edges(self) -> tuple[str, ...]:
        """The edges whose being `none` or not decides ``read_shares`` (the exact constrained
        derive enumerates them)."""
        return ()

    @classmethod
    def parse_genotype(cls, d: Any) -> Any:
        """A genotype of this family from its JSON object (a GenotypeError names the bad field)."""
        raise NotImplementedError

    @classmethod
    def genotype_from_text(cls, text: str) -> Any:
        """A genotype of this family written as text in its own notation (NAS-Bench-201's
        architecture strings), or None when ``text`` is not in it."""
        return None

    @classmethod
    def retrain_network(cls, genotype: Any, model_cfg, info) -> nn.Module:
        """The network a genotype is retrained in (``model_cfg``: retrain's ``model`` group)."""
        raise NotImplementedError

    @classmethod
    def network_record(cls, genotype: Any, model_cfg, info) -> dict[str, Any]:
        """What the timm entry needs besides the genotype to rebuild the retrained network
        (``model``: the timm name, and its settings)."""
        raise NotImplementedError

    @classmethod
    def reported_network(cls, genotype: Any) -> tuple[str, nn.Module, int]:
        """(setting, network, input size) in which papers report a genotype's parameters and
        multiply-adds (cost.genotype_cost builds it on the meta device)."""
        raise NotImplementedError

    @classmethod
    def plot_genotype(cls, genotype: Any, path: Path, title: Optional[str] = None) -> Path:
        raise NotImplementedError


class WithoutAuxiliaryHead:
    """What the retrain loop asks of a network without an auxiliary head (a chain, a NAS-Bench-201
    network): ``forward_with_aux`` and a checked ``drop_path_prob``, which its forward reads."""

    auxiliary_head = None

    @property
    def drop_path_prob(self) -> float:
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self._drop_path_prob = p

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, None]:
        return self.forward(x), None


SPACES: dict[str, type[SearchSpace]] = {}


def register_space(name: str, config: type, genotype: type, schema: str):
    """Register a space family under ``name`` with its config dataclass (hydra knows it as
    ``space/base_<name>``), its genotype class and that genotype's JSON ``schema``."""
    def deco(cls):
        SPACES[name] = cls
        cls.name, cls.config, cls.genotype_type = name, config, genotype
        register_schema(schema, cls.parse_genotype)
        return cls
    return deco


def space_class(name: str) -> type[SearchSpace]:
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(f"unknown space {name!r}; known: {', '.join(sorted(SPACES))}") from None


def build_space(cfg) -> SearchSpace:
    return space_class(cfg.name).from_config(cfg)


def space_config(d: Mapping[str, Any]) -> Any:
    """The typed config of a space from its plain form (a checkpoint's config)."""
    cls = space_class(d.get("name"))
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.config), dict(d)))


def family_of(genotype: Any) -> type[SearchSpace]:
    """The space family a genotype belongs to."""
    for cls in SPACES.values():
        if isinstance(genotype, cls.genotype_type):
            return cls
    raise GenotypeError(f"a {type(genotype).__name__} is no registered space's genotype; known spaces: "
                        f"{', '.join(sorted(SPACES))}")


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
        none = space.by_name[name].never_derived
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


def choice_key(choice: Mapping[str, int]) -> tuple:
    """A choice as a dict key, whatever the order of its decisions."""
    return tuple(sorted(choice.items()))


def uniform_choice(space: SearchSpace, generator: torch.Generator, allow_none: bool) -> dict[str, int]:
    """A child drawn uniformly from every decision's candidates (`none` excluded unless allowed)."""
    choice = {}
    for d in space.decisions:
        ks = [i for i in range(len(d.candidates)) if allow_none or i not in d.never_derived]
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
