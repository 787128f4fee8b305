"""The binarized-gate algorithm: one active path, where alpha's gradient comes from, the
two-path rescaling, and the BinaryConnect estimator against its formula."""
import torch
import torch.nn.functional as F

from supernet.gates import Gate, apply_gate
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.spaces.nasnet_cell.supernet import CellSupernet
from supernet.strategies import build_strategy, strategy_config

OPS = ["none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "sep_conv_3x3", "dil_conv_3x3"]


def _setup(mode="two", nodes=3):
    torch.manual_seed(0)
    space = CellSpace(nodes, OPS)
    net = CellSupernet(space, in_channels=1, num_classes=3, layers=3, C=4, stem_multiplier=1)
    strategy = build_strategy(space, strategy_config("proxyless", mode=mode, arch_lr=0.1, init_scale=0.5))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    return space, net, strategy, x, y


def _ce(logits, y):
    return F.cross_entropy(logits, y)


def test_weight_step_runs_exactly_one_path_per_slot():
    space, net, strategy, x, _ = _setup()
    ran = []
    for ci, cell in enumerate(net.cells):
        for node, groups in enumerate(cell.bank):
            for group, ops in enumerate(groups):
                for op, module in ops.items():
                    module.register_forward_hook(lambda m, i, o, key=(ci, cell.kind, node, group, op): ran.append(key))
    for trial in range(5):
        ran.clear()
        gates = strategy.weight_sample()
        net(x, gates)
        expected = []
        for ci, cell in enumerate(net.cells):
            for node in range(space.nodes):
                for slot in (0, 1):
                    src = gates[f"{cell.kind}_n{node}_s{slot}_input"].active
                    op = OPS[gates[f"{cell.kind}_n{node}_s{slot}_op"].active]
                    if op != "none":  # a sampled none computes nothing
                        expected.append((ci, cell.kind, node, cell.group[node][src], op))
        assert sorted(ran) == sorted(expected)
        assert len(ran) <= len(net.cells) * space.nodes * 2


def test_alpha_gradient_only_from_arch_step():
    _, net, strategy, x, y = _setup()
    _ce(net(x, strategy.weight_sample()), y).backward()
    assert all(a.grad is None for a in strategy.alphas.values())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    net.zero_grad(set_to_none=True)
    strategy.arch_step(net, x, y, _ce)
    grads = [a.grad for a in strategy.alphas.values()]
    assert all(g is not None for g in grads)
    assert sum(int((g != 0).sum()) for g in grads) > len(grads)
    # the arch step leaves the shared weights' gradients alone
    assert all(p.grad is None for p in net.parameters())


def test_two_path_update_keeps_unsampled_probabilities():
    _, net, strategy, x, y = _setup("two")
    changed = 0
    for _ in range(6):  # several steps so that Adam's momentum is non-zero
        before = {k: p.detach().clone() for k, p in strategy.probabilities().items()}
        gates = strategy.arch_sample()
        sample_iter = iter([gates])
        strategy.arch_sample = lambda: next(sample_iter)
        strategy.arch_step(net, x, y, _ce)
        del strategy.arch_sample
        after = strategy.probabilities()
        for name, gate in gates.items():
            unsampled = [i for i in range(len(before[name])) if i not in gate.candidates]
            assert torch.allclose(after[name][unsampled], before[name][unsampled], atol=1e-6), name
            pair = list(gate.candidates)
            assert torch.allclose(after[name][pair].sum(), before[name][pair].sum(), atol=1e-6)
            changed += int(not torch.allclose(after[name][pair], before[name][pair]))
    assert changed > 0


def test_binary_gate_gradient_matches_binaryconnect_formula():
    """dL/dalpha_i = sum_j <dL/dm, o_j> p_j (delta_ij - p_i), with o_j every candidate's output."""
    torch.manual_seed(0)
    outs = [torch.randn(4, 3) for _ in range(4)]
    target = torch.randn(4, 3)
    alpha = torch.randn(4, requires_grad=True)
    p = F.softmax(alpha, 0)
    active = 2
    gate = Gate(active, F.one_hot(torch.tensor(active), 4).float() + p - p.detach(), (0, 1, 2, 3))
    x = outs[active].clone().requires_grad_()
    m = apply_gate(x, gate, lambda k: outs[k])
    ((m - target) ** 2).sum().backward()
    dm = 2 * (outs[active] - target)
    dg = torch.stack([(dm * o).sum() for o in outs])
    pd = p.detach()
    expected = torch.stack([sum(dg[j] * pd[j] * (float(i == j) - pd[i]) for j in range(4)) for i in range(4)])
    assert torch.allclose(alpha.grad, expected, atol=1e-5)
    assert torch.allclose(x.grad, dm)          # the active path gets the plain gradient


def test_path_weights_count_the_paths_of_a_one_hot_child():
    space, _, strategy, _, _ = _setup(nodes=2)
    genotype = strategy.derive()
    with torch.no_grad():
        for name, k in space.choice_of(genotype).items():
            strategy.alphas[name].fill_(-1e4)[k] = 1e4
    weights = strategy.path_weights()
    for cell, cg in genotype.cells().items():
        for node, slots in enumerate(cg.nodes):
            w = weights[f"{cell}_n{node}"]
            expected = torch.zeros(node + 2, len(OPS))
            for op, src in slots:
                expected[src, OPS.index(op)] += 1
            assert torch.equal(w, expected)
