"""The NAS-Bench-201 family: the network of an architecture string is the benchmark's (the ops
it names, the reference code's parameter counts), every one of the 15,625 strings survives the
genotype and JSON, malformed strings are refused with what is wrong, `none` is derivable, the
benchmark table looks architectures up, and a search records where its result stands."""
import csv
import json

import pytest
import timm
import torch
from conftest import tiny_config

from benchmarks.synthetic import blobs
from supernet.benchmark_table import BenchmarkTable, BenchmarkTableError
from supernet.config import BenchmarkConfig, DataConfig, ModelConfig, SearchConfig, TrainerConfig
from supernet.data import DataInfo
from supernet.genotype_json import GenotypeError, parse_genotype
from supernet.genotypes import resolve_genotype
from supernet.search import run_search
from supernet.spaces import build_space, family_of
from supernet.spaces.nasbench201.config import NB201SpaceConfig
from supernet.spaces.nasbench201.genotype import EDGES, all_genotypes, parse_arch
from supernet.spaces.nasbench201.network import InferCell, NB201Network
from supernet.strategies import build_strategy, strategy_config

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
# Parameters of the reference implementation's TinyNetwork (D-X-Y/AutoDL-Projects, cell_infers/
# tiny_network.py at f46486e, 10 classes), counted by building it: (C=16, N=5), (8, 1), (4, 1).
REFERENCE_PARAMS = {
    BEST: (1073466, 69026, 17606),
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|":
        (1531546, 91986, 23374),
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": (73306, 18738, 4894),
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|":
        (73306, 18738, 4894),
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|":
        (129306, 21650, 5678),
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|":
        (372346, 33858, 8758),
}


@pytest.mark.parametrize("arch", sorted(REFERENCE_PARAMS))
def test_parameter_counts_equal_the_reference_implementation(arch):
    counts = tuple(sum(p.numel() for p in NB201Network(parse_arch(arch), 3, 10, C, N).parameters())
                   for C, N in ((16, 5), (8, 1), (4, 1)))
    assert counts == REFERENCE_PARAMS[arch]


def test_the_cell_computes_exactly_the_ops_the_string_names():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    identity = InferCell(parse_arch("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"), 4)
    assert torch.equal(identity(x), x)          # skip is the identity, `none` adds nothing
    cell = InferCell(parse_arch("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"),
                     4).double().eval()
    conv3, pool, conv1 = cell.edges[0], cell.edges[3], cell.edges[5]
    n1 = conv3(x)
    assert torch.equal(cell(x), pool(x) + conv1(n1))
    assert sum(p.numel() for p in cell.parameters()) == sum(p.numel() for m in (conv3, conv1) for p in m.parameters())
    dead = InferCell(parse_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"), 4)
    assert torch.equal(dead(x.float()), torch.zeros_like(x.float()))


def test_every_architecture_goes_to_a_genotype_and_back_unchanged():
    space = build_space(NB201SpaceConfig(init_channels=4, cells_per_stage=1))
    genotypes = all_genotypes()
    assert len(genotypes) == len({g.arch for g in genotypes}) == 5 ** 6
    for g in genotypes:
        assert parse_arch(g.arch) == g
        assert parse_genotype(json.loads(json.dumps(g.to_dict()))) == g
        assert space.genotype(space.choice_of(g)) == g


@pytest.mark.parametrize("bad, says", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "node 2 takes 2 edge"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|conv_5x5~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "unknown op"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~2|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
     "must read node 1"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "expected 3 nodes"),
    ("|nor_conv_3x3|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "op~input"),
    ("nor_conv_3x3~0+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "node 1"),
])
def test_a_malformed_string_is_refused_with_what_is_wrong(bad, says):
    with pytest.raises(GenotypeError, match=says):
        parse_arch(bad)
    with pytest.raises(GenotypeError, match=says):
        resolve_genotype(bad)


def test_strings_are_genotypes_everywhere_a_genotype_is_taken():
    g = resolve_genotype(BEST)
    assert family_of(g).name == "nasbench201" and g.arch == BEST
    net = timm.create_model("supernet_nasbench201", genotype=BEST, init_channels=4, cells_per_stage=1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == REFERENCE_PARAMS[BEST][2]
    info = DataInfo(3, 10, 32)
    retrained = family_of(g).retrain_network(g, ModelConfig(init_channels=4, layers=3, auxiliary=False), info)
    assert sum(p.numel() for p in retrained.parameters()) == REFERENCE_PARAMS[BEST][2]
    with pytest.raises(ValueError, match="multiple of 3"):
        family_of(g).retrain_network(g, ModelConfig(init_channels=4, layers=5, auxiliary=False), info)


def test_none_is_a_real_candidate_that_derive_returns_short_of_cutting_the_cell():
    """`none` everywhere would cut every path to the cell's output (a constant network): derive
    keeps the one edge that alone joins input and output."""
    space = build_space(NB201SpaceConfig(init_channels=4, cells_per_stage=1))
    for name in ("proxyless", "darts", "gdas"):
        strategy = build_strategy(space, strategy_config(name))
        with torch.no_grad():
            for a in strategy.alphas.values():
                a.zero_()[..., space.ops.index("none")] = 5.0
        ops = strategy.derive().edge_ops
        assert ops.count("none") == len(EDGES) - 1 and ops[EDGES.index((3, 0))] != "none", name


def test_derive_caps_skip_connects_at_the_space_s_default_unless_the_strategy_says():
    """Alphas that prefer skip_connect on every edge (the collapse): the space's cap (3) keeps
    the most probable cell with three; strategy.max_skip=-1 lifts it, 1 tightens it."""
    space = build_space(NB201SpaceConfig(init_channels=4, cells_per_stage=1))
    for cap, skips in ((None, space.default_max_skip), (-1, len(EDGES)), (1, 1)):
        strategy = build_strategy(space, strategy_config("proxyless", max_skip=cap))
        with torch.no_grad():
            for i, a in enumerate(strategy.alphas.values()):
                a.zero_()[..., space.ops.index("skip_connect")] = 5.0
                a[..., space.ops.index("nor_conv_3x3")] = 4.0 - 0.1 * i
        ops = strategy.derive().edge_ops
        assert ops.count("skip_connect") == skips and strategy.rules.max_skip == space.skip_cap(cap), cap
        assert ops.count("nor_conv_3x3") == len(EDGES) - skips        # the next best op where a skip went
    assert space.default_max_skip == 3 and build_space(tiny_config().space).skip_cap(None) == -1


def test_unread_parts_name_dead_edges_and_a_cut_cell():
    space = build_space(NB201SpaceConfig(init_channels=4, cells_per_stage=1))
    cut = space.unread_parts(parse_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"))
    assert len(cut) == 1 and "same class" in cut[0]
    dead = space.unread_parts(parse_arch("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"))
    assert dead == ["edges 2<-0 (nor_conv_3x3), 2<-1 (nor_conv_1x1) run but lie on no path from the cell's input to "
                    "its output"]
    assert space.unread_parts(parse_arch(BEST)) == []


def _write_table(path, rows, header=("arch", "nb201_index", "cifar10_test_12ep")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _space():
    return build_space(NB201SpaceConfig(init_channels=4, cells_per_stage=1))


def test_the_table_returns_the_row_of_an_index_and_its_percentile(tmp_path):
    genotypes = all_genotypes()[:4]
    rows = [(g.arch, i, 50.0 + i) for i, g in enumerate(genotypes)]
    table = BenchmarkTable(_write_table(tmp_path / "t.csv", rows), _space())
    assert table[genotypes[2]] == {"nb201_index": 2.0, "cifar10_test_12ep": 52.0}
    assert table.column(None) == "cifar10_test_12ep"
    assert [table.percentile(g, "cifar10_test_12ep") for g in genotypes] == [25.0, 50.0, 75.0, 100.0]
    assert table.value_at("cifar10_test_12ep", 50) == 51.0
    record = table.record(genotypes[3])
    assert record["figures"]["cifar10_test_12ep"] == 53.0 and record["percentile"] == {"cifar10_test_12ep": 100.0}


def test_a_table_without_arch_or_of_another_space_is_refused(tmp_path):
    with pytest.raises(BenchmarkTableError, match="no 'arch' column"):
        BenchmarkTable(_write_table(tmp_path / "a.csv", [("x", 1)], header=("architecture", "acc")), _space())
    with pytest.raises(BenchmarkTableError, match="line 2: not an architecture of the nasbench201 space"):
        BenchmarkTable(_write_table(tmp_path / "b.csv", [("normal: sep_conv_3x3(0)", 0, 1.0)]), _space())
    with pytest.raises(BenchmarkTableError, match="appears twice"):
        BenchmarkTable(_write_table(tmp_path / "c.csv", [(BEST, 0, 1.0), (BEST, 1, 2.0)]), _space())
    table = BenchmarkTable(_write_table(tmp_path / "d.csv", [(BEST, 0, 1.0)]), _space())
    with pytest.raises(BenchmarkTableError, match="no numeric column 'cifar100'"):
        table.column("cifar100")
    with pytest.raises(BenchmarkTableError, match="no such benchmark table"):
        BenchmarkTable(tmp_path / "missing.csv", _space())


def test_a_search_records_its_derived_architecture_in_the_table(tmp_path):
    """Every epoch's row shows the derived architecture's figure and genotype.json records its
    row and percentile (a table whose figure is the number of 3x3 convs)."""
    rows = [(g.arch, i, float(g.edge_ops.count("nor_conv_3x3"))) for i, g in enumerate(all_genotypes())]
    table = _write_table(tmp_path / "t.csv", rows)
    info = DataInfo(1, 3, 8)
    cfg = SearchConfig(data=DataConfig(batch_size=16), space=NB201SpaceConfig(init_channels=4, cells_per_stage=1),
                       strategy=strategy_config("proxyless"), benchmark=BenchmarkConfig(table=str(table)),
                       trainer=TrainerConfig(epochs=2, warmup_epochs=1, topology_warmup_epochs=0, progress=False,
                                             quality_children=1, final_quality_children=2))
    result = run_search(cfg, tmp_path / "run", data=(blobs(48, seed=0), blobs(32, seed=1), info))
    convs = float(result.genotype.edge_ops.count("nor_conv_3x3"))
    assert [row["derived_cifar10_test_12ep"] for row in result.metrics][-1] == convs
    meta = json.loads((tmp_path / "run" / "genotype.json").read_text())["meta"]
    assert meta["benchmark"]["figures"]["cifar10_test_12ep"] == convs
    assert meta["benchmark"]["percentile"]["cifar10_test_12ep"] == pytest.approx(
        100 * sum(r[2] <= convs for r in rows) / len(rows), abs=0.01)
