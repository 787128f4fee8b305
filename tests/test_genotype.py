import json
import warnings
from types import SimpleNamespace

import pytest
import torch

from supernet.data import DataInfo
from supernet.derive import derive_genotype
from supernet.genotype_json import GenotypeError, load_genotype, save_genotype
from supernet.spaces.nasnet_cell.genotype import genotype_from_dict
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.strategies import build_strategy, strategy_config

OPS = ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"]


def _choice(space, op, src_of):
    return {d.name: (space.ops.index(op) if d.kind == "op" else src_of(d.node, d.slot)) for d in space.decisions}


def test_round_trip_and_space_inverse(tmp_path):
    space = CellSpace(3, OPS)
    choice = _choice(space, "sep_conv_3x3", lambda node, slot: node + slot)
    g = space.genotype(choice)
    assert g.normal.concat == (2, 3, 4)
    path = save_genotype(g, tmp_path / "g.json", strategy="proxyless")
    assert load_genotype(path) == g
    assert json.loads(path.read_text())["meta"]["strategy"] == "proxyless"
    assert space.choice_of(g) == choice


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("reduce"), "reduce"),
    (lambda d: d["normal"]["nodes"][1].pop(), r"normal.nodes\[1\]"),
    (lambda d: d["normal"]["nodes"][0][1].update(op="conv_9x9"), r"normal.nodes\[0\]\[1\].op: unknown op 'conv_9x9'"),
    (lambda d: d["reduce"]["nodes"][0][0].update(input=2), r"reduce.nodes\[0\]\[0\].input"),
    (lambda d: d["normal"].update(concat=[7]), "normal.concat"),
    (lambda d: d.update(schema="other/v9"), "schema"),
])
def test_malformed_genotype_names_the_bad_field(tmp_path, mutate, field):
    space = CellSpace(2, OPS)
    d = space.genotype(_choice(space, "skip_connect", lambda node, slot: slot)).to_dict()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(GenotypeError, match=field):
        load_genotype(path)


def test_a_folder_a_binary_file_and_an_endless_one_are_named_not_read(tmp_path, monkeypatch):
    from supernet import files
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "genotype.json").write_text("{}")
    with pytest.raises(GenotypeError, match=r"run is a folder, not a genotype file .*it holds .*run/genotype.json"):
        load_genotype(tmp_path / "run")
    (tmp_path / "b.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(GenotypeError, match="b.json: not a text file"):
        load_genotype(tmp_path / "b.json")
    monkeypatch.setattr(files, "LIMIT", 1 << 10)
    (tmp_path / "big.json").write_text(" " * (2 << 10))
    with pytest.raises(GenotypeError, match="big.json: larger than"):
        load_genotype(tmp_path / "big.json")


def test_not_json_and_missing_file(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(GenotypeError, match="not valid JSON"):
        load_genotype(tmp_path / "x.json")
    with pytest.raises(GenotypeError, match="missing.json: no such file"):
        load_genotype(tmp_path / "missing.json")
    with pytest.raises(GenotypeError, match="expected a JSON object"):
        genotype_from_dict([1, 2])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(GenotypeError, match="list.json: a genotype is a JSON object .* got a JSON list"):
        load_genotype(tmp_path / "list.json")


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: [slot.update(op="none") for slot in d["normal"]["nodes"][0]], "both slots are none"),
    (lambda d: d["normal"].update(concat=[0, 1]), "neither a later node nor the concat"),
    (lambda d: d["reduce"]["nodes"][1][0].update(op="mbconv_3x3_e3"), "chain space's blocks"),
])
def test_a_valid_but_suspicious_genotype_warns(mutate, problem):
    space = CellSpace(3, OPS)
    d = space.genotype({d.name: int(d.kind == "op") for d in space.decisions}).to_dict()    # skip_connect on c_{k-2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        genotype_from_dict(d)                               # a plain one says nothing
    mutate(d)
    with pytest.warns(UserWarning, match=problem):
        genotype_from_dict(d)


@pytest.mark.parametrize("normal_src, reduce_src, unread", [
    (lambda node, slot: 0, lambda node, slot: slot, [1, 3]),      # normal cells skip each reduction
    (lambda node, slot: 1, lambda node, slot: 0, [0, 2]),         # reductions skip the normal cell before them
    (lambda node, slot: slot, lambda node, slot: 0 if node else 1, []),
])
def test_cells_named_unread_do_not_reach_the_classifier(normal_src, reduce_src, unread):
    space = CellSpace(2, OPS, layers=5, init_channels=4)
    choice = _choice(space, "sep_conv_3x3", lambda node, slot: 0)
    for d in space.decisions:
        if d.kind == "input":
            choice[d.name] = (normal_src if d.group == "normal" else reduce_src)(d.node, d.slot)
    genotype = space.genotype(choice)
    problems = space.unread_parts(genotype)
    assert (problems == []) == (unread == [])
    if unread:
        assert f"cells {unread[0]} " in problems[0] and f", {unread[1]} " in problems[0]
    torch.manual_seed(0)
    net = space.network(genotype, DataInfo(1, 10, 8)).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        before = net(x)
        for k, cell in enumerate(net.cells):
            saved = [p.clone() for p in cell.parameters()]
            for p in cell.parameters():
                p.add_(1.0)
            assert torch.equal(net(x), before) == (k in unread), f"cell {k}"
            for p, s in zip(cell.parameters(), saved):
                p.copy_(s)


def test_derive_records_and_tells_the_unread_cells():
    space = CellSpace(2, OPS, layers=5, init_channels=4)
    genotype = space.genotype(_choice(space, "sep_conv_3x3", lambda node, slot: 0))   # reads only c_{k-2}
    strategy = SimpleNamespace(space=space, derive=lambda: genotype)
    cfg = SimpleNamespace(strategy=SimpleNamespace(name="proxyless"), seed=0)
    both = r"cells 1 \(reduction\), 3 \(reduction\) of 5 .* the normal and the reduce cells read only"
    with pytest.warns(UserWarning, match=both):
        _, meta = derive_genotype(cfg, strategy, None)
    assert meta["unread"] == space.unread_parts(genotype)


@pytest.mark.parametrize("name", ["proxyless", "gdas", "reinforce"])
def test_derive_rewires_a_cell_type_that_leaves_cells_unread(name):
    """Alphas that read c_{k-2} everywhere would cut both reductions (or the normal cells) out of
    the network: derive rewires the slot that prefers c_{k-1} most, and nothing else."""
    space = CellSpace(2, OPS, layers=5, init_channels=4)
    strategy = build_strategy(space, strategy_config(name, init_scale=0.0))
    conv = space.ops.index("sep_conv_3x3")
    favourite = {"normal": "normal_n1_s0_input", "reduce": "reduce_n0_s1_input"}
    with torch.no_grad():
        for d in space.decisions:
            a = strategy.alphas[d.name]
            if d.kind == "op":
                a[conv] = 2.0
            else:
                a[0] = 3.0                              # c_{k-2} first everywhere ...
                a[1] = 1.0 if d.name in favourite.values() else 0.5   # ... c_{k-1} liked most here
    free = strategy.derive_choice()
    assert space.unread_parts(space.genotype(free))       # the plain argmax leaves cells unread
    choice = space.choice_of(strategy.derive())
    assert space.unread_parts(space.genotype(choice)) == []
    assert {k for k in choice if choice[k] != free[k]} == set(favourite.values())
    assert all(choice[k] == 1 for k in favourite.values())
    assert space.admissible(choice, strategy.rules.max_skip) and not space.admissible(free, strategy.rules.max_skip)
