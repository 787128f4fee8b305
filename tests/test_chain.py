"""The ProxylessNAS chain space: one active block per layer, `zero` only where a layer keeps its
shape, the published networks (conversion, parameters, multiply-adds, the timm network built
from their architecture definition), the import of ProxylessNAS's Pixel 1 table, and searches,
latency and retrain on the chain through the same strategies, tables and loops as the cells."""
import json
from pathlib import Path

import pytest
import timm
import torch
import yaml
from conftest import blobs, tiny_config
from PIL import Image

from supernet.config import DataConfig, HardwareConfig, LatencyConfig, RetrainConfig
from supernet.cost import genotype_cost
from supernet.data import DataInfo
from supernet.gates import child_gates
from supernet.genotype_json import GenotypeError
from supernet.genotypes import published_data, published_genotype, resolve_genotype
from supernet.hardware import LatencyPredictor
from supernet.latency import LatencyTable, MissingEntryError, TableError, load_table
from supernet.latency.table import measurement_meta
from supernet.ops import MBConv, mbconv_params
from supernet.retrain import run_retrain
from supernet.search import run_search
from supernet.spaces import build_space
from supernet.spaces.proxyless_chain.config import ChainSpaceConfig
from supernet.spaces.proxyless_chain.genotype import ChainGenotype, chain_genotype_from_dict
from supernet.spaces.proxyless_chain.network import ChainNetwork
from supernet.spaces.proxyless_chain.proxyless_format import (
    genotype_from_net_config,
    import_table,
    key_from_signature,
    signature_from_key,
)
from supernet.spaces.proxyless_chain.supernet import NestedBlocks
from supernet.spaces.proxyless_chain.timm_arch import arch_def
from supernet.strategies import STRATEGIES, build_strategy, strategy_config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "proxylessnas"
CHAINS = ["proxyless_gpu", "proxyless_cpu", "proxyless_mobile"]
INFO = DataInfo(1, 3, 8)
TINY = ChainSpaceConfig(ops=["mbconv_3x3_e3", "mbconv_5x5_e3", "zero"], first_conv=8, first_block=8,
                        widths=[8, 16], depths=[2, 2], strides=[1, 2], feature_mix=32, nested_blocks=False)
TINY_E6 = ChainSpaceConfig(**{**TINY.__dict__, "ops": ["mbconv_3x3_e3", "mbconv_3x3_e6", "zero"]})
TINY_NESTED = ChainSpaceConfig(**{**TINY.__dict__, "nested_blocks": True})


def test_zero_only_where_the_layer_keeps_its_shape():
    space = build_space(ChainSpaceConfig())          # ProxylessNAS's mobile space
    assert len(space.layers) == 21
    for sp in space.layers:
        assert ("zero" in sp.candidates) == (sp.stride == 1 and sp.C_in == sp.C_out), sp
        assert [c for c in sp.candidates if c != "zero"] == [op for op in space.ops if op != "zero"]
    assert sum("zero" in sp.candidates for sp in space.layers) == 15   # all but each stage's first layer
    bad = published_data("proxyless_mobile")
    bad["blocks"][1]["op"] = "zero"                   # the stride-2 16 -> 32 block
    with pytest.raises(GenotypeError, match=r"blocks\[1\]\.op: 'zero' skips the layer.*stride 1"):
        chain_genotype_from_dict(bad)


@pytest.mark.parametrize("cfg", [TINY, TINY_NESTED], ids=["blocks", "nested"])
def test_residual_blocks_start_as_the_identity(cfg):
    space = build_space(cfg)
    net = space.supernet(INFO).eval()
    skipping = [(sp, layer) for sp, layer in zip(space.layers, net.layers) if sp.skip]
    assert len(skipping) == 3
    for sp, layer in skipping:
        x = torch.randn(2, sp.C_in, 4, 4)
        for k, op in enumerate(layer.candidates):
            assert torch.equal(layer(x, child_gates({layer.name: k})[layer.name]), x), op


def test_weight_step_runs_one_block_per_layer():
    torch.manual_seed(0)
    space = build_space(TINY)
    net = space.supernet(INFO)
    strategy = build_strategy(space, strategy_config("proxyless", init_scale=0.5))
    ran = []
    for layer in net.layers:
        for op, module in layer.ops.items():
            module.register_forward_hook(lambda m, i, o, key=(layer.name, op): ran.append(key))
    seen_zero = False
    for _ in range(20):
        ran.clear()
        gates = strategy.weight_sample()
        out = net(torch.randn(2, 1, 8, 8), gates)
        assert out.shape == (2, 3)
        expected = [(name, space.by_name[name].candidates[g.active]) for name, g in gates.items()]
        seen_zero |= any(op == "zero" for _, op in expected)
        assert sorted(ran) == sorted((n, op) for n, op in expected if op != "zero")   # a sampled zero runs nothing
    assert seen_zero


def test_nested_blocks_are_slices_of_the_largest():
    """Each candidate of a nested layer computes the MBConv made of its slices (centre of the
    largest depthwise kernel, first channels of the expansion), so a small block's step trains
    only the shared part and the derived block is the same function."""
    cfg = ChainSpaceConfig(**{**TINY_NESTED.__dict__, "ops": ["mbconv_3x3_e3", "mbconv_7x7_e6", "mbconv_5x5_e1"]})
    for spec in build_space(cfg).layers:
        nested = NestedBlocks(spec).eval()
        for op in spec.candidates:
            k, e = mbconv_params(op)
            block = MBConv(spec.C_in, spec.C_out, k, spec.stride, e).eval()
            mid, trim = nested.shape[op][1], (7 - k) // 2
            block.conv_dw.weight.data = nested.conv_dw.weight[:mid, :, trim:trim + k, trim:trim + k].clone()
            if e == 1:
                block.conv_pw.weight.data = nested.conv_pwl.weight[:, :mid].clone()
            else:
                block.conv_pw.weight.data = nested.conv_pw.weight[:mid].clone()
                block.conv_pwl.weight.data = nested.conv_pwl.weight[:, :mid].clone()
            bns = [m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            for mine, theirs in zip(bns, nested.bns[op], strict=True):
                theirs.weight.data.uniform_(0.5, 1.5)
                mine.load_state_dict(theirs.state_dict())
            x = torch.randn(2, spec.C_in, 8, 8)
            assert torch.allclose(block(x), nested(x, op), atol=1e-6), (spec.name, op)
        nested.zero_grad()
        nested(torch.randn(2, spec.C_in, 8, 8), "mbconv_3x3_e3").sum().backward()
        grad = nested.conv_dw.weight.grad.abs()
        mid = nested.shape["mbconv_3x3_e3"][1]
        assert grad[:mid, :, 2:5, 2:5].sum() > 0
        grad[:mid, :, 2:5, 2:5] = 0
        assert grad.sum() == 0


@pytest.mark.parametrize("name", CHAINS)
def test_published_chain_converts_and_matches_its_figures(name):
    config = json.loads((DATA / f"{name}.config").read_text())
    genotype = published_genotype(name)
    assert genotype_from_net_config(config) == genotype
    assert published_data(name)["meta"]["source"]
    cost = genotype_cost(genotype)
    (fig,) = published_data(name)["meta"]["published"]
    assert cost["params"] == pytest.approx(fig["params"], rel=0.02)
    if "multiply_adds" in fig:
        assert cost["multiply_adds"] == pytest.approx(fig["multiply_adds"], rel=0.02)


def test_every_published_chain_with_a_multiply_add_figure_is_checked():
    assert [n for n in CHAINS if "multiply_adds" in published_data(n)["meta"]["published"][0]] == \
        ["proxyless_gpu", "proxyless_mobile"]


@pytest.mark.parametrize("name", CHAINS)
def test_timm_builds_the_same_network(name):
    torch.manual_seed(0)
    genotype = published_genotype(name)
    ours = ChainNetwork(genotype, 3, 10).eval()
    for m in ours.modules():          # non-trivial BN statistics, so that a misplaced BN shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
    theirs = timm.create_model("supernet_chain", genotype=name, num_classes=10).eval()
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(theirs(x), ours(x), atol=1e-5)
    assert sum(len(stage) for stage in arch_def(genotype)) <= len(genotype.blocks)


def test_cell_and_chain_registry_entries_refuse_each_others_genotypes():
    with pytest.raises(GenotypeError, match="supernet_chain"):
        timm.create_model("supernet_cifar", genotype="proxyless_mobile")
    with pytest.raises(GenotypeError, match="supernet_cifar or supernet_mobile"):
        timm.create_model("supernet_chain", genotype="darts_v2")


def test_proxylessnas_table_import_round_trip(tmp_path):
    raw = yaml.safe_load((DATA / "mobile_trim.yaml").read_text())
    table = import_table(raw, "pixel1", str(tmp_path / "t.yaml"), "mobile_trim.yaml", "Pixel 1")
    table.save()
    again = load_table(tmp_path / "t.yaml", "pixel1", 1, "float32")
    shipped = load_table(ROOT / "supernet" / "latency_tables" / "pixel1.yaml", "pixel1", 1, "float32")
    assert again.entries == table.entries == shipped.entries and len(table.entries) == len(raw) == 72
    exported = {key: {"mean": ms} for sig, ms in again.entries.items() if (key := key_from_signature(sig))}
    assert exported == {k: {"mean": v["mean"]} for k, v in raw.items()}       # only means survive
    for key in raw:
        assert key_from_signature(signature_from_key(key)) == key
    assert key_from_signature("sep_conv_3x3|c16|8x8|s1") is None          # cells have no ProxylessNAS key
    with pytest.raises(TableError, match="not a ProxylessNAS table key"):
        signature_from_key("Conv2-input:1x1x1")
    with pytest.raises(TableError, match="inconsistent block"):
        signature_from_key("expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:3-stride:1-idskip:0")


def test_pixel1_table_predicts_proxylessnas_mobile():
    """ProxylessNAS-Mobile's choices in the mobile search space (its released network widened
    stage 1 from 24 to 32 channels after the search, so the network itself has no table
    entries) predicted from the Pixel 1 table: within 10% of the 78 ms its paper measured."""
    space = build_space(ChainSpaceConfig())
    table = load_table(ROOT / "supernet" / "latency_tables" / "pixel1.yaml", "pixel1", 1, "float32")
    predictor = LatencyPredictor(space, space.latency_model(DataInfo(3, 1000, 224)), table)
    with pytest.raises(MissingEntryError, match="first_conv.cin1.cout32.16x16.s2.*imported.*holds only the shapes"):
        LatencyPredictor(space, space.latency_model(DataInfo(1, 10, 16)), table)    # digits: not a phone's input
    mobile = published_genotype("proxyless_mobile")
    with pytest.raises(ValueError, match="block 1 .*width 32"):
        predictor.of_genotype(mobile)
    choice = {sp.name: sp.candidates.index(b.op) for sp, b in zip(space.layers, mobile.blocks[1:])}
    published = published_data("proxyless_mobile")["meta"]["published"][0]["latency_ms"]["pixel1"]
    assert predictor.of_genotype(space.genotype(choice)) == pytest.approx(published, rel=0.10)


def _synthetic_chain_table(tmp_path, space, slow_ms=5.0, fast_ms=0.2) -> Path:
    """Expansion-6 blocks are slow, everything else is cheap."""
    table = LatencyTable(measurement_meta("cpu", 1, 1, "float32", 0, 1), path=str(tmp_path / "chain.yaml"),
                         hardware="syn")
    table.entries = {s: (slow_ms if "_e6|" in s else fast_ms) for s in space.latency_model(INFO).signatures}
    table.save()
    return tmp_path / "chain.yaml"


def test_the_table_latency_of_a_chain_genotype_is_the_sum_of_its_blocks(tmp_path):
    """(That one-hot alphas expect exactly this latency is the space contract's test.)"""
    space = build_space(TINY_E6)
    table = load_table(_synthetic_chain_table(tmp_path, space), "syn", 1, "float32")
    predictor = LatencyPredictor(space, space.latency_model(INFO), table)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        genotype = space.genotype({d.name: int(torch.randint(len(d.candidates), (), generator=g))
                                   for d in space.decisions})
        ops = [b.op for b in genotype.blocks[1:]]
        assert predictor.of_genotype(genotype) == pytest.approx(
            4 * 0.2 + 5.0 * sum(op.endswith("e6") for op in ops) + 0.2 * sum(op.endswith("e3") for op in ops), rel=1e-5)
    del table.entries[space.latency_model(INFO).units[0][1][0][0]]
    with pytest.raises(MissingEntryError, match="mbconv_3x3_e3.cin8.cout8.4x4.s1"):
        LatencyPredictor(space, space.latency_model(INFO), table)


@pytest.mark.parametrize("name", sorted(STRATEGIES))


def test_every_strategy_searches_the_chain(tmp_path, name):
    data = blobs(48, seed=0), blobs(32, seed=1), INFO
    extra = {"strategy.num_candidates": 3} if name == "random" else {}
    cfg = tiny_config(space=TINY, **{"strategy.name": name, "trainer.epochs": 2, "trainer.warmup_epochs": 0, **extra})
    result = run_search(cfg, tmp_path, data=data)
    genotype = result.genotype
    assert isinstance(genotype, ChainGenotype) and len(genotype.blocks) == 1 + len(build_space(TINY).layers)
    saved = json.loads(result.files["genotype"].read_text())
    assert resolve_genotype(result.files["genotype"]) == genotype
    assert saved["meta"]["cost"]["setting"].startswith("imagenet")
    assert result.files["cells"].exists() and result.files["alphas"].exists()
    assert result.metrics[-1]["chain/" + genotype.blocks[1].op] >= 1


def test_chain_search_on_an_image_folder(tmp_path):
    """ImageNet-style folders (RGB, any size, resized): the chain searches them as it does digits."""
    for cls in range(2):
        (tmp_path / "data" / "train" / f"c{cls}").mkdir(parents=True)
        for i in range(12):
            image = Image.new("RGB", (20, 18), (120 * cls, 10 * i, 60))
            image.save(tmp_path / "data" / "train" / f"c{cls}" / f"{i}.png")
    cfg = tiny_config(space=TINY, **{"trainer.epochs": 1, "trainer.warmup_epochs": 0})
    cfg.data = DataConfig(name="imagefolder", root=str(tmp_path / "data"), image_size=16, batch_size=4)
    result = run_search(cfg, tmp_path / "run")
    assert isinstance(result.genotype, ChainGenotype) and result.net.stem[0].in_channels == 3
    assert result.net.classifier.out_features == 2


def test_latency_aware_chain_search_meets_a_tight_target(tmp_path):
    table = _synthetic_chain_table(tmp_path, build_space(TINY_E6))
    cfg = tiny_config(space=TINY_E6, **{"trainer.epochs": 5, "strategy.arch_lr": 0.1})
    cfg.hardware = HardwareConfig(name="syn", table=str(table), target_ms=3.0)
    cfg.latency = LatencyConfig(loss="additive", weight=3.0)
    result = run_search(cfg, tmp_path / "run", data=(blobs(96, seed=0), blobs(96, seed=1), INFO))
    assert result.metrics[-1]["derived_latency_ms"] <= 3.0
    assert result.metrics[-1]["expected_latency_ms"] < result.metrics[0]["expected_latency_ms"]


def test_chain_retrains_and_its_weights_load_into_timm(tmp_path):
    genotype = build_space(TINY).genotype({d.name: 0 for d in build_space(TINY).decisions})
    path = tmp_path / "g.json"
    path.write_text(json.dumps(genotype.to_dict()))
    cfg = RetrainConfig(genotype=str(path))
    cfg.trainer.epochs, cfg.trainer.progress, cfg.data.batch_size = 1, False, 16
    cfg.model.drop_path_prob = 0.1
    result = run_retrain(cfg, tmp_path / "run", data=(blobs(64, seed=0), blobs(32, seed=1), INFO))
    assert result.summary["form"] == "chain" and result.summary["params"] > 0
    net = timm.create_model("supernet_chain", genotype=str(result.files["genotype"]),   # records in_chans, classes
                            checkpoint_path=str(result.files["model"])).eval()
    ours = ChainNetwork(genotype, 1, 3)
    ours.load_state_dict(torch.load(result.files["model"], weights_only=True))
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net(x), ours.eval()(x), atol=1e-5)
