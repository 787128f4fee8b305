"""Every search strategy on the same space, data and budget, in one process.

Two measurements per strategy:
  - cost of one search step (weight step + arch step) of a supernet on random CIFAR-sized
    input: median time, and the activation bytes autograd keeps (exact, from
    saved_tensor_bytes) in the weight step and in the arch step, for 4 and 8 ops;
  - quality: a short search on the planted-teacher task (benchmarks/synthetic.py) and the
    fraction of the teacher's op decisions its derived genotype recovers.

    python -m benchmarks.strategies [--batch 16] [--size 16] [--channels 8] [--epochs 5]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time

import torch
import torch.nn.functional as F

from benchmarks.memory import saved_tensor_bytes
from benchmarks.synthetic import noise_ops, planted_task, recovered_fraction
from supernet.config import DataConfig, SearchConfig, TrainerConfig
from supernet.data import DataInfo
from supernet.search import run_search
from supernet.spaces.nasnet_cell.config import DARTS_OPS, CellSpaceConfig
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.strategies import build_strategy, strategy_config
from supernet.timing import median_time

CASES = {  # label -> (strategy, its options)
    "proxyless": ("proxyless", {}),
    "proxyless-full": ("proxyless", {"mode": "full"}),
    "reinforce": ("reinforce", {}),
    "darts": ("darts", {}),
    "darts-2nd": ("darts", {"unrolled": True}),
    "gdas": ("gdas", {}),
    "enas": ("enas", {}),
    "random": ("random", {}),
}
OPS4 = ["max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"]


def step_cost(name: str, over: dict, ops: list[str], a) -> tuple[float, float, float]:
    """(ms per search step, weight-step activation MB, arch-step activation MB)."""
    torch.manual_seed(0)
    space = CellSpace(a.nodes, ops, a.layers, a.channels)
    net = space.supernet(DataInfo(3, 10, a.size))
    strategy = build_strategy(space, strategy_config(name, **over))
    strategy.on_epoch_start(0, 1)
    x, y = torch.randn(a.batch, 3, a.size, a.size), torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(net.parameters(), 0.01, momentum=0.9)

    def weight_step():
        loss = F.cross_entropy(strategy.weight_forward(net, x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def arch_step():
        strategy.arch_step(net, x, y, F.cross_entropy, train=(x, y), w_opt=opt)

    ms = 1e3 * median_time(lambda: (weight_step(), arch_step()), a.warmup, a.repeat)
    mb = 2 ** 20
    return (ms, saved_tensor_bytes(lambda: F.cross_entropy(strategy.weight_forward(net, x), y)) / mb,
            saved_tensor_bytes(arch_step) / mb)


def planted_score(name: str, over: dict, a) -> tuple[float, float]:
    """(recovered fraction of the teacher's op decisions, seconds) of a short search."""
    with noise_ops():
        ops, data, teacher = planted_task()
        cfg = SearchConfig(data=DataConfig(batch_size=16),
                           space=CellSpaceConfig(nodes=2, ops=ops, layers=3, init_channels=4, stem_multiplier=1),
                           strategy=strategy_config(name, **{"arch_lr": 0.1, **over}),
                           trainer=TrainerConfig(epochs=a.epochs, warmup_epochs=1, topology_warmup_epochs=0,
                                                 arch_every=1, progress=False))
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            genotype = run_search(cfg, out, data=data).genotype
    return recovered_fraction(genotype, teacher), time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--epochs", type=int, default=5, help="planted-task search epochs")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    print(f"device=cpu threads={torch.get_num_threads()} batch={a.batch} input={a.size}x{a.size} "
          f"layers={a.layers} C={a.channels} nodes={a.nodes}; planted task: {a.epochs} epochs")
    print(f"{'strategy':15s} {'step ms':>8s} {'w-act MB 4/8 ops':>17s} {'a-act MB 4/8 ops':>17s} "
          f"{'recovered':>9s} {'search s':>8s}")
    for label, (name, over) in CASES.items():
        ms, w8, a8 = step_cost(name, over, DARTS_OPS, a)
        _, w4, a4 = step_cost(name, over, OPS4, a)
        frac, secs = planted_score(name, over, a)
        print(f"{label:15s} {ms:8.1f} {w4:8.2f}/{w8:8.2f} {a4:8.2f}/{a8:8.2f} {frac:9.2f} {secs:8.1f}", flush=True)


if __name__ == "__main__":
    main()
