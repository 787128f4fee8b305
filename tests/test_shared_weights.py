"""Shared weights that children can be measured on: BN statistics of a child's own, scale-matched
candidates in the search cell only, one op module per node for every input, FairNAS's strict
fairness, the topology warm-up, and the figures a search reports about its own supernet."""
import json
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import blobs, tiny_config
from torch import nn

from supernet.data import DataInfo
from supernet.gates import child_gates
from supernet.ops import Pool, search_op
from supernet.probe import ChildProbe, child_accuracy, own_bn_statistics
from supernet.run.metrics import format_row
from supernet.search import run_search, weight_gradients
from supernet.spaces.base import fair_children, uniform_choice
from supernet.spaces.nasnet_cell.network import CellNetwork
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.strategies import build_strategy, strategy_config

OPS = ["skip_connect", "max_pool_3x3", "avg_pool_3x3", "sep_conv_3x3"]


def _space(**kw):
    return CellSpace(3, OPS, layers=3, init_channels=4, **kw)


def _bn_buffers(net):
    return {k: b.clone() for k, b in net.named_buffers()}


def test_own_bn_statistics_restore_the_supernet_buffers_and_fix_a_child_measured_with_mixed_ones():
    torch.manual_seed(0)
    space, data = _space(), blobs(192, seed=0)
    net = space.supernet(DataInfo(1, 3, 8))
    child = child_gates(uniform_choice(space, torch.Generator().manual_seed(1), allow_none=False))
    opt = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9)
    x, y = data.tensors
    for _ in range(60):                            # train one child; its running statistics are its own
        opt.zero_grad()
        F.cross_entropy(net(x, child), y).backward()
        opt.step()
    for m in net.modules():                        # what running averages over other children look like
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.add_(3.0)
            m.running_var.mul_(20.0)
    mixed = _bn_buffers(net)
    net.eval()
    with torch.no_grad():
        stale = (net(x, child).argmax(1) == y).float().mean().item()
    net.train()
    own = child_accuracy(net, child, [(x, y)], [(x, y)], "cpu")
    assert own > stale + 0.3, (own, stale)
    assert net.training
    for k, b in _bn_buffers(net).items():
        assert torch.equal(b, mixed[k]), k


def test_own_bn_statistics_are_the_childs_batch_statistics():
    torch.manual_seed(0)
    space = _space(share_inputs=False)            # every module runs at most once per child
    net = space.supernet(DataInfo(1, 3, 8))
    child = child_gates(uniform_choice(space, torch.Generator().manual_seed(3), allow_none=False))
    x = torch.randn(32, 1, 8, 8)
    with torch.no_grad():
        in_train_mode = net(x, child)               # normalised by this batch's own statistics
        with own_bn_statistics(net, child, [(x, None)], "cpu"):
            assert not net.training
            calibrated = net(x, child)
    # eval uses the unbiased variance the buffers keep, training the biased one: equal up to n/(n-1),
    # with n as small as 32 x 2 x 2 in the last cells
    assert torch.allclose(in_train_mode, calibrated, rtol=0.02, atol=0.02)


def test_a_probe_runs_each_child_once_and_another_probe_runs_it_again():
    """A ranked derive and the trust figures ask for the same children: a probe measures a child
    (whatever the order of its decisions) once; one built later, on trained weights, measures anew."""
    space, (x, y) = _space(), blobs(64, seed=0).tensors
    net = space.supernet(DataInfo(1, 3, 8))
    runs = []
    net.register_forward_pre_hook(lambda module, args: runs.append(1))
    gen = torch.Generator().manual_seed(0)
    choice, other = (uniform_choice(space, gen, allow_none=False) for _ in range(2))
    probe = ChildProbe(net, [(x, y)], [(x, y)], "cpu")
    first = probe.accuracy(choice)
    once = len(runs)
    assert once == 2        # one calibration batch, one val batch
    assert probe.accuracy(dict(reversed(list(choice.items())))) == first and len(runs) == once
    probe.accuracy(other)
    assert len(runs) == 2 * once
    assert ChildProbe(net, [(x, y)], [(x, y)], "cpu").accuracy(choice) == first and len(runs) == 3 * once


def test_parameter_free_ops_get_a_bn_in_the_search_cell_only():
    op = search_op("max_pool_3x3", 8, 8, 1)
    assert isinstance(op, nn.Sequential) and isinstance(op[0], Pool)
    assert isinstance(op[1], nn.BatchNorm2d) and not op[1].affine
    assert not any(isinstance(m, nn.BatchNorm2d) for m in search_op("skip_connect", 8, 8, 1).modules())
    conv = search_op("sep_conv_3x3", 8, 8, 1)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in conv.modules()) == 2       # no extra BN
    space = _space()
    genotype = space.genotype({d.name: (1 if d.kind == "op" else 0) for d in space.decisions})  # max pools
    retrained = CellNetwork(genotype, 1, 3, 3, 4)
    pools = [m for m in retrained.modules() if isinstance(m, Pool)]
    assert pools and all(m.proj is None for m in pools)
    assert not any(isinstance(m, nn.Sequential) and isinstance(m[0], Pool) for m in retrained.modules())


def test_one_op_module_per_node_and_stride_whatever_input_a_slot_reads():
    shared, separate = _space().supernet(DataInfo(1, 3, 8)), _space(share_inputs=False).supernet(DataInfo(1, 3, 8))
    assert sum(p.numel() for p in shared.parameters()) < sum(p.numel() for p in separate.parameters())
    for a, b in zip(shared.cells, separate.cells):
        for node in range(3):
            assert len(b.bank[node]) == node + 2                  # ENAS / DARTS: one set per input
            assert len(a.bank[node]) == (1 if a.stride == 1 or node == 0 else 2)   # one per stride
    cell = shared.cells[0]                                        # a normal cell: every input at stride 1
    states = [torch.randn(2, 4, 8, 8) for _ in range(4)]
    module = cell.bank[2][0]["sep_conv_3x3"]
    module.eval()
    for src in range(4):
        assert torch.equal(cell._run(states, 2, src, OPS.index("sep_conv_3x3")), module(states[src]))


def test_strict_fairness_trains_every_candidate_of_every_decision_once_per_step():
    space = CellSpace(4, ["none", *OPS], layers=3, init_channels=4)
    children = fair_children(space, torch.Generator().manual_seed(0))
    m = max(len(d.candidates) for d in space.decisions)
    assert len(children) == m
    for d in space.decisions:
        counts = [sum(c[d.name] == k for c in children) for k in range(len(d.candidates))]
        if len(d.candidates) == m:
            assert counts == [1] * m, d.name
        else:                                                      # fewer candidates: as even as can be
            assert min(counts) >= 1 and max(counts) - min(counts) <= 1, (d.name, counts)


def test_a_fair_weight_step_reaches_every_op_module_of_a_normal_cell():
    torch.manual_seed(0)
    space = _space()
    net = space.supernet(DataInfo(1, 3, 8))
    strategy = build_strategy(space, strategy_config("proxyless"))
    x, y = blobs(16).tensors
    bank = net.cells[0].bank                                       # normal: one module set per node

    def trained():
        return {(node, op) for node, groups in enumerate(bank) for op, m in groups[0].items()
                if any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())}

    weight_gradients(net, strategy, x, y, {}, strict_fairness=True)
    parametric = {(node, op) for node in range(3) for op in ("sep_conv_3x3",)}
    assert trained() == parametric
    net.zero_grad(set_to_none=True)
    loss, acc = weight_gradients(net, strategy, x, y, {}, strict_fairness=False)
    assert 0 <= acc <= 1 and loss > 0


def test_strict_fairness_refuses_a_strategy_that_trains_the_mixture(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="strict_fairness.*darts"):
        run_search(tiny_config(**{"strategy.name": "darts", "trainer.strict_fairness": True}), tmp_path, data=tiny_data)


def test_topology_warmup_holds_the_inputs_then_samples_them(tmp_path, tiny_data, monkeypatch):
    seen = []
    cfg = tiny_config(**{"trainer.epochs": 2, "trainer.warmup_epochs": 2, "trainer.topology_warmup_epochs": 1,
                         "space.nodes": 3})
    from supernet.spaces.nasnet_cell.supernet import CellSupernet
    forward = CellSupernet.forward

    def record(self, x, gates=None, mixture=None):
        if torch.is_grad_enabled():                                # weight steps (no arch steps here)
            seen.append(tuple(g.active for name, g in sorted(gates.items()) if name.endswith("_input")))
        return forward(self, x, gates, mixture)

    monkeypatch.setattr(CellSupernet, "forward", record)
    run_search(cfg, tmp_path, data=tiny_data)
    per_epoch = len(seen) // 2
    assert len(set(seen[:per_epoch])) == 1                         # epoch 1: one topology
    assert len(set(seen[per_epoch:])) > 1                          # epoch 2: inputs sampled


@pytest.mark.parametrize("name", ["proxyless", "darts"])
def test_a_search_reports_how_far_to_trust_its_shared_weights(tmp_path, tiny_data, caplog, name):
    caplog.set_level(logging.INFO, logger="supernet.search")
    result = run_search(tiny_config(**{"strategy.name": name, "trainer.quality_children": 2, "trainer.measure_every": 2,
                                       "trainer.final_quality_children": 3}), tmp_path, data=tiny_data)
    # darts trains the mixture: its children on the shared weights are not what to judge it by, and it says so
    assert ("trains the mixture of every path" in caplog.text) == (name == "darts")
    measured = [row for row in result.metrics if row["epoch"] in (2, 3)]       # every 2nd epoch and the last
    assert len(measured) == 2 and all(0 <= row["val_acc_derived"] <= 1 and 0 <= row["val_acc_sampled"] <= 1
                                      for row in measured)
    first = result.metrics[0]
    assert math.isnan(first["val_acc_derived"]) and math.isnan(first["val_acc_sampled"])
    assert "val_acc" not in format_row(first) and "alpha_entropy" in format_row(first)      # the console line
    assert "normal/skip_connect" in first and "/" not in format_row(first)     # its histogram: metrics.csv only
    meta = json.loads((tmp_path / "genotype.json").read_text())["meta"]["shared_weights"]
    assert meta["children"] == 3
    assert 0 <= meta["sampled_acc_mean"] <= 1 and 0 <= meta["derived_acc"] <= 1 and meta["sampled_acc_sd"] >= 0


@pytest.mark.parametrize("name", ["reinforce", "enas"])
def test_reward_strategies_measure_children_without_touching_the_supernet_statistics(name):
    torch.manual_seed(0)
    space = _space()
    net = space.supernet(DataInfo(1, 3, 8))
    strategy = build_strategy(space, strategy_config(name))
    x, y = blobs(16).tensors
    before = _bn_buffers(net)
    strategy.arch_step(net, x, y, F.cross_entropy, train=(x + 1.0, y))
    assert all(torch.equal(b, before[k]) for k, b in _bn_buffers(net).items())


def test_a_fair_weight_step_sums_the_gradients_of_its_children():
    """FairNAS accumulates the single-path gradients: each candidate gets its own full gradient."""
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        space = _space()
        net = space.supernet(DataInfo(1, 3, 8))
        strategy = build_strategy(space, strategy_config("proxyless"))
        x, y = blobs(16).tensors
        state = strategy.generator.get_state()
        weight_gradients(net, strategy, x, y, {}, strict_fairness=True)
        fair = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        strategy.generator.set_state(state)
        total = {}
        for choice in fair_children(space, strategy.generator):
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, child_gates(choice)), y).backward()
            for n, p in net.named_parameters():
                if p.grad is not None:
                    total[n] = total.get(n, 0) + p.grad
        assert set(fair) == set(total)
        assert all(torch.allclose(fair[n], total[n], rtol=1e-12, atol=1e-15) for n in fair)
    finally:
        torch.set_default_dtype(torch.float32)


def test_own_bn_statistics_restore_every_modules_mode():
    space = _space()
    net = space.supernet(DataInfo(1, 3, 8))
    net.train()
    net.cells[1].eval()                        # a submodule in eval inside a training net
    modes = {n: m.training for n, m in net.named_modules()}
    child = child_gates(uniform_choice(space, torch.Generator().manual_seed(1), allow_none=False))
    x, y = blobs(16).tensors
    with own_bn_statistics(net, child, [(x, y)], "cpu"):
        assert not net.training
    assert {n: m.training for n, m in net.named_modules()} == modes
