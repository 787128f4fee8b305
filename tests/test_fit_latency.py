"""A device table fitted from end-to-end measurements: a synthetic device whose per-op costs
are known is recovered exactly, the held-out figures come from rows the fit never saw, and
measurement files that cannot be fitted from are refused with what is wrong."""
import csv
import random
import statistics

import pytest

from supernet.benchmark_table import BenchmarkTable
from supernet.config import HardwareConfig, LatencyConfig, SearchConfig
from supernet.data import DataInfo
from supernet.derive import derive_genotype
from supernet.latency import LatencyPredictor, TableError, load_table
from supernet.latency.fit import fit_table, read_measurements, signature_counts, split
from supernet.latency.target import hardware_target
from supernet.spaces.nasbench201.config import NB201SpaceConfig
from supernet.spaces.nasbench201.genotype import all_genotypes
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


def _measured(space, model, truth, genotypes):
    return [(g.arch, sum(truth[s] * n for s, n in signature_counts(space, model, g).items())) for g in genotypes]


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
    genotype, meta = derive_genotype(cfg, strategy, hw, INFO, measure=False, table=BenchmarkTable(path, space))
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
