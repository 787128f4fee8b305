"""A device table fitted from end-to-end measurements: a synthetic device whose per-op costs
are known is recovered exactly, the held-out figures come from rows the fit never saw, and
measurement files that cannot be fitted from are refused with what is wrong."""
import csv
import math
import random
import statistics

import pytest
import torch

from supernet.benchmark_table import BenchmarkTable
from supernet.config import HardwareConfig, LatencyConfig, SearchConfig
from supernet.data import DataInfo
from supernet.derive import derive_genotype
from supernet.hardware import LatencyPredictor
from supernet.hardware.constraint import latency_bounds
from supernet.hardware.fit import fit_table, read_measurements, signature_counts, split
from supernet.hardware.target import hardware_target
from supernet.latency import LatencyTable, TableError, load_table
from supernet.latency.table import measurement_meta
from supernet.spaces.base import path_weights
from supernet.spaces.nasbench201.config import NB201SpaceConfig
from supernet.spaces.nasbench201.genotype import EDGES, all_genotypes
from supernet.spaces.nasbench201.space import NB201Space
from supernet.strategies import build_strategy

INFO = DataInfo(3, 10, 8)


def _device(space):
    """True cost of every signature (an op costs differently at each stage) and of the rest."""
    model = space.latency_model(INFO)
    rng = random.Random(1)
    return model, {sig: rng.uniform(0.1, 2.0) for sig in model.signatures}


def _write(path, rows, column="dev_ms"):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", column])
        w.writerows(rows)
    return path


def _measured(space, model, truth, genotypes, skips_unread=False):
    return [(g.arch, sum(truth[s] * n for s, n in signature_counts(space, model, g, skips_unread).items()))
            for g in genotypes]


def _read_nodes(genotype):
    """Which nodes of the cell are read on a path to its output (an edge j<-i that runs an op
    reads node i when node j is read), counted here without the space's formula."""
    read = {3}
    for (j, i), op in sorted(zip(EDGES, genotype.edge_ops), reverse=True):
        if op != "none" and j in read:
            read.add(i)
    return read


def test_the_fit_recovers_a_devices_costs_and_validates_on_rows_it_never_saw(tmp_path):
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    genotypes = [g for g in random.Random(0).sample(all_genotypes(space.ops), 400) if not space.constant_output(g)]
    rows = _measured(space, model, truth, genotypes)
    _, held = split(len(rows), seed=3, heldout=0.25)
    rows = [(a, ms * (1.5 if i in held else 1.0)) for i, (a, ms) in enumerate(rows)]   # only the held-out rows lie
    data = read_measurements(_write(tmp_path / "m.csv", rows), "dev_ms", space)
    table, v = fit_table(space, model, data, tmp_path / "dev.yaml", "dev", "a synthetic device", seed=3, heldout=0.25)
    assert (v["fit_rows"], v["heldout_rows"]) == (len(rows) - len(held), len(held))
    assert v["mape_percent"] == pytest.approx(100 / 3, rel=1e-6)    # the fit saw only the truthful rows
    predictor = LatencyPredictor(space, model, load_table(tmp_path / "dev.yaml", "dev", 1, "float32"))
    for g in random.Random(5).sample(all_genotypes(space.ops), 50):   # every network, measured or not
        exact = sum(truth[s] * n for s, n in signature_counts(space, model, g).items())
        assert predictor.of_genotype(g) == pytest.approx(exact, rel=1e-6)
    assert table.meta["validation"] == v and "m.csv, column dev_ms" in table.meta["method"]
    assert table.meta["skips_unread_ops"] is False      # this device runs every op: the fit says so


def test_a_device_that_skips_unread_ops_is_fitted_as_one(tmp_path):
    """The phones' runtime drops ops whose result nothing reads: measured so, the fit keeps that
    reading (exactly: the held-out error is 0), and the table's latency of any architecture is
    the sum over the ops into nodes that are read."""
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    genotypes = [g for g in random.Random(0).sample(all_genotypes(space.ops), 600) if not space.constant_output(g)]
    path = _write(tmp_path / "m.csv", _measured(space, model, truth, genotypes, skips_unread=True))
    table, v = fit_table(space, model, read_measurements(path, "dev_ms", space), tmp_path / "dev.yaml", "dev", "phone")
    assert table.meta["skips_unread_ops"] is True and v["mape_percent"] == pytest.approx(0, abs=1e-6)
    assert v["fit_rows_mape_percent_every_op"] > 1.0
    predictor = LatencyPredictor(space, model, load_table(tmp_path / "dev.yaml", "dev", 1, "float32"))
    for g in random.Random(5).sample(all_genotypes(space.ops), 200):
        read = _read_nodes(g)
        sigs = [sig for (j, i), op in zip(EDGES, g.edge_ops) if op != "none" and j in read
                for sig in model.signatures if sig.startswith(f"{op}|")]
        fixed = sum(truth[s] for s in model.fixed)
        assert predictor.of_genotype(g) == pytest.approx(fixed + sum(truth[s] for s in sigs), rel=1e-9), g.arch


def test_the_expected_latency_of_a_skipping_device_is_exact_over_the_architectures(tmp_path):
    """Under independent per-edge probabilities the differentiable latency equals the mean over
    all 15,625 architectures weighted by their probability (float64), gradients included."""
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    table = LatencyTable({**measurement_meta("cpu", 1, 1, "float32", 0, 1), "skips_unread_ops": True},
                         dict(truth), path=str(tmp_path / "t.yaml"), hardware="dev")
    predictor = LatencyPredictor(space, model, table)
    g = torch.Generator().manual_seed(0)
    logits = {d.name: torch.randn(len(space.ops), generator=g, dtype=torch.float64, requires_grad=True)
              for d in space.decisions}
    probs = {k: torch.softmax(v, 0) for k, v in logits.items()}
    expected = predictor.expected(path_weights(space, probs))
    exact = sum(math.prod(float(probs[k].detach()[c]) for k, c in space.choice_of(a).items()) * predictor.of_genotype(a)
                for a in all_genotypes(space.ops))
    assert expected.item() == pytest.approx(exact, rel=1e-12)
    expected.backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in logits.values())


def test_a_derive_under_a_fitted_table_records_the_devices_measured_latency(tmp_path):
    """With the measurement file as the benchmark table, genotype.json holds the latency the
    device measured for the derived network beside the table's (issue: the devices benchmark)."""
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    genotypes = [g for g in all_genotypes(space.ops) if not space.constant_output(g)]
    measured = dict(_measured(space, model, truth, genotypes))
    path = _write(tmp_path / "m.csv", [(a, 1.1 * ms) for a, ms in measured.items()])   # the device: 10% dearer
    fit_table(space, model, read_measurements(path, "dev_ms", space), tmp_path / "dev.yaml", "dev", "a device")
    cfg = SearchConfig(space=NB201SpaceConfig(init_channels=4, cells_per_stage=1),
                       hardware=HardwareConfig(name="dev", table=str(tmp_path / "dev.yaml"), device="dev"),
                       latency=LatencyConfig(target_ms=statistics.median(measured.values())))
    strategy = build_strategy(space, cfg.strategy)
    hw = hardware_target(cfg, space, INFO, type(strategy))
    genotype, meta = derive_genotype(cfg, strategy, hw, measure=False, table=BenchmarkTable(path, space))
    assert meta["published_latency_ms"] == pytest.approx(1.1 * measured[genotype.arch], rel=1e-9)
    assert meta["table_latency_ms"] <= cfg.latency.target_ms


def test_measurement_files_that_cannot_be_fitted_are_refused(tmp_path):
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    genotypes = [g for g in all_genotypes(space.ops)[:60] if not space.constant_output(g)]
    good = _measured(space, model, truth, genotypes)
    with pytest.raises(TableError, match="no 'other_ms' column"):
        read_measurements(_write(tmp_path / "a.csv", good), "other_ms", space)
    (tmp_path / "b.csv").write_text("architecture,dev_ms\nx,1.0\n")
    with pytest.raises(TableError, match="no 'arch' column"):
        read_measurements(tmp_path / "b.csv", "dev_ms", space)
    with pytest.raises(TableError, match="line 3: not an architecture of the nasbench201 space"):
        read_measurements(_write(tmp_path / "c.csv", [good[0], ("|sep_conv_3x3~0|+|x|", 1.0)]), "dev_ms", space)
    bad = good[:5] + [(good[5][0], "0"), (good[6][0], "")] + good[7:]
    with pytest.raises(TableError, match=f"2 of {len(good)} rows have no positive latency .* {len(good) - 2} rows are "
                                         "usable"):
        read_measurements(_write(tmp_path / "d.csv", bad), "dev_ms", space)
    few = read_measurements(_write(tmp_path / "e.csv", good[:4]), "dev_ms", space)
    with pytest.raises(TableError, match="runs .* equally often .* measure architectures that differ in it"):
        fit_table(space, model, few, tmp_path / "few.yaml", "dev", "a synthetic device")
    assert not (tmp_path / "few.yaml").exists()


def _fitted_device(tmp_path):
    """A table fitted in ``tmp_path`` from a synthetic device's measurements of every network that
    computes something: the space, those networks and their (arch, ms) rows."""
    space = NB201Space(init_channels=4, cells_per_stage=1)
    model, truth = _device(space)
    genotypes = [g for g in all_genotypes(space.ops) if not space.constant_output(g)]
    measured = _measured(space, model, truth, genotypes)
    fit_table(space, model, read_measurements(_write(tmp_path / "m.csv", measured), "dev_ms", space),
              tmp_path / "dev.yaml", "dev", "a device")
    return space, genotypes, measured


def _target(tmp_path, space, **latency):
    """The config, strategy and hardware target of a search on the table of :func:`_fitted_device`."""
    cfg = SearchConfig(space=NB201SpaceConfig(init_channels=4, cells_per_stage=1),
                       hardware=HardwareConfig(name="dev", table=str(tmp_path / "dev.yaml"), device="dev"),
                       latency=LatencyConfig(**latency))
    strategy = build_strategy(space, cfg.strategy)
    return cfg, strategy, hardware_target(cfg, space, INFO, type(strategy))


def test_the_derive_margin_keeps_room_for_the_tables_error(tmp_path):
    """latency.derive_margin=m: the constrained derive's table latency lies in
    [floor (1 - m) T, (1 - m) T]; a margin outside [0, 1) is refused before training."""
    space, _, measured = _fitted_device(tmp_path)
    target = statistics.median(ms for _, ms in measured)
    for margin in (0.0, 0.2):
        cfg, strategy, hw = _target(tmp_path, space, target_ms=target, derive_margin=margin)
        ms = hw.of_genotype(hw.derive(strategy))
        assert 0.95 * (1 - margin) * target - 1e-9 <= ms <= (1 - margin) * target + 1e-9
    cfg.latency.derive_margin = 1.0
    with pytest.raises(ValueError, match=r"latency.derive_margin .* \[0, 1\), got 1.0"):
        hardware_target(cfg, space, INFO, type(strategy))
    fastest = latency_bounds(space, hw.predictor, strategy.rules)[0]
    cfg.latency.target_ms, cfg.latency.derive_margin = fastest * 1.1, 0.2     # the margin takes it under the fastest
    with pytest.raises(ValueError, match=rf"latency.target_ms={fastest * 1.1} less latency.derive_margin=0.2 "):
        hardware_target(cfg, space, INFO, type(strategy))
    cfg.latency.constrained_derive = False       # no constrained derive, so no margin: the target is reachable
    hardware_target(cfg, space, INFO, type(strategy))


def test_the_device_benchmark_splits_the_gap_at_the_derives_window(tmp_path):
    """benchmarks.device_targets' window front: the best accuracy the derive's window admits is
    at least the derived architecture's, a lower floor admits more, and with no floor and a
    target above every network it is the best accuracy of the space the derive rules allow."""
    from benchmarks.device_targets import WindowFront
    space, genotypes, measured = _fitted_device(tmp_path)
    rng = random.Random(3)
    accuracy = BenchmarkTable(_write(tmp_path / "acc.csv", [(g.arch, rng.uniform(10, 90)) for g in genotypes], "acc"),
                              space)
    window_front = WindowFront(accuracy, "acc")
    times = sorted(ms for _, ms in measured)
    allowed = [g for g in genotypes if space.admissible(space.choice_of(g), space.skip_cap(None))]   # default cap
    for target in (times[len(times) // 4], times[len(times) // 2], times[-1] * 2):
        best = {}
        for floor in (0.0, 0.95):
            _, strategy, hw = _target(tmp_path, space, target_ms=target, derive_floor=floor)
            best[floor] = window_front("dev", hw, strategy.rules.max_skip)
            assert accuracy[hw.derive(strategy)]["acc"] <= best[floor]
            reaching = [hw.of_genotype(g) for g in allowed if accuracy[g]["acc"] == best[floor]]
            assert any(floor * target - 1e-9 <= ms <= target + 1e-9 for ms in reaching) or floor and target > times[-1]
        assert best[0.0] >= best[0.95]
    assert best[0.0] == max(accuracy[g]["acc"] for g in allowed)
