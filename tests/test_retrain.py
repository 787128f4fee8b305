"""Discrete networks, published cells, multiply-adds, timm registry, export and the retrain loop."""
import json

import pytest
import timm
import torch
from conftest import blobs, tiny_config
from torch import nn

import supernet  # noqa: F401  (registers the timm models)
from supernet.config import DataConfig, ModelConfig, RetrainConfig, RetrainTrainerConfig
from supernet.cost import count_parameters, genotype_cost, multiply_adds
from supernet.data import DataInfo
from supernet.genotype_json import GenotypeError, load_genotype
from supernet.genotypes import published_data, published_genotype, published_names, resolve_genotype
from supernet.retrain import ScheduledDropPath, run_retrain
from supernet.run import OtherRunError
from supernet.search import run_search
from supernet.spaces.nasnet_cell.network import CellNetwork, CellNetworkImageNet, build_network

NAMES = [n for n in published_names() if not n.startswith("proxyless")]   # the cells (chains: test_chain.py)
COMPARABLE = [(n, fig) for n in NAMES for fig in published_data(n)["meta"]["published"]
              if fig["comparable"] and ("params" in fig or "multiply_adds" in fig)]


def test_all_published_cells_ship():
    assert NAMES == ["amoebanet_a", "darts_v1", "darts_v2", "enas", "nasnet_a", "pnasnet_5"]
    assert len(COMPARABLE) == 3  # DARTS-V2 CIFAR + mobile, ENAS CIFAR
    for name in NAMES:
        meta = published_data(name)["meta"]
        assert meta["source"] and meta["paper"] and meta["published"]


@pytest.mark.parametrize("form, size", [("cifar", 8), ("imagenet", 32)])
@pytest.mark.parametrize("name", NAMES)
def test_published_cell_builds_and_trains(name, form, size):
    torch.manual_seed(0)
    net = build_network(published_genotype(name), form, 3, 5, 3, 4, auxiliary=True, drop_path_prob=0.2)
    logits, aux = net.forward_with_aux(torch.randn(2, 3, size, size))
    assert logits.shape == aux.shape == (2, 5)
    (logits.sum() + aux.sum()).backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name, fig", COMPARABLE, ids=[f"{n}-{f['setting']}" for n, f in COMPARABLE])
def test_parameters_and_multiply_adds_match_the_papers(name, fig):
    size = 224 if fig["setting"] == "imagenet" else 32
    with torch.device("meta"):
        net = build_network(published_genotype(name), fig["setting"], 3, fig["num_classes"], fig["layers"],
                            fig["init_channels"])
    ours = {"params": count_parameters(net), "multiply_adds": multiply_adds(net, (1, 3, size, size))}
    for key in ("params", "multiply_adds"):
        if key in fig:
            assert ours[key] == pytest.approx(fig[key], rel=0.02), key


def test_darts_v2_counts_exact_and_the_574m_gap():
    """DARTS's own count for the 3.3M / 4.7M nets is 3.349342M / 4.718752M; our multiply-adds
    equal a hand count over every conv and linear layer, which lands 7.7% under the paper's
    unreproducible 574M (quark0/darts#46)."""
    g = published_genotype("darts_v2")
    assert genotype_cost(g)["params"] == 3_349_342
    with torch.device("meta"):
        net = CellNetworkImageNet(g).eval()
    hand = []

    def hook(m, _, out):
        if isinstance(m, nn.Conv2d):
            hand.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        else:
            hand.append(m.in_features * m.out_features)

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    macs = multiply_adds(net, (1, 3, 224, 224))
    assert count_parameters(net) == 4_718_752
    assert macs == sum(hand)
    assert 0.90 * 574e6 < macs < 574e6


def test_drop_path_only_in_training_and_its_schedule():
    torch.manual_seed(0)
    net = CellNetwork(published_genotype("darts_v2"), 1, 3, 3, 4, drop_path_prob=0.0)
    x = torch.randn(4, 1, 8, 8)
    net.eval()
    plain = net(x)
    net.drop_path_prob = 0.5
    assert torch.equal(net(x), plain)
    net.train()
    no_drop = (setattr(net, "drop_path_prob", 0.0), net(x))[1]
    net.drop_path_prob = 0.5
    assert not torch.allclose(net(x), no_drop)
    with pytest.raises(ValueError, match="drop path"):
        net.drop_path_prob = 1.0
    schedule = ScheduledDropPath(0.3, 10)
    assert [schedule(e) for e in (0, 5, 10)] == pytest.approx([0.0, 0.15, 0.3])


def test_auxiliary_head_runs_only_in_training():
    net = CellNetwork(published_genotype("darts_v2"), 1, 3, 6, 4, auxiliary=True)
    calls = []
    net.auxiliary_head.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 1, 8, 8)
    assert net.forward_with_aux(x)[1].shape == (2, 3) and len(calls) == 1
    net.eval()
    assert net.forward_with_aux(x)[1] is None and net(x).shape == (2, 3) and len(calls) == 1
    assert count_parameters(net) == count_parameters(CellNetwork(net.genotype, 1, 3, 6, 4))


def test_a_searched_genotype_builds(tmp_path, tiny_data):
    result = run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0}), tmp_path, data=tiny_data)
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved["meta"]["cost"]["multiply_adds"] > 0 and saved["meta"]["cost"]["setting"].startswith("cifar")
    net = build_network(load_genotype(tmp_path / "genotype.json"), "cifar", 1, 3, 3, 4)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    assert net.genotype == result.genotype


@pytest.mark.parametrize("model, cls, size", [("supernet_cifar", CellNetwork, 16),
                                              ("supernet_mobile", CellNetworkImageNet, 32)])
def test_timm_registry_builds_the_same_network(model, cls, size):
    torch.manual_seed(0)
    ours = cls(published_genotype("nasnet_a"), 3, 7, 5, 8).eval()
    theirs = timm.create_model(model, genotype="nasnet_a", num_classes=7, layers=5, init_channels=8).eval()
    assert type(theirs) is cls and count_parameters(theirs) == count_parameters(ours)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, size, size)
    assert torch.equal(theirs(x), ours(x))
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model(model, pretrained=True)


def _small_eval_net():
    torch.manual_seed(0)
    return CellNetwork(published_genotype("darts_v2"), 3, 10, 3, 4, auxiliary=True, drop_path_prob=0.2).eval()


def test_torch_export_round_trip():
    net, x = _small_eval_net(), torch.randn(2, 3, 16, 16)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x))


def test_onnx_round_trip(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    net, x = _small_eval_net(), torch.randn(2, 3, 16, 16)
    torch.onnx.export(net, (x,), tmp_path / "net.onnx")
    session = ort.InferenceSession(str(tmp_path / "net.onnx"))
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(out), net(x), rtol=1e-4, atol=1e-5)


def test_unknown_name_and_malformed_genotype_errors(tmp_path):
    with pytest.raises(GenotypeError, match="darts_v2.*nasnet_a"):
        resolve_genotype("darts_v3")
    bad = published_data("darts_v2")
    bad["reduce"]["nodes"][1][0]["input"] = 7
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(GenotypeError, match=r"reduce\.nodes\[1\]\[0\]\.input"):
        resolve_genotype(str(tmp_path / "bad.json"))
    with pytest.raises(GenotypeError, match="darts_v2"):
        timm.create_model("supernet_cifar", genotype="dartz")
    (tmp_path / "cut.json").write_text(json.dumps(published_data("darts_v2"))[:40])
    with pytest.raises(GenotypeError, match=r"cut\.json: not valid JSON"):
        timm.create_model("supernet_cifar", genotype=str(tmp_path / "cut.json"))


def _tiny_retrain(**trainer):
    return RetrainConfig(
        genotype="darts_v2", data=DataConfig(batch_size=16),
        model=ModelConfig(init_channels=4, layers=3, stem_multiplier=1, drop_path_prob=0.2),
        trainer=RetrainTrainerConfig(**{"epochs": 2, "lr": 0.05, "progress": False, "ema": True,
                                        "ema_decay": 0.9, **trainer}))


def _tiny_retrain_data():
    return blobs(64, seed=0), blobs(32, seed=1), DataInfo(in_channels=1, num_classes=3, image_size=8)


def test_retrain_resume_equals_uninterrupted(tmp_path, monkeypatch):
    full = run_retrain(_tiny_retrain(), tmp_path / "full", data=_tiny_retrain_data())
    assert [r["drop_path_prob"] for r in full.metrics] == pytest.approx([0.0, 0.1])
    assert full.summary["params"] > 0 and full.summary["multiply_adds"] > 0

    import supernet.run.folder as run_mod
    real_save = run_mod.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_retrain(_tiny_retrain(), tmp_path / "cut", data=_tiny_retrain_data())
    monkeypatch.setattr(run_mod, "save_checkpoint", real_save)
    cfg = _tiny_retrain()
    cfg.resume = True
    resumed = run_retrain(cfg, tmp_path / "cut", data=_tiny_retrain_data())
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in full.metrics]
    a, b = torch.load(full.files["model"]), torch.load(resumed.files["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the README's line: the retrain's genotype.json carries the network it trained
    loaded = timm.create_model("supernet_cifar", genotype=str(full.files["genotype"]),
                               checkpoint_path=str(full.files["model"])).eval()
    assert count_parameters(loaded) == full.summary["params"]
    assert full.summary["network"] == {"model": "supernet_cifar", "form": "cifar", "in_chans": 1, "num_classes": 3,
                                       "layers": 3, "init_channels": 4, "stem_multiplier": 1}
    assert loaded.state_dict().keys() == a.keys() and all(torch.equal(loaded.state_dict()[k], a[k]) for k in a)
    with pytest.raises(GenotypeError, match="retrained as supernet_cifar"):
        timm.create_model("supernet_mobile", genotype=str(full.files["genotype"]))


def test_a_retrain_resume_trains_the_genotype_and_settings_it_started_with(tmp_path):
    run_retrain(_tiny_retrain(), tmp_path, data=_tiny_retrain_data())
    before = {f: (tmp_path / f).read_bytes() for f in ("checkpoint.pt", "config.yaml", "model.pt")}
    other = _tiny_retrain()
    other.genotype, other.resume = "darts_v1", True   # the same weight shapes: it would train a mix of both
    with pytest.raises(OtherRunError, match="another genotype than 'darts_v1'"):
        run_retrain(other, tmp_path, data=_tiny_retrain_data())
    for key, value in (("lr", 0.1), ("epochs", 4)):
        changed = _tiny_retrain(**{key: value})
        changed.resume = True
        with pytest.raises(OtherRunError, match=f"trainer.{key}: .* -> {value}"):
            run_retrain(changed, tmp_path, data=_tiny_retrain_data())
    assert {f: (tmp_path / f).read_bytes() for f in before} == before
    same = _tiny_retrain(progress=True)          # how it runs may change
    same.resume = True
    assert len(run_retrain(same, tmp_path, data=_tiny_retrain_data()).metrics) == 2
