"""Every strategy's algorithm, asserted: darts' mixture and its second-order gradient, gdas'
hard forward with soft gradient, the enas controller's distribution and REINFORCE update,
policy gradient on a planted reward, uniform random sampling, recovery of a planted teacher,
the skip-connect remedies, and exact resume for every strategy."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import blobs, tiny_config
from torch.func import functional_call

import supernet.probe
from benchmarks.synthetic import planted_task, recovered_fraction
from supernet.data import DataInfo
from supernet.gates import child_gates
from supernet.latency.loss import mnas_reward
from supernet.run.checkpoint import load_checkpoint
from supernet.search import run_search
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.spaces.nasnet_cell.supernet import CellSupernet
from supernet.strategies import STRATEGIES, build_strategy, strategy_config
from supernet.strategies.darts import _Relaxed
from supernet.strategies.policy import MovingAverageBaseline, reinforce_step

OPS = ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"]


def _setup(name, nodes=2, ops=OPS, **cfg):
    torch.manual_seed(0)
    space = CellSpace(nodes, ops)
    net = CellSupernet(space, in_channels=1, num_classes=3, layers=3, C=4, stem_multiplier=1)
    strategy = build_strategy(space, strategy_config(name, **{"arch_lr": 0.1, "init_scale": 0.5, **cfg}))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    return space, net, strategy, x, y


def _ce(logits, y):
    return F.cross_entropy(logits, y)


def test_darts_mixture_weights_sum_to_one_per_edge_and_paths_to_two_per_node():
    space, _, strategy, _, _ = _setup("darts")
    weights = strategy.mixture()
    assert len(weights) == 2 * space.nodes          # one edge per node of each cell type
    for key, w in weights.items():
        node = space.edges[key].sources - 2
        assert w.shape == (node + 2, len(OPS))
        assert torch.allclose(w.sum(1), torch.ones(node + 2))
    for w in strategy.path_weights().values():
        assert torch.allclose(w.sum(), torch.tensor(2.0))
    for p in strategy.probabilities().values():
        assert torch.allclose(p.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.9, 3e-4)])
def test_darts_second_order_gradient_matches_the_exact_unrolled_gradient(momentum, decay):
    """The finite-difference Hessian-vector product against autograd through the virtual step
    of the weight optimizer, w' = w - xi (mu b + dCE_train/dw + lambda w) (float64; a
    finite-difference step small enough to cross no ReLU or max-pool kink of this tiny model)."""
    space, net, strategy, x, y = _setup("darts", nodes=1, unrolled=True, unrolled_eps=1e-6)
    net.double(), strategy.double()
    train = (x.double(), y)
    val = (torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (8,)))
    w_opt = torch.optim.SGD(net.parameters(), 0.1, momentum=momentum, weight_decay=decay)
    _ce(net(train[0], mixture=strategy.mixture()), y).backward()     # a real step: momentum buffers
    w_opt.step()
    approx, _, _ = strategy.unrolled_grads(net, train, val, _ce, w_opt)

    relaxed = _Relaxed(net)
    names = [k for k, _ in relaxed.named_parameters()]
    buffers = {k: b.clone() for k, b in relaxed.named_buffers()}
    alphas = list(strategy.alphas.values())

    def loss(weights, batch):
        return _ce(functional_call(relaxed, {**dict(zip(names, weights)), **buffers},
                                   (batch[0], strategy.mixture())), batch[1])

    params = list(relaxed.parameters())
    w = [p.detach().requires_grad_() for p in params]
    g = torch.autograd.grad(loss(w, train), w, create_graph=True, allow_unused=True)
    bufs = [w_opt.state[p]["momentum_buffer"] if momentum else 0.0 for p in params]
    w1 = [p - 0.1 * ((gi if gi is not None else 0.0) + decay * p + momentum * b) for p, gi, b in zip(w, g, bufs)]
    exact = torch.autograd.grad(loss(w1, val), alphas)
    first = torch.autograd.grad(loss([p.detach() for p in w1], val), alphas)
    for a, e, f in zip(approx, exact, first):
        assert torch.allclose(a, e, rtol=1e-3, atol=1e-7), (a - e).abs().max()
    # the second-order term is not negligible here, so the check has teeth
    assert max(float((e - f).abs().max()) for e, f in zip(exact, first)) > 1e-4


def test_darts_second_order_sees_the_train_batch_through_the_weight_loss_only():
    """With objective = c * CE the second-order gradient is c times the c = 1 one: the virtual
    step and the Hessian term use the weight loss, only the val batch the objective."""
    space, net, strategy, x, y = _setup("darts", nodes=1, unrolled=True, unrolled_eps=1e-6)
    net.double(), strategy.double()
    train, val = (x.double(), y), (torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (8,)))
    w_opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9)
    base = strategy.unrolled_grads(net, train, val, _ce, w_opt)[0]
    for c in (0.5, 2.0):
        scaled = strategy.unrolled_grads(net, train, val, lambda logits, t: c * _ce(logits, t), w_opt)[0]
        for a, b in zip(scaled, base):
            assert torch.allclose(a, c * b, rtol=1e-4, atol=1e-10)


def test_darts_second_order_follows_the_weight_learning_rate():
    space, net, strategy, x, y = _setup("darts", nodes=1, unrolled=True, unrolled_eps=1e-6)
    net.double(), strategy.double()
    train, val = (x.double(), y), (torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (8,)))
    first_order = torch.autograd.grad(_ce(net(val[0], mixture=strategy.mixture()), val[1]),
                                      list(strategy.alphas.values()))
    w_opt = torch.optim.SGD(net.parameters(), 0.0)       # a schedule at its end: the virtual step vanishes
    for a, f in zip(strategy.unrolled_grads(net, train, val, _ce, w_opt)[0], first_order):
        assert torch.allclose(a, f, atol=1e-10)


def test_gdas_forward_is_one_hot_and_its_gradient_reaches_every_alpha():
    space, net, strategy, x, y = _setup("gdas", ops=OPS[1:])   # a sampled `none` hides its input
    strategy.on_epoch_start(0, 10)
    gates = strategy.arch_sample()
    for name, gate in gates.items():
        one_hot = F.one_hot(torch.tensor(gate.active), len(gate.weights)).float()
        assert torch.allclose(gate.weights.detach(), one_hot, atol=1e-6), name
    out = net(x, gates)
    assert torch.equal(out, net(x, child_gates({n: g.active for n, g in gates.items()})))  # one child ran
    _ce(out, y).backward()
    for name, alpha in strategy.alphas.items():
        assert alpha.grad is not None and bool((alpha.grad != 0).all()), name


def test_gdas_temperature_anneals_from_tau_max_to_tau_min():
    _, _, strategy, _, _ = _setup("gdas", tau_max=5.0, tau_min=0.5)
    taus = []
    for epoch in range(4):
        strategy.on_epoch_start(epoch, 4)
        taus.append(strategy.tau)
    assert taus == pytest.approx([5.0, 3.5, 2.0, 0.5])


def test_gdas_starts_its_arch_steps_at_tau_max_after_a_warmup(tmp_path, tiny_data, monkeypatch):
    from supernet.strategies.gdas import GDAS
    taus, step = [], GDAS.arch_step
    monkeypatch.setattr(GDAS, "arch_step", lambda self, *a, **k: taus.append(self.tau) or step(self, *a, **k))
    run_search(tiny_config(**{"strategy.name": "gdas", "strategy.tau_max": 4.0, "strategy.tau_min": 1.0,
                              "trainer.epochs": 4, "trainer.warmup_epochs": 2}), tmp_path, data=tiny_data)
    assert taus[0] == pytest.approx(4.0) and taus[-1] == pytest.approx(1.0)


def test_the_logged_lr_is_the_one_the_epoch_trained_with(tmp_path, tiny_data):
    result = run_search(tiny_config(**{"trainer.epochs": 2, "trainer.lr": 0.05}), tmp_path, data=tiny_data)
    assert result.metrics[0]["lr"] == pytest.approx(0.05)


def test_enas_log_probabilities_match_its_samples():
    space, _, strategy, _, _ = _setup("enas", nodes=1, ops=["skip_connect", "max_pool_3x3"])
    controller = strategy.controller
    choice, log_prob, _ = strategy.sample()
    assert torch.allclose(controller.log_prob(choice), log_prob)
    # a distribution over every architecture of the space: exp(log p) sums to one
    names = [d.name for d in space.decisions]
    with torch.no_grad():
        total = sum(controller.log_prob(dict(zip(names, ks))).exp()
                    for ks in itertools.product(*[range(len(d.candidates)) for d in space.decisions]))
    assert total.item() == pytest.approx(1.0, abs=1e-5)
    # sample frequencies of the first decision follow its probability
    first = space.decisions[0].name
    with torch.no_grad():
        p = strategy.probabilities()[first]
        counts = torch.bincount(torch.tensor([strategy.sample()[0][first] for _ in range(2000)]), minlength=2)
    assert torch.allclose(counts / 2000, p, atol=0.04)


def test_enas_reinforce_raises_the_probability_of_the_better_architecture():
    space, _, strategy, _, _ = _setup("enas", arch_lr=0.01, entropy_weight=0.0)
    better, _, _ = strategy.sample()
    worse, _, _ = strategy.sample()
    before = strategy.controller.log_prob(better).item(), strategy.controller.log_prob(worse).item()
    strategy.baseline.advantage(0.5)       # baseline at 0.5
    for arch, reward in ((better, 1.0), (worse, 0.0)):
        reinforce_step(strategy.optimizer, strategy.controller.log_prob(arch), strategy.baseline.advantage(reward))
    after = strategy.controller.log_prob(better).item(), strategy.controller.log_prob(worse).item()
    assert after[0] > before[0] and after[1] < before[1]
    assert "controller.lstm.weight_hh" in strategy.state_dict() and "baseline.value" in strategy.state_dict()


@pytest.mark.parametrize("name, options", [("reinforce", {"arch_lr": 0.05}),
                                           ("enas", {"arch_lr": 0.01, "entropy_weight": 0.0,
                                                    "baseline_decay": 0.9})])
def test_policy_gradient_converges_to_the_op_with_the_highest_reward(name, options):
    """A planted, non-differentiable reward: the share of slots that use skip_connect.

    150 steps are few for ENAS's paper baseline (decay 0.99): its slow baseline lets one slot
    settle on `none`, so the test runs the faster 0.9."""
    space, net, strategy, x, y = _setup(name, **options)
    skip = OPS.index("skip_connect")
    strategy.reward = lambda acc, choice: sum(
        k == skip for n, k in choice.items() if n.endswith("_op")) / (len(choice) / 2)
    for _ in range(150):
        strategy.arch_step(net, x, y, _ce)
    assert strategy.derive().ops() == {"skip_connect"}
    with torch.no_grad():
        probs = strategy.probabilities()
    assert min(float(p[skip]) for n, p in probs.items() if n.endswith("_op")) > 0.5   # from 0.25


def test_mnas_reward_and_baseline():
    reward = mnas_reward(lambda choice: 20.0, target=10.0, w=-0.5)
    assert reward(0.5, {}) == pytest.approx(0.5 * 2 ** -0.5)
    b = MovingAverageBaseline(0.5)
    assert [b.advantage(r) for r in (1.0, 3.0, 0.0)] == [0.0, 2.0, -2.0]


def _chi2_critical(df, z=3.09):
    """Upper 0.001 quantile of chi-square(df), Wilson-Hilferty."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_random_samples_every_candidate_uniformly():
    space, _, strategy, _, _ = _setup("random")
    n = 3000
    counts = {d.name: torch.zeros(len(d.candidates)) for d in space.decisions}
    for _ in range(n):
        for name, gate in strategy.weight_sample().items():
            counts[name][gate.active] += 1
    stat = sum(float(((c - n / len(c)) ** 2 / (n / len(c))).sum()) for c in counts.values())
    df = sum(len(c) - 1 for c in counts.values())
    assert stat < _chi2_critical(df), (stat, df)
    # the test can tell: a sampler biased by 5% on one candidate per decision fails it
    biased = sum(float((((c + torch.eye(len(c))[0] * 0.05 * n) - n / len(c)) ** 2 / (n / len(c))).sum())
                 for c in counts.values())
    assert biased > _chi2_critical(df)


def test_planted_teacher_differentiable_strategies_beat_random(tmp_path, noise_ops):
    ops, data, teacher = planted_task()
    scores = {}
    for name in ("proxyless", "darts", "gdas", "random"):
        cfg = tiny_config(**{"strategy.name": name, "space.ops": ops, "trainer.epochs": 5, "strategy.arch_lr": 0.1})
        scores[name] = recovered_fraction(run_search(cfg, tmp_path / name, data=data).genotype, teacher)
    assert scores["random"] < 1.0, scores
    for name in ("proxyless", "darts", "gdas"):
        assert scores[name] > scores["random"], scores


def test_skip_cap_keeps_the_strongest_skips_and_replaces_the_others():
    space, _, strategy, _, _ = _setup("proxyless", max_skip=1)
    skip, pool = OPS.index("skip_connect"), OPS.index("max_pool_3x3")
    with torch.no_grad():
        for i, d in enumerate(d for d in space.decisions if d.kind == "op"):
            a = strategy.alphas[d.name]
            a.fill_(0.0)
            a[skip] = 3.0 + 0.1 * i     # every slot prefers skip, later slots more strongly
            a[pool] = 1.0
    genotype = strategy.derive()
    for cell, counts in genotype.op_histogram().items():
        assert counts == {"skip_connect": 1, "max_pool_3x3": 2 * space.nodes - 1}
        assert genotype.cells()[cell].nodes[-1][1][0] == "skip_connect"   # the strongest kept
    strategy.cfg.max_skip = -1
    assert strategy.derive().ops() == {"skip_connect"}


def test_op_histogram_is_logged_and_skip_domination_stops_the_search(tmp_path, noise_ops):
    ops, data, _ = planted_task()
    cfg = tiny_config(**{"space.ops": ops, "trainer.epochs": 8, "strategy.arch_lr": 0.1,
                         "trainer.stop_at_skips": 4, "trainer.measure_every": 100})
    result = run_search(cfg, tmp_path, data=data)
    assert len(result.metrics) < 8
    last = result.metrics[-1]
    assert max(last.get("normal/skip_connect", 0), last.get("reduce/skip_connect", 0)) >= 4
    assert math.isfinite(last["val_acc_derived"])       # the epoch it stops on is measured
    assert all(math.isnan(row["val_acc_derived"]) for row in result.metrics[:-1])
    for row in result.metrics:
        assert sum(v for k, v in row.items() if k.startswith("normal/")) == 2 * cfg.space.nodes
        assert all(f"{cell}/{op}" in row for cell in ("normal", "reduce") for op in ops)   # a count of 0 is 0


@pytest.mark.parametrize("name, extra",
                         [(n, {}) for n in sorted(STRATEGIES)] + [("darts", {"strategy.unrolled": True})])
def test_every_strategy_resumes_exactly(tmp_path, monkeypatch, name, extra):
    data = blobs(48, seed=0), blobs(32, seed=1), DataInfo(1, 3, 8)
    extra = {"strategy.num_candidates": 3, **extra} if name == "random" else extra
    cfg = tiny_config(**{"strategy.name": name, "trainer.epochs": 2, "trainer.warmup_epochs": 0, **extra})
    straight = run_search(cfg, tmp_path / "straight", data=data)

    calls = {"n": 0}
    probe = supernet.probe.ChildProbe

    def dying(*args, **kwargs):   # killed when epoch 2 starts
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return probe(*args, **kwargs)

    monkeypatch.setattr(supernet.probe, "ChildProbe", dying)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, tmp_path / "killed", data=data)
    monkeypatch.setattr(supernet.probe, "ChildProbe", probe)
    cfg.resume = True
    resumed = run_search(cfg, tmp_path / "killed", data=data)
    a, b = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "killed"))
    assert a["epoch"] == b["epoch"] == 2
    for part in ("strategy", "net"):
        for k, v in a[part].items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, b[part][k]), (part, k)
    if name == "random":    # nothing learned about the architecture: no optimizer to checkpoint
        assert a["arch_opt"] is None and b["arch_opt"] is None
    else:
        assert a["arch_opt"]["state"].keys() == b["arch_opt"]["state"].keys()
    assert resumed.genotype == straight.genotype
