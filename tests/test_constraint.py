"""The constrained derive against brute force over every architecture of a tiny cell space
with random tables and scores: the most probable architecture within [floor T, T] (within the
reported error where the space is bucketed), the derive rules kept (the skip cap, every cell
read, DARTS's distinct inputs), and "no architecture" said exactly when none exists."""
import dataclasses
import itertools

import pytest
import torch
from conftest import tiny_config

from supernet.data import DataInfo
from supernet.hardware import LatencyPredictor, constraint
from supernet.hardware.constraint import Rules, constrained_candidates, constrained_choice, latency_bounds, ms_up
from supernet.hardware.target import check_reachable
from supernet.latency import LatencyTable, load_table
from supernet.latency.table import measurement_meta
from supernet.spaces import build_space
from supernet.spaces.knapsack import Knapsack
from supernet.spaces.nasbench201.genotype import all_genotypes
from supernet.spaces.nasbench201.space import NB201Space
from supernet.strategies import build_strategy

INFO = DataInfo(1, 3, 8)


def _predictor(tmp_path, seed, skip_ms=None):
    """A one-node cell space (1,296 architectures) with a random table (or one whose
    skip-connects cost ``skip_ms`` and everything else 1 ms)."""
    cfg = tiny_config(**{"space.nodes": 1})
    space = build_space(cfg.space)
    model = space.latency_model(INFO)
    table = LatencyTable(measurement_meta("cpu", 1, 1, "float32", 0, 1), path=str(tmp_path / f"t{seed}.yaml"),
                         hardware="syn")
    g = torch.Generator().manual_seed(seed)
    table.entries = {sig: (skip_ms if sig.startswith("skip") else 1.0) if skip_ms is not None
                     else 0.1 + 3 * float(torch.rand((), generator=g)) for sig in model.signatures}
    table.save()
    return cfg, LatencyPredictor(space, model, load_table(table.path, "syn", 1, "float32"))


def _architectures(space, predictor, rules):
    """Every architecture derive may return under ``rules``: (choice, table latency)."""
    names = [d.name for d in space.decisions]
    options = [[i for i in range(len(d.candidates)) if i not in d.never_derived] for d in space.decisions]
    out = []
    for values in itertools.product(*options):
        choice = dict(zip(names, values))
        if not space.admissible(choice, rules.max_skip):
            continue
        if rules.distinct_inputs and any(choice[a] >= choice[b] for e in space.edges.values()
                                         for (a, _), (b, _) in zip(e.slots, e.slots[1:])):
            continue
        out.append((choice, predictor.of_genotype(space.genotype(choice))))
    return out


def _score(space, scores, choice):
    return sum(float(scores(e, s)[choice[i] if i else 0, choice[o]])
               for e in space.edges.values() for s, (i, o) in enumerate(e.slots))


def _random_scores(space, seed):
    g = torch.Generator().manual_seed(seed)
    table = {(k, s): torch.randn(e.sources, len(e.ops), generator=g, dtype=torch.float64) * 2
             for k, e in space.edges.items() for s in range(len(e.slots))}
    return lambda edge, s: table[edge.key, s]


@pytest.mark.parametrize("max_skip", [-1, 0, 1])
def test_the_constrained_derive_is_the_most_probable_architecture_within_the_window(tmp_path, max_skip):
    _, predictor = _predictor(tmp_path, seed=max_skip + 1)
    space, rules = predictor.space, Rules(max_skip)
    every = _architectures(space, predictor, rules)
    fastest, slowest = min(ms for _, ms in every), max(ms for _, ms in every)
    assert latency_bounds(space, predictor, rules) == pytest.approx((fastest, slowest), rel=1e-12)
    for seed in range(4):
        scores = _random_scores(space, seed)
        for fraction in (0.0, 0.1, 0.35, 0.6, 0.9, 1.2):
            target = fastest + fraction * (slowest - fastest)
            got = constrained_choice(space, scores, predictor, target, rules, floor=0.95)
            assert got.error_ms == 0.0 and space.admissible(got.choice, max_skip)
            ms = predictor.of_genotype(space.genotype(got.choice))
            assert ms == pytest.approx(got.latency_ms, rel=1e-12) and ms <= target * (1 + 1e-12)
            window = [c for c, m in every if 0.95 * target <= m <= target] or [c for c, m in every if m <= target]
            best = max(_score(space, scores, c) for c in window)
            assert _score(space, scores, got.choice) == pytest.approx(best, abs=1e-9), (seed, fraction)
    with pytest.raises(ValueError, match="no architecture of this space is within"):
        constrained_choice(space, _random_scores(space, 0), predictor, fastest * (1 - 1e-6), rules)
    constrained_choice(space, _random_scores(space, 0), predictor, fastest, rules)   # exactly the fastest is met


def test_the_constrained_candidates_are_the_most_probable_per_latency_within_the_window(tmp_path):
    """What trainer.derive_candidates ranks under a target: distinct architectures of the window, most probable
    first (the first is the constrained derive's); one that is left out is no more probable than
    the last returned, or shares its latency with a returned one at least as probable."""
    _, predictor = _predictor(tmp_path, seed=3)
    space, rules = predictor.space, Rules(-1)
    every = _architectures(space, predictor, rules)
    fastest, slowest = min(ms for _, ms in every), max(ms for _, ms in every)
    scores = _random_scores(space, 5)
    target = fastest + 0.5 * (slowest - fastest)
    window = [(c, m) for c, m in every if 0.95 * target <= m <= target]
    found = constrained_candidates(space, scores, predictor, target, rules, floor=0.95, k=12)
    assert len(found) == 12 and found[0].choice == constrained_choice(space, scores, predictor, target, rules,
                                                                         floor=0.95).choice
    assert len({tuple(sorted(c.choice.items())) for c in found}) == 12
    got = [_score(space, scores, c.choice) for c in found]
    assert got == sorted(got, reverse=True)
    for c in found:
        ms = predictor.of_genotype(space.genotype(c.choice))
        assert 0.95 * target * (1 - 1e-12) <= ms <= target * (1 + 1e-12)
    returned = [c.choice for c in found]
    for choice, ms in window:
        if choice not in returned and _score(space, scores, choice) > got[-1] + 1e-9:
            assert any(abs(c.latency_ms - ms) <= 1e-9 * ms and s >= _score(space, scores, choice) - 1e-9
                       for c, s in zip(found, got))
    assert constrained_candidates(space, scores, predictor, target, rules, 0.95, 1)[0].choice == found[0].choice


@pytest.mark.parametrize("rules", [Rules(-1), Rules(1), Rules(-1, distinct_inputs=True)])
def test_the_k_most_probable_architectures_are_exact(tmp_path, rules):
    """Knapsack.top: what trainer.derive_candidates ranks without a target, the same as sorting
    every architecture the rules admit by its score."""
    _, predictor = _predictor(tmp_path, seed=4)
    space = predictor.space
    scores = _random_scores(space, 7)
    every = sorted((c for c, _ in _architectures(space, predictor, rules)), key=lambda c: -_score(space, scores, c))
    got = Knapsack(space, rules, scores).top(15)
    assert [_score(space, scores, c) for c in got] == pytest.approx([_score(space, scores, c) for c in every[:15]])
    assert got == every[:15]


def test_a_bucketed_derive_misses_nothing_more_than_its_error_inside_the_window(tmp_path, monkeypatch):
    monkeypatch.setattr(constraint, "EXACT_LIMIT", 0)
    monkeypatch.setattr(constraint, "RESOLUTION", 64)      # coarse, so that the error bound is what is tested
    _, predictor = _predictor(tmp_path, seed=7)
    space, rules = predictor.space, Rules(1)
    every = _architectures(space, predictor, rules)
    fastest, slowest = min(ms for _, ms in every), max(ms for _, ms in every)
    for seed in range(4):
        scores = _random_scores(space, seed)
        for fraction in (0.2, 0.5, 0.8):
            target = fastest + fraction * (slowest - fastest)
            got = constrained_choice(space, scores, predictor, target, rules, floor=0.95)
            ms = predictor.of_genotype(space.genotype(got.choice))
            assert got.error_ms > 0 and 0.95 * target <= ms <= target and space.admissible(got.choice, 1)
            inner = [c for c, m in every if 0.95 * target + got.error_ms <= m <= target - got.error_ms]
            assert all(_score(space, scores, got.choice) >= _score(space, scores, c) - 1e-9 for c in inner)


def test_under_darts_the_constrained_derive_reads_distinct_inputs(tmp_path):
    cfg, predictor = _predictor(tmp_path, seed=3)
    space = predictor.space
    strategy = build_strategy(space, dataclasses.replace(tiny_config(**{"strategy.name": "darts"}).strategy))
    with torch.no_grad():
        for a in strategy.alphas.values():
            a.normal_(0, 2, generator=torch.Generator().manual_seed(0))
    assert strategy.rules.distinct_inputs
    every = _architectures(space, predictor, strategy.rules)
    fastest, slowest = min(ms for _, ms in every), max(ms for _, ms in every)
    for fraction in (0.1, 0.5, 0.9):
        target = fastest + fraction * (slowest - fastest)
        got = constrained_choice(space, strategy.slot_scores, predictor, target, strategy.rules, floor=0.95).choice
        for edge in space.edges.values():
            sources = [got[i] for i, _ in edge.slots]
            assert sources == sorted(set(sources))          # two distinct states, as DARTS picks them
        window = [c for c, m in every if 0.95 * target <= m <= target] or [c for c, m in every if m <= target]
        best = max(_score(space, strategy.slot_scores, c) for c in window)
        assert _score(space, strategy.slot_scores, got) == pytest.approx(best, abs=1e-9)


def test_a_target_only_the_uncapped_skips_reach_is_refused_at_start(tmp_path):
    """Skip-connects are a hundredth of every other op: the cheapest network without the cap
    is all skips, and with strategy.max_skip=0 nothing below the cheapest skip-free one works."""
    _, predictor = _predictor(tmp_path, seed=0, skip_ms=0.01)
    space = predictor.space
    capped = min(ms for _, ms in _architectures(space, predictor, Rules(0)))
    uncapped = latency_bounds(space, predictor, Rules(-1))[0]
    assert uncapped < capped == pytest.approx(latency_bounds(space, predictor, Rules(0))[0], rel=1e-12)
    between = (uncapped + capped) / 2
    check_reachable(predictor, between, "syn", Rules(-1))
    with pytest.raises(ValueError, match=f"{ms_up(capped)} ms with strategy.max_skip=0"):
        check_reachable(predictor, between, "syn", Rules(0))
    check_reachable(predictor, float(ms_up(capped)), "syn", Rules(0))     # the figure it prints is accepted


@pytest.mark.parametrize("skips_unread", [False, True])
def test_in_nasbench201_the_derive_is_exact_and_never_cuts_the_cells_output(tmp_path, skips_unread):
    """`none` is free and most probable here, so the best cheap network would cut every path to
    the cell's output (a constant, 10% on CIFAR-10); the derive returns the most probable one
    that computes, the same as enumerating the 15,625 architectures, also on a device that skips
    unread ops (where an edge's cost depends on the edges after it)."""
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model = space.latency_model(INFO)
    table = LatencyTable({**measurement_meta("cpu", 1, 1, "float32", 0, 1), "skips_unread_ops": skips_unread},
                         path=str(tmp_path / "nb.yaml"), hardware="syn")
    g = torch.Generator().manual_seed(0)
    table.entries = {sig: 0.1 + 3 * float(torch.rand((), generator=g)) for sig in model.signatures}
    table.save()
    predictor = LatencyPredictor(space, model, load_table(table.path, "syn", 1, "float32"))
    none = space.ops.index("none")
    logp = {d.name: torch.full((len(space.ops),), -3.0, dtype=torch.float64).index_fill(0, torch.tensor(none), 0.0)
            for d in space.decisions}
    scores = lambda edge, s: logp[edge.key][None, :]                      # noqa: E731
    every = [(space.choice_of(a), predictor.of_genotype(a)) for a in all_genotypes(space.ops)
             if not space.constant_output(a)]
    fastest = min(ms for _, ms in every)
    assert latency_bounds(space, predictor) == pytest.approx((fastest, max(ms for _, ms in every)), rel=1e-12)
    for target, scores in itertools.product((fastest, fastest * 1.3, fastest * 2.0),
                                            (scores, _random_scores(space, 1))):
        got = constrained_choice(space, scores, predictor, target, floor=0.95)
        assert got.error_ms == 0.0 and not space.constant_output(space.genotype(got.choice))
        assert got.latency_ms == pytest.approx(predictor.of_genotype(space.genotype(got.choice)), rel=1e-12)
        window = [c for c, m in every if 0.95 * target <= m <= target] or [c for c, m in every if m <= target]
        assert _score(space, scores, got.choice) == pytest.approx(max(_score(space, scores, c) for c in window))


def test_nasbench201s_derive_caps_the_skips_at_the_most_probable_architecture():
    """strategy.max_skip in NAS-Bench-201: the exact optimum over the 15,625 architectures."""
    space = NB201Space()
    g = torch.Generator().manual_seed(0)
    probs = {d.name: torch.softmax(torch.randn(len(space.ops), generator=g) + 2 * torch.tensor(
        [s == "skip_connect" for s in space.ops]), 0) for d in space.decisions}
    free = {d.name: int(probs[d.name].argmax()) for d in space.decisions}
    assert space.genotype(free).edge_ops.count("skip_connect") > 2

    def logp(choice):
        return sum(float(probs[d.name][choice[d.name]].log()) for d in space.decisions)

    capped = space.derive_rules(free, None, 2, probs)
    best = max((space.choice_of(a) for a in all_genotypes(space.ops) if space.admissible(space.choice_of(a), 2)),
               key=logp)
    assert space.genotype(capped).edge_ops.count("skip_connect") <= 2
    assert logp(capped) == pytest.approx(logp(best), abs=1e-9)
    assert space.derive_rules(free, None, -1, probs) == free
