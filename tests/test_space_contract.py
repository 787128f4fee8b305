"""The contract every registered space family keeps, one parametrized test over all of them
(and a toy family registered from the test folder alone): a weight step computes exactly the
sampled child; the binarized full-mode gradient equals the dense mixture's; the expected latency
of one-hot alphas is the genotype's table latency; a genotype survives JSON and the space's
inverse, and every consumer of a genotype (picture, cost, retrain network) takes it through the
registry.  A new family adds one small config to ``TINY`` and passes this file."""
import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
import toy_space

from benchmarks.synthetic import blobs
from supernet.config import DataConfig, ModelConfig, RetrainConfig, SearchConfig, TrainerConfig
from supernet.cost import genotype_cost
from supernet.data import DataInfo
from supernet.derive import derive_run
from supernet.genotype_json import load_genotype, parse_genotype, save_genotype
from supernet.hardware import LatencyPredictor
from supernet.latency import LatencyTable
from supernet.latency.table import measurement_meta
from supernet.plots import plot_genotype
from supernet.retrain import run_retrain
from supernet.search import run_search
from supernet.spaces import SPACES, build_space, family_of
from supernet.spaces.base import one_hot, path_weights, uniform_choice
from supernet.spaces.nasbench201.config import NB201SpaceConfig
from supernet.spaces.nasnet_cell.config import CellSpaceConfig
from supernet.spaces.proxyless_chain.config import ChainSpaceConfig
from supernet.strategies import build_strategy, strategy_config

INFO = DataInfo(1, 3, 8)
CHAIN = ChainSpaceConfig(ops=["mbconv_3x3_e3", "mbconv_5x5_e3", "zero"], first_conv=8, first_block=8,
                         widths=[8, 16], depths=[2, 2], strides=[1, 2], feature_mix=32, nested_blocks=False)
TINY = {
    "nasnet_cell": CellSpaceConfig(nodes=2, ops=["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"], layers=3,
                                   init_channels=4, stem_multiplier=1),
    "proxyless_chain": CHAIN,
    "proxyless_chain/nested": dataclasses.replace(CHAIN, nested_blocks=True),
    "nasbench201": NB201SpaceConfig(init_channels=4, cells_per_stage=1),
    "toy": toy_space.ToyConfig(),
}


@pytest.fixture(params=sorted(TINY))
def space(request):
    with toy_space.registered():
        torch.manual_seed(0)
        yield build_space(TINY[request.param])


def test_every_registered_family_is_covered():
    assert {key.split("/")[0] for key in TINY} - {"toy"} == set(SPACES)


def _supernet(space):
    net = space.supernet(INFO)
    for m in net.modules():     # residual blocks start as zero branches: give every path an output
        if isinstance(m, torch.nn.BatchNorm2d) and m.affine:
            m.weight.data.uniform_(0.5, 1.5)
    return net


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)


def test_a_weight_step_computes_exactly_the_sampled_child(space):
    """The gated forward computes the child's one-hot mixture: the same logits, and gradients on
    exactly the same weights with the same values (the unsampled paths get none).  That only
    the sampled paths *run* is each family's own test (test_gates.py, test_chain.py)."""
    net = _supernet(space)
    strategy = build_strategy(space, strategy_config("proxyless", init_scale=0.5))
    x, y = _batch()

    def grads(out):
        net.zero_grad(set_to_none=True)
        F.cross_entropy(out, y).backward()
        return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}

    for trial in range(3):
        gates = strategy.weight_sample()
        out = net(x, gates)
        sampled = grads(out)
        mixed = net(x, mixture=path_weights(space, one_hot(space, {name: g.active for name, g in gates.items()})))
        assert torch.allclose(out, mixed, atol=1e-5)
        reference = grads(mixed)
        assert sampled.keys() == reference.keys()
        assert all(torch.allclose(sampled[n], reference[n], atol=1e-5) for n in sampled)
        assert len(sampled) < sum(1 for _ in net.parameters())


def test_full_mode_gradient_equals_the_dense_mixture(space):
    """full_v2 (the other paths re-run in the backward) equals autograd through sum_j g_j o_j
    with every path kept, g the same one-hot gates on alpha's graph."""
    net = _supernet(space)
    strategy = build_strategy(space, strategy_config("proxyless", mode="full", init_scale=0.5))
    x, y = _batch()
    gates = strategy.arch_sample()
    F.cross_entropy(net(x, gates), y).backward()
    fast = {k: a.grad.clone() for k, a in strategy.alphas.items()}
    strategy.zero_grad()
    probs = {}
    for name, gate in gates.items():
        alpha, idx = strategy.alphas[name], torch.tensor(gate.candidates)
        p = F.softmax(alpha[idx], 0)
        g = F.one_hot(torch.tensor(gate.candidates.index(gate.active)), len(idx)).float() + p - p.detach()
        probs[name] = torch.zeros(len(alpha)).scatter(0, idx, g)
    F.cross_entropy(net(x, mixture=path_weights(space, probs)), y).backward()
    for k, a in strategy.alphas.items():
        assert torch.allclose(a.grad, fast[k], atol=1e-5, rtol=1e-3), k
    assert any(a.grad.abs().sum() > 0 for a in strategy.alphas.values())


def test_expected_latency_of_one_hot_alphas_is_the_genotype_table_latency(space, tmp_path):
    model = space.latency_model(INFO)
    table = LatencyTable(measurement_meta("cpu", 1, 1, "float32", 0, 1), path=str(tmp_path / "t.yaml"), hardware="syn")
    g = torch.Generator().manual_seed(0)
    table.entries = {s: float(torch.rand((), generator=g)) + 0.01 for s in model.signatures}
    predictor = LatencyPredictor(space, model, table)
    strategy = build_strategy(space, strategy_config("proxyless"))
    for _ in range(3):
        choice = uniform_choice(space, g, allow_none=False)
        with torch.no_grad():
            for name, k in choice.items():
                strategy.alphas[name].fill_(-50.0)[k] = 50.0
        expected = predictor.expected(strategy.path_weights()).item()
        assert expected == pytest.approx(predictor.of_genotype(space.genotype(choice)), rel=1e-5)
        assert set(path_weights(space, one_hot(space, choice))) == set(space.edges)


def test_a_genotype_goes_through_json_the_inverse_and_every_consumer(space, tmp_path):
    choice = uniform_choice(space, torch.Generator().manual_seed(0), allow_none=False)
    genotype = space.genotype(choice)
    assert family_of(genotype) is type(space)
    assert parse_genotype(json.loads(json.dumps(genotype.to_dict()))) == genotype
    assert load_genotype(save_genotype(genotype, tmp_path / "g.json", seed=3)) == genotype
    assert space.choice_of(genotype) == choice
    assert plot_genotype(genotype, tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    cost = genotype_cost(genotype)
    assert cost["params"] > 0 and cost["multiply_adds"] > 0
    x = torch.randn(2, 1, 8, 8)
    assert space.network(genotype, INFO)(x).shape == (2, 3)
    model = ModelConfig(init_channels=4, layers=3, auxiliary=False, drop_path_prob=0.0)
    retrained = family_of(genotype).retrain_network(genotype, model, INFO)
    assert retrained.forward_with_aux(x)[0].shape == (2, 3)
    record = family_of(genotype).network_record(genotype, model, INFO)
    assert {"model", "in_chans", "num_classes", "layers", "init_channels"} <= set(record)


def test_a_family_registered_from_the_test_folder_searches_derives_and_retrains(tmp_path):
    data = blobs(64, seed=0), blobs(32, seed=1), INFO
    with toy_space.registered():
        cfg = SearchConfig(data=DataConfig(batch_size=16), space=toy_space.ToyConfig(),
                           strategy=strategy_config("darts", arch_lr=0.05),
                           trainer=TrainerConfig(epochs=2, warmup_epochs=1, topology_warmup_epochs=0, progress=False,
                                                 final_quality_children=2))
        result = run_search(cfg, tmp_path / "search", data=data)
        assert isinstance(result.genotype, toy_space.ToyGenotype) and len(result.genotype.ops) == 2
        assert {"genotype", "cells", "alphas", "curves"} <= set(result.files)
        derived, _ = derive_run(tmp_path / "search", out=tmp_path / "derived")
        assert derived == result.genotype
        retrain = RetrainConfig(genotype=str(tmp_path / "derived" / "genotype.json"), seed=0)
        retrain.model.init_channels, retrain.trainer.epochs, retrain.trainer.progress = 4, 1, False
        out = run_retrain(retrain, tmp_path / "retrain", data=data)
        assert out.summary["network"]["model"] == "toy" and out.summary["params"] > 0
    assert "toy" not in SPACES
