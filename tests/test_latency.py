"""Latency tables: format and errors, expected latency against the table latency of a child,
gradients against finite differences, the loss forms, the hard constraints, and a latency-aware
search that meets its target."""
import dataclasses
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import blobs, tiny_config
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from supernet import timing
from supernet.config import HardwareConfig, LatencyConfig, register_configs
from supernet.data import DataInfo
from supernet.derive import derive_genotype, derive_run, ranked_derive
from supernet.hardware import LatencyPredictor
from supernet.hardware.constraint import RejectOverTarget, constrained_candidates, constrained_choice, latency_bounds
from supernet.hardware.meter import DeviceMeter
from supernet.hardware.predict import fit_calibration
from supernet.hardware.profile import Bench, spanning_genotypes
from supernet.hardware.target import hardware_target
from supernet.latency import (
    LOSS_FORMS,
    LatencyTable,
    MissingEntryError,
    TableError,
    latency_loss,
    load_table,
)
from supernet.latency.loss import DualMultiplier
from supernet.latency.table import measurement_meta
from supernet.search import run_search
from supernet.spaces import build_space
from supernet.spaces.base import uniform_choice
from supernet.strategies import build_strategy, strategy_class, strategy_config
from supernet.timing import interleaved_times

ROOT = Path(__file__).resolve().parents[1]
INFO = DataInfo(1, 3, 8)


def synthetic_table(tmp_path, cfg, slow_ms=10.0, fast_ms=0.1) -> Path:
    """sep convs are slow, everything else is cheap: a deterministic hardware."""
    model = build_space(cfg.space).latency_model(INFO)
    table = LatencyTable(measurement_meta("cpu", 1, 1, "float32", 0, 1), path=str(tmp_path / "t.yaml"), hardware="syn")
    table.entries = {s: (slow_ms if s.startswith("sep_conv") else fast_ms) for s in model.signatures}
    table.save()
    return tmp_path / "t.yaml"


def _predictor(tmp_path, cfg):
    space = build_space(cfg.space)
    table = load_table(synthetic_table(tmp_path, cfg), "syn", 1, "float32")
    return LatencyPredictor(space, space.latency_model(INFO), table)


def test_table_round_trip_and_refusals(tmp_path):
    cfg = tiny_config()
    path = synthetic_table(tmp_path, cfg)
    table = load_table(path, "syn", 1, "float32")
    table.calibration = {"nasnet_cell/0123456789": {"per_op_ms": 0.01, "constant_ms": 0.5}}
    table.save()
    again = load_table(path, "syn", 1, "float32")
    assert again.entries == table.entries and again.calibration == table.calibration
    with pytest.raises(TableError, match="batch_size=1.*uses 8.*allow_mismatch"):
        load_table(path, "syn", 8, "float32")
    with pytest.raises(TableError, match="dtype"):
        load_table(path, "syn", 1, "bfloat16")
    assert load_table(path, "syn", 8, "float32", allow_mismatch=True).entries == table.entries
    with pytest.raises(TableError, match="supernet-profile hardware=syn"):
        load_table(tmp_path / "absent.yaml", "syn", 1, "float32")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_table_entry_or_calibration_that_is_not_a_finite_millisecond_is_refused(tmp_path, bad):
    cfg = tiny_config()
    path = synthetic_table(tmp_path, cfg)
    table = load_table(path, "syn", 1, "float32")
    first = next(iter(table.entries))
    table.entries[first] = bad
    table.save()
    with pytest.raises(TableError, match=f"finite milliseconds >= 0; bad: {first.replace('|', '.')}"):
        load_table(path, "syn", 1, "float32")
    table.entries[first] = 1.0
    table.calibration = {"nasnet_cell/0123456789": {"per_op_ms": bad, "constant_ms": 0.5}}
    table.save()
    if bad < 0:         # a negative per-op cost can be fitted; only nan and inf are not numbers
        assert load_table(path, "syn", 1, "float32").calibration == table.calibration
    else:
        with pytest.raises(TableError, match="not a finite number"):
            load_table(path, "syn", 1, "float32")


def test_a_shipped_table_is_read_from_any_folder_and_saved_beside_it(tmp_path, monkeypatch):
    """hardware.table=latency_tables/cpu_2core.yaml outside a checkout: read from the package;
    what a profile adds is saved to that path in the working directory, never into the package."""
    shipped = ROOT / "supernet" / "latency_tables" / "cpu_2core.yaml"
    before = shipped.read_bytes()
    monkeypatch.chdir(tmp_path)
    table = load_table("latency_tables/cpu_2core.yaml", "cpu_2core", 1, "float32")
    assert table.entries and table.path == "latency_tables/cpu_2core.yaml"
    table.entries["extra|c1|1x1|s1"] = 1.0
    table.save()
    assert shipped.read_bytes() == before
    assert "extra|c1|1x1|s1" in load_table(tmp_path / "latency_tables" / "cpu_2core.yaml", "cpu_2core", 1,
                                           "float32").entries


def test_missing_entry_names_the_signature_and_the_command(tmp_path):
    cfg = tiny_config()
    table = load_table(synthetic_table(tmp_path, cfg), "syn", 1, "float32")
    space = build_space(cfg.space)
    model = space.latency_model(INFO)
    gone = next(s for s in model.signatures if s.startswith("sep_conv") and s.endswith("s2"))
    del table.entries[gone]
    with pytest.raises(MissingEntryError, match=f"{gone.replace('|', '.')}.*supernet-profile hardware=syn"):
        LatencyPredictor(space, model, table)


def test_the_missing_entry_command_measures_the_search_s_space_and_hardware(tmp_path):
    """The command a search prints for a missing entry composes, as printed, the profile config
    of exactly that space, input size and hardware (the profile app's defaults are others)."""
    cfg = tiny_config(**{"space.ops": ["sep_conv_3x3", "skip_connect"], "space.nodes": 2})
    path = synthetic_table(tmp_path, cfg)
    table = load_table(path, "syn", 1, "float32")
    del table.entries[next(iter(table.entries))]
    table.save(path)
    cfg.hardware = HardwareConfig(name="syn", table=str(path), target_ms=9.0, threads=1)
    with pytest.raises(MissingEntryError) as err:
        run_search(cfg, tmp_path / "run", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    command = str(err.value).split("with: ", 1)[1]
    assert command.startswith("supernet-profile ")
    register_configs()
    with initialize_config_dir(str(ROOT / "supernet" / "conf"), version_base="1.3"):
        profile = OmegaConf.to_object(compose("profile", overrides=command.split()[2:]))
    assert dataclasses.asdict(profile.hardware) == dataclasses.asdict(cfg.hardware)
    assert {k: v for k, v in dataclasses.asdict(profile.space).items() if k != "name"} == \
        {k: v for k, v in dataclasses.asdict(cfg.space).items() if k != "name"}
    assert profile.data.image_size == INFO.image_size


def _one_hot_strategy(cfg, space, seed=0):
    strategy = build_strategy(space, cfg.strategy)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for d in space.decisions:
            allowed = [i for i in range(len(d.candidates)) if i not in d.never_derived]
            k = allowed[int(torch.randint(len(allowed), (), generator=g))]
            strategy.alphas[d.name].fill_(-50.0)[k] = 50.0
    return strategy


def test_the_table_latency_of_a_cell_genotype_counts_every_op_of_every_cell_instance(tmp_path):
    """(That one-hot alphas expect exactly this latency is the space contract's test.)"""
    cfg = tiny_config()
    predictor = _predictor(tmp_path, cfg)
    predictor.table.calibration = {predictor.model.key: {"per_op_ms": 0.05, "constant_ms": 0.3}}
    space = predictor.space
    for seed in range(3):
        genotype = space.genotype(uniform_choice(space, torch.Generator().manual_seed(seed), allow_none=False))
        # every unit is one node of one cell instance (normal, reduce, reduce): count its sep convs
        n_sep = sum(op.startswith("sep") for key, _ in predictor.model.units
                    for op, _ in genotype.cells()[key.split("_")[0]].nodes[int(key.split("_n")[1])])
        n_ops = 2 * cfg.space.nodes * cfg.space.layers
        fixed = len(predictor.model.fixed) * 0.1
        assert predictor.of_genotype(genotype) == pytest.approx(
            fixed + 10.0 * n_sep + 0.1 * (n_ops - n_sep) + 0.05 * n_ops + 0.3, rel=1e-5)


@pytest.mark.parametrize("form", LOSS_FORMS)
def test_latency_loss_gradient_matches_finite_differences(tmp_path, form):
    cfg = tiny_config()
    predictor = _predictor(tmp_path, cfg)
    strategy = build_strategy(predictor.space, cfg.strategy).double()
    with torch.no_grad():
        for a in strategy.alphas.values():
            a.copy_(torch.randn(len(a), dtype=torch.float64))
    ce = torch.tensor(1.3, dtype=torch.float64)
    target = 12.0

    def loss():
        return latency_loss(ce, predictor.expected(strategy.path_weights()), target, form, 0.7, 0.6)

    grads = torch.autograd.grad(loss(), list(strategy.alphas.values()))
    assert sum(float(g.abs().sum()) for g in grads) > 0
    checked = 0
    for (name, a), g in zip(strategy.alphas.items(), grads):
        for i in range(len(a)):
            with torch.no_grad():
                a[i] += 1e-6
                up = float(loss())
                a[i] -= 2e-6
                down = float(loss())
                a[i] += 1e-6
            assert (up - down) / 2e-6 == pytest.approx(float(g[i]), abs=1e-6, rel=1e-4), (name, i)
            checked += 1
    assert checked == sum(len(a) for a in strategy.alphas.values())


def test_loss_forms_penalize_as_documented():
    ce, t = torch.tensor(2.0), 10.0
    assert float(latency_loss(ce, torch.tensor(20.0), t, "additive", 0.5, 0.6)) == pytest.approx(3.0)
    assert float(latency_loss(ce, torch.tensor(5.0), t, "hinge", 0.5, 0.6)) == pytest.approx(2.0)
    assert float(latency_loss(ce, torch.tensor(20.0), t, "hinge", 0.5, 0.6)) == pytest.approx(2.5)
    assert float(latency_loss(ce, torch.tensor(20.0), t, "power", 0.5, 1.0)) == pytest.approx(4.0)
    assert float(latency_loss(ce, torch.tensor(100.0), t, "log", 0.5, 1.0)) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="target_ms > 1"):
        latency_loss(ce, torch.tensor(0.5), 0.8, "log", 0.5, 1.0)


@pytest.mark.parametrize("target", [2.0, 80.0])
def test_the_log_form_is_finite_for_latencies_of_any_magnitude(target):
    for ms in (0.05, 0.5, 0.999, 1.0, 1.001, 3.0, 80.0, 500.0):
        lat = torch.tensor(ms, requires_grad=True)
        loss = latency_loss(torch.tensor(1.5), lat, target, "log", 0.5, 0.6)
        (grad,) = torch.autograd.grad(loss, lat)
        assert torch.isfinite(loss) and torch.isfinite(grad), ms
        assert grad >= 0


def test_a_target_a_loss_form_cannot_take_is_refused_before_training(tmp_path):
    table = synthetic_table(tmp_path, tiny_config())
    cfg = tiny_config()
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=0.8)
    cfg.latency = LatencyConfig(loss="log")
    with pytest.raises(ValueError, match="latency.loss=log.*> 1 ms.*0.8"):
        run_search(cfg, tmp_path / "run", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    cfg = tiny_config(**{"strategy.name": "darts"})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=9.0)
    cfg.latency = LatencyConfig(reject_over_target=True)
    with pytest.raises(ValueError, match="reject_over_target.*darts"):
        run_search(cfg, tmp_path / "run2", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    cfg = tiny_config(**{"trainer.strict_fairness": True})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=9.0)
    cfg.latency = LatencyConfig(reject_over_target=True)
    with pytest.raises(ValueError, match="reject_over_target.*strict_fairness"):
        run_search(cfg, tmp_path / "run3", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))


def test_the_latency_term_describes_the_network_derive_produces(tmp_path):
    """Alphas that favour `none` (never derived) must not make the expected latency cheap."""
    cfg = tiny_config()
    predictor = _predictor(tmp_path, cfg)
    space = predictor.space
    strategy = _one_hot_strategy(cfg, space, seed=2)
    none = space.ops.index("none")
    with torch.no_grad():
        for d in space.decisions:
            if d.kind == "op":
                strategy.alphas[d.name][none] = 60.0          # none is the most probable op everywhere
    expected = predictor.expected(strategy.path_weights())
    assert expected.item() == pytest.approx(predictor.of_genotype(strategy.derive()), rel=1e-5)
    strategy = build_strategy(space, cfg.strategy)            # soft alphas: every path has a gradient
    grads = torch.autograd.grad(predictor.expected(strategy.path_weights()), list(strategy.alphas.values()))
    largest = max(float(g.abs().max()) for g in grads)
    for d, g in zip(space.decisions, grads):
        if d.kind == "op":
            assert abs(float(g[none])) < 1e-6 * largest, d.name   # no latency pull towards `none`


def test_darts_latency_ignores_what_neither_the_network_nor_derive_sees(tmp_path):
    cfg = tiny_config(**{"strategy.name": "darts"})
    predictor = _predictor(tmp_path, cfg)
    strategy = build_strategy(predictor.space, cfg.strategy)
    with torch.no_grad():
        for a in strategy.alphas.values():
            a.copy_(torch.randn_like(a))
    before, genotype = predictor.expected(strategy.path_weights()).item(), strategy.derive()
    mixture = {k: w.clone() for k, w in strategy.mixture().items()}
    with torch.no_grad():
        strategy.alphas["normal_n1"][2] += 3.0                # one source's row shifted
    assert all(torch.allclose(w, mixture[k]) for k, w in strategy.mixture().items())
    assert strategy.derive() == genotype
    assert predictor.expected(strategy.path_weights()).item() == pytest.approx(before, rel=1e-6)


def test_the_two_path_step_moves_every_alpha_by_the_exact_latency_gradient(tmp_path):
    from supernet.spaces.nasnet_cell.supernet import CellSupernet
    cfg = tiny_config(**{"strategy.arch_lr": 0.05})
    predictor = _predictor(tmp_path, cfg)
    space = predictor.space
    torch.manual_seed(0)
    net = CellSupernet(space, 1, 3, layers=3, C=4, stem_multiplier=1)
    strategy = build_strategy(space, cfg.strategy)
    x, y = blobs(16).tensors
    before = {k: a.detach().clone() for k, a in strategy.alphas.items()}
    strategy.arch_step(net, x, y, lambda logits, t: 0.0 * logits.sum() + predictor.expected(strategy.path_weights()))
    moved = {k: int((a.detach() != before[k]).sum()) for k, a in strategy.alphas.items()}
    ops = [d for d in space.decisions if d.kind == "op"]
    # every derivable op's alpha moves (the sampled pair's too), not only the sampled pair
    assert all(moved[d.name] >= len(d.candidates) - len(d.never_derived) for d in ops), moved


def test_calibration_fit_recovers_overheads():
    raw, runs = [5.0, 8.0, 11.0, 6.0, 3.0], [10, 20, 30, 12, 9]
    measured = [1.1 * r + 0.02 * n + 1.5 for r, n in zip(raw, runs)]
    fit = fit_calibration(raw, runs, measured)
    assert fit == pytest.approx({"scale": 1.1, "per_op_ms": 0.02, "constant_ms": 1.5}, abs=1e-9)
    fit = fit_calibration([1.0, 2.0, 4.0], [5, 5, 5], [1.3, 2.5, 4.9])   # as many ops each: no per-op term
    assert fit == pytest.approx({"scale": 1.2, "per_op_ms": 0.0, "constant_ms": 0.1}, abs=1e-9)
    fit = fit_calibration([1.0, 2.0, 3.0], [5, 5, 5], [3.0, 2.5, 2.0])   # a scale < 0 is no model: held at 1
    assert fit == pytest.approx({"scale": 1.0, "per_op_ms": 0.0, "constant_ms": 0.5}, abs=1e-9)
    with pytest.raises(ValueError, match="at least three"):
        fit_calibration([1.0, 2.0], [5, 5], [1.0, 2.0])


def test_calibration_children_span_the_latency_range(tmp_path):
    predictor = _predictor(tmp_path, tiny_config())
    low, high = latency_bounds(predictor.space, predictor)
    latencies = [predictor.of_genotype(g) for g in spanning_genotypes(predictor, 6, seed=0)]
    assert min(latencies) < low + 0.2 * (high - low) and max(latencies) > high - 0.2 * (high - low)
    assert latencies == sorted(latencies)


def test_hard_constraints_respect_the_target(tmp_path):
    cfg = tiny_config()
    predictor = _predictor(tmp_path, cfg)
    space = predictor.space
    strategy = _one_hot_strategy(cfg, space, seed=1)
    with torch.no_grad():   # soften: the derive must trade probability for latency
        for a in strategy.alphas.values():
            a.mul_(0.02)
    free = strategy.derive()
    target = predictor.of_genotype(free) - 15.0
    choice = constrained_choice(space, strategy.slot_scores, predictor, target).choice
    assert predictor.of_genotype(space.genotype(choice)) <= target
    with pytest.raises(ValueError, match="no architecture of this space is within"):
        constrained_choice(space, strategy.slot_scores, predictor, 0.01)

    def lat(gates):
        return predictor.of_genotype(space.genotype({k: g.active for k, g in gates.items()}))

    samples = [lat(strategy.weight_child()) for _ in range(40)]
    target = sorted(samples)[len(samples) // 2]
    filtered = build_strategy(space, cfg.strategy, child_filter=RejectOverTarget(lat, target, max_tries=500))
    filtered.load_state_dict(strategy.state_dict())
    strategy = filtered
    assert all(lat(strategy.weight_child()) <= target for _ in range(40))
    pinned = {d.name: 0 for d in space.decisions if d.kind == "input"}   # the topology warm-up's wiring
    children = [strategy.weight_child(pinned) for _ in range(40)]
    assert all(lat(g) <= target and all(g[k].active == 0 for k in pinned) for g in children)


def test_constrained_derive_keeps_the_skip_cap(tmp_path):
    """skip_connect is the cheapest op here, so a greedy latency derive reaches for it first; with
    strategy.max_skip=0 it must find its savings elsewhere."""
    cfg = tiny_config(**{"strategy.max_skip": 0})
    predictor = _predictor(tmp_path, cfg)
    space = predictor.space
    strategy = _one_hot_strategy(cfg, space, seed=1)
    with torch.no_grad():
        for a in strategy.alphas.values():
            a.mul_(0.02)
    free = strategy.derive()
    assert space.admissible(space.choice_of(free), 0)
    target = predictor.of_genotype(free) - 15.0
    genotype = space.genotype(constrained_choice(space, strategy.slot_scores, predictor, target, strategy.rules).choice)
    assert predictor.of_genotype(genotype) <= target
    assert all(counts.get("skip_connect", 0) == 0 for counts in genotype.op_histogram().values())
    uncapped = constrained_choice(space, strategy.slot_scores, predictor, target).choice
    assert any(counts.get("skip_connect", 0) for counts in space.genotype(uncapped).op_histogram().values())


def test_a_ranked_derive_returns_the_candidate_the_probe_scores_best(tmp_path):
    """trainer.derive_candidates=K: of the K most probable architectures derive may return (within
    the target under a constrained derive), the one the shared weights score best, each measured
    once; K=1 (the default) measures nothing."""
    cfg = tiny_config()
    cfg.hardware = HardwareConfig(name="syn", table=str(synthetic_table(tmp_path, cfg)))
    space = build_space(cfg.space)
    strategy = _one_hot_strategy(cfg, space, seed=1)
    with torch.no_grad():   # soften: the derive must trade probability for latency
        for a in strategy.alphas.values():
            a.mul_(0.02)
    free_ms = _predictor(tmp_path, cfg).of_genotype(strategy.derive())
    cfg.latency = LatencyConfig(loss="none", target_ms=free_ms - 15.0)
    hw = hardware_target(cfg, space, INFO, type(strategy))
    within = constrained_candidates(space, strategy.slot_scores, hw.predictor, hw.derive_ms, strategy.rules,
                                    cfg.latency.derive_floor, 5)
    assert [c.choice for c in within] == hw.candidates(strategy, 5) and len(within) == 5
    free = strategy.candidates(5)
    assert free[0] == space.choice_of(strategy.derive()) and len(free) == 5

    class Probe:    # scores the least probable candidate best
        def __init__(self, found):
            self.found, self.asked = found, []

        def accuracy(self, choice):
            self.asked.append(dict(choice))
            return self.found.index(choice)

    for target, found in ((hw, [c.choice for c in within]), (None, free)):
        probe = Probe(found)
        assert ranked_derive(strategy, target, 5, probe) == space.genotype(found[-1])
        assert probe.asked == found
        assert ranked_derive(strategy, target, 5) == space.genotype(found[0])      # no probe: the most probable
        assert ranked_derive(strategy, target, 1, probe) == space.genotype(found[0]) and len(probe.asked) == 5
    assert hw.derive(strategy) == space.genotype(within[0].choice)
    with pytest.raises(ValueError, match="trainer.derive_candidates .* must be >= 1, got 0"):
        run_search(tiny_config(**{"trainer.derive_candidates": 0}), tmp_path / "refused")


def test_ranking_the_children_of_a_mixture_is_warned_about(tmp_path, caplog):
    cfg = tiny_config(**{"strategy.name": "darts", "trainer.epochs": 1, "trainer.warmup_epochs": 0,
                         "trainer.derive_candidates": 3})
    with caplog.at_level(logging.WARNING, logger="supernet.search"):
        run_search(cfg, tmp_path / "run", data=(blobs(48, seed=0), blobs(48, seed=1), INFO))
    assert "darts trains the mixture of every path, not children" in caplog.text


def test_reward_strategies_take_the_latency_in_their_reward(tmp_path):
    cfg = tiny_config(**{"strategy.name": "reinforce"})
    cfg.hardware = HardwareConfig(name="syn", table=str(synthetic_table(tmp_path, cfg)), target_ms=9.0)
    cfg.latency = LatencyConfig(loss="additive", reward_exponent=-0.5)
    space = build_space(cfg.space)
    hw = hardware_target(cfg, space, INFO, strategy_class("reinforce"))
    strategy = build_strategy(space, cfg.strategy, **hw.strategy_parts)
    choice = uniform_choice(space, torch.Generator().manual_seed(0), allow_none=False)
    assert strategy.reward(0.8, choice) == pytest.approx(0.8 * (hw.of_choice(choice) / 9.0) ** -0.5)
    assert float(hw.arch_loss(torch.tensor(1.0), strategy)) == 1.0       # no gradient term for it
    assert build_strategy(space, cfg.strategy).reward(0.8, choice) == 0.8   # without a target: the accuracy
    cfg.latency = LatencyConfig(loss="additive", reward="measured")
    strategy = build_strategy(space, cfg.strategy, **hardware_target(cfg, space, INFO, type(strategy)).strategy_parts)
    measured = strategy.reward(1.0, choice)                                # the child timed end to end here
    assert measured > 0 and strategy.reward(1.0, choice) == measured       # once per child
    timer = DeviceMeter(space, INFO, Bench(warmup=1, repeat=3))
    ms = timer.child_ms(choice)
    assert ms > 0 and timer.child_ms(choice) == ms and len(timer.cache) == 1
    hw = hardware_target(cfg, space, INFO, strategy_class("proxyless"))
    assert hw.strategy_parts == {}
    gradient = build_strategy(space, strategy_config("proxyless"), **hw.strategy_parts)
    assert hw.arch_loss(torch.tensor(1.0), gradient).item() > 1.0
    with pytest.raises(ValueError, match="learns from gradients, not from a reward"):
        build_strategy(space, strategy_config("proxyless"), reward=lambda acc, choice: acc)
    with pytest.raises(ValueError, match="no sampled child can be filtered"):
        build_strategy(space, strategy_config("darts"), child_filter=RejectOverTarget(hw.of_gates, 1.0, 5))
    cfg.latency = LatencyConfig(reward="guessed")
    cfg.hardware = HardwareConfig()
    with pytest.raises(ValueError, match="latency.reward 'guessed'"):
        hardware_target(cfg, space, INFO, type(gradient))


def _search(tmp_path, table, loss):
    cfg = tiny_config(**{"trainer.epochs": 5, "strategy.arch_lr": 0.1})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=9.0)
    cfg.latency = LatencyConfig(loss=loss, weight=3.0, constrained_derive=False)   # what the loss alone does
    data = blobs(96, seed=0), blobs(96, seed=1), INFO
    return run_search(cfg, tmp_path / loss, data=data)


def test_search_with_a_tight_target_ends_below_it(tmp_path):
    table = synthetic_table(tmp_path, tiny_config())
    free = _search(tmp_path, table, "none")
    tight = _search(tmp_path, table, "additive")
    meta_free = free.metrics[-1]["derived_latency_ms"]
    assert tight.metrics[-1]["derived_latency_ms"] <= 9.0 < meta_free
    assert tight.metrics[-1]["expected_latency_ms"] < tight.metrics[0]["expected_latency_ms"]


def test_the_dual_multiplier_rises_over_the_target_and_falls_below_it():
    m = DualMultiplier(lr=0.5)
    assert m.update(15.0, 10.0) == pytest.approx(0.25) and m.update(15.0, 10.0) == pytest.approx(0.5)
    assert m.update(8.0, 10.0) == pytest.approx(0.4)
    assert m.update(1.0, 10.0) == 0.0                       # never negative: no reward for being fast


def _fine_table(tmp_path, info=INFO):
    """A table with random entries (latencies fine-grained enough that most targets have a
    network within 5% under them), and the (cheapest, dearest) latency of the tiny space."""
    space = build_space(tiny_config().space)
    model = space.latency_model(info)
    table = LatencyTable(measurement_meta("cpu", 1, 1, "float32", 0, 1), path=str(tmp_path / "r.yaml"), hardware="syn")
    g = torch.Generator().manual_seed(0)
    table.entries = {sig: 0.1 + 3 * float(torch.rand((), generator=g)) for sig in model.signatures}
    table.save()
    predictor = LatencyPredictor(space, model, load_table(tmp_path / "r.yaml", "syn", 1, "float32"))
    return tmp_path / "r.yaml", latency_bounds(space, predictor)


def test_one_search_derives_within_any_reachable_target(tmp_path):
    table, (low, high) = _fine_table(tmp_path)
    cfg = tiny_config(**{"trainer.epochs": 2})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=high)
    cfg.latency = LatencyConfig(loss="none")
    run_search(cfg, tmp_path / "run", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    for fraction in (0.2, 0.5, 0.8):
        target = low + fraction * (high - low)
        _, files = derive_run(tmp_path / "run", target_ms=target)
        meta = json.loads(files["genotype"].read_text())["meta"]
        assert 0.95 * target <= meta["table_latency_ms"] <= target and meta["target_ms"] == target
        assert files["genotype"].parent == tmp_path / "run" / f"target_{target:g}ms"
    plain = tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0})
    run_search(plain, tmp_path / "plain", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    with pytest.raises(ValueError, match="searched without a hardware table"):
        derive_run(tmp_path / "plain", target_ms=5.0)


def test_the_derive_app_ranks_the_candidates_as_the_search_did(tmp_path):
    """trainer.derive_candidates: supernet-derive rebuilds the search's probe from the run's data
    settings and checkpoint, so one search derived again within its own target gives its genotype."""
    table, (low, high) = _fine_table(tmp_path, DataInfo(1, 10, 8))      # digits at 8x8
    target = low + 0.5 * (high - low)
    cfg = tiny_config(**{"trainer.epochs": 2, "trainer.derive_candidates": 4, "data.limit": 200, "data.image_size": 8})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=target)
    cfg.latency = LatencyConfig(loss="none")
    result = run_search(cfg, tmp_path / "run")
    space, ranked = result.strategy.space, result.genotype
    hw = hardware_target(cfg, space, result.info, type(result.strategy))
    assert ranked != hw.derive(result.strategy), "the shared weights pick the most probable: nothing is tested"
    again, _ = derive_run(tmp_path / "run", target_ms=target)
    assert again == ranked


def test_a_lagrange_search_steers_to_its_target_and_derives_within_it(tmp_path):
    """A fixed weight ends at one latency whatever the target; the adaptive one ends at each
    target, and the derive lands within [0.95 T, T]; an unreachable target is refused at start."""
    table, (low, high) = _fine_table(tmp_path)
    ends = {}
    for fraction in (0.3, 0.6):
        target = low + fraction * (high - low)
        cfg = tiny_config(**{"trainer.epochs": 6, "strategy.arch_lr": 0.1})
        cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=target)
        cfg.latency = LatencyConfig(loss="lagrange", dual_lr=0.5, constrained_derive=True)
        result = run_search(cfg, tmp_path / str(fraction), data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
        last = result.metrics[-1]
        assert 0.95 * target <= last["derived_latency_ms"] <= target, (target, last)
        assert "latency_multiplier" in last
        ends[fraction] = last["expected_latency_ms"]
    assert ends[0.3] < ends[0.6]
    cfg.latency.target_ms = 0.9 * low
    with pytest.raises(ValueError, match="below the cheapest network derive may return"):
        run_search(cfg, tmp_path / "unreachable", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    assert not (tmp_path / "unreachable" / "config.yaml").exists()


def test_the_latency_range_is_that_of_the_cheapest_and_dearest_networks(tmp_path):
    predictor = _predictor(tmp_path, tiny_config())
    space = predictor.space
    low, high = latency_bounds(space, predictor)
    g = torch.Generator().manual_seed(0)
    samples = [predictor.of_genotype(space.genotype(uniform_choice(space, g, allow_none=False))) for _ in range(50)]
    assert low <= min(samples) and max(samples) <= high
    cheapest = {d.name: d.candidates.index("skip_connect") if d.kind == "op" else 1 for d in space.decisions}
    assert predictor.of_genotype(space.genotype(cheapest)) == pytest.approx(low, rel=1e-12)


def test_profile_validate_and_search_apps(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    small = ["data.image_size=8", "space.layers=3", "space.nodes=2", "space.init_channels=4",
             "space.ops=[none,skip_connect,max_pool_3x3,sep_conv_3x3]"]
    table = tmp_path / "tbl.yaml"

    def run(script, *args):
        res = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *small, *args], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    common = [f"hardware.table={table}", "hardware.threads=1"]
    out = run("profile_latency.py", *common, "warmup=1", "repeat=3", "calibration_children=3", "progress=false")
    assert table.exists() and "measured 0 new" not in out
    n = len(load_table(table, "cpu_2core", 1, "float32").entries)
    assert f"measured {n} new" in out
    # incremental: nothing new to measure; a new op: only its entries
    before = table.read_bytes(), table.stat().st_mtime_ns
    assert "measured 0 new" in run("profile_latency.py", *common, "warmup=1", "repeat=3", "progress=false")
    assert (table.read_bytes(), table.stat().st_mtime_ns) == before      # measured nothing: not rewritten
    more = [*small[:-1], "space.ops=[none,skip_connect,max_pool_3x3,sep_conv_3x3,avg_pool_3x3]"]
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "profile_latency.py"), *more, *common, "warmup=1",
                          "repeat=6", "calibration_children=3", "progress=false"], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=300).stdout
    grown = load_table(table, "cpu_2core", 1, "float32")
    added = len(grown.entries) - n
    assert added > 0 and f"measured {added} new" in out
    # the table says how its latest entries were measured, and how the earlier ones were
    assert "medians of 2 timed runs" in grown.meta["method"]
    assert ["medians of 1 timed" in s["method"] for s in grown.meta["sessions"]] == [True, False]
    out = run("validate_latency.py", *common, "children=4", "span_children=3", "warmup=1", "repeat=3",
              "progress=false", f"hydra.run.dir={tmp_path / 'val'}")
    assert "Kendall tau" in out and "largest error" in out and "spread of repeats" in out
    assert (tmp_path / "val" / "latency_validation.png").exists()
    rows = json.loads((tmp_path / "val" / "latency_validation.json").read_text())["rows"]
    assert sum(r["name"].startswith("spanning") for r in rows) == 3
    checked = load_table(table, "cpu_2core", 1, "float32").meta.get("validation", {})
    assert "too busy" in out or [v["children"] for v in checked.values()] == [7]   # how it was checked, in the table
    out = run("search.py", *common, "hardware=cpu_2core", "trainer.epochs=1", "trainer.warmup_epochs=0",
              "data.limit=96", "trainer.progress=false", f"hydra.run.dir={tmp_path / 'search'}")
    genotype = tmp_path / "search" / "genotype.json"
    meta = json.loads(genotype.read_text())["meta"]
    assert meta["table_latency_ms"] > 0 and meta["hardware"] == "cpu_2core" and "ms on cpu_2core" in out
    # this machine measured the table, seconds ago: measured here, unless it got busier since (then it says so)
    assert ("ms measured here" in out and meta["measured_latency_ms"] > 0
            or "the table's time for the table's own ops" in meta["measured_latency_skipped"])
    genotype.unlink()
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "derive.py"), f"run={tmp_path / 'search'}"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    again = json.loads(genotype.read_text())["meta"]   # derive applies the run's hardware target too
    assert again["table_latency_ms"] == meta["table_latency_ms"] and again["target_ms"] == meta["target_ms"]


def test_a_measured_latency_is_recorded_only_where_it_compares_with_the_table(tmp_path, monkeypatch):
    """Same device and processor are not enough: the table's own ops re-timed here must agree
    with it; otherwise the genotype says why it has no measured latency."""
    cfg = tiny_config()
    cfg.hardware = HardwareConfig(name="syn", table=str(synthetic_table(tmp_path, cfg)), target_ms=40.0)
    cfg.latency = LatencyConfig(loss="none", constrained_derive=False)
    space = build_space(cfg.space)
    hw = hardware_target(cfg, space, INFO, strategy_class("proxyless"))
    strategy = _one_hot_strategy(cfg, space)
    with pytest.warns(UserWarning, match="the table's time for the table's own ops"):
        _, meta = derive_genotype(cfg, strategy, hw)    # sep convs of 10 ms: no machine runs them so
    assert "measured_latency_ms" not in meta and "stale" in meta["measured_latency_skipped"]
    monkeypatch.setattr("supernet.hardware.meter.table_drift", lambda *a, **k: 1.04)
    # the measurements are set, so that a busy machine (its own warning) cannot hide the one tested
    monkeypatch.setattr(hw.meter, "measure", lambda g: (0.5 * hw.of_genotype(g), 0.01))
    with pytest.warns(UserWarning, match="0.50x the table's .* calibration misses this network"):
        _, meta = derive_genotype(cfg, strategy, hw)   # its table ops agree, this network does not
    assert meta["measured_latency_ms"] == 0.5 * meta["table_latency_ms"] and meta["measured_latency_spread"] == 0.01
    monkeypatch.setattr(hw.meter, "measure", lambda g: (1.05 * hw.of_genotype(g), 0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, meta = derive_genotype(cfg, strategy, hw)   # 5% off: within the table's promise, no warning
    hw.predictor.table.meta["processor"] = "Some Other CPU"
    with pytest.warns(UserWarning, match="'Some Other CPU'"):
        _, meta = derive_genotype(cfg, strategy, hw)
    assert "measured_latency_ms" not in meta


def test_a_measurement_runs_with_the_table_s_threads_and_leaves_the_process_s_alone():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return x

    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    Bench(warmup=1, repeat=3, threads=threads).time_ms(Probe(), (1, 2, 2))
    assert set(seen) == {threads} and torch.get_num_threads() == before


def test_a_busy_machine_is_told_apart_from_a_quiet_one(monkeypatch):
    """Three medians: the time is the least disturbed one, the spread says how far to trust it.
    A fake clock that each call advances, so the test does not depend on this machine's load."""
    clock = {"now": 0.0, "n": 0}
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: clock["now"]))

    def disturbed():          # the second and third rounds run 3x slower (another process woke up)
        clock["n"] += 1
        clock["now"] += 0.001 if clock["n"] <= 4 else 0.003
    (seconds, spread), = interleaved_times([disturbed], warmup=1, repeat=9)
    assert seconds == pytest.approx(0.001) and spread == pytest.approx(2.0)

    def quiet():
        clock["now"] += 0.001
    (seconds, spread), = interleaved_times([quiet], warmup=1, repeat=9)
    assert seconds == pytest.approx(0.001) and spread == pytest.approx(0.0, abs=1e-9)
