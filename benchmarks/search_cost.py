"""Cost of one search step of the proxyless supernet vs training the derived network alone.

Prints, for one cell space, batch and device, measured in this run: median step time, the
activation bytes autograd keeps (exact), and the peak resident memory of a fresh process per
case (RSS: allocator-noisy on a CPU), for
  - proxyless `two` (weight step, arch step, and a search step = weight + arch),
  - proxyless `full` (full_v2: other candidates re-run in the backward),
  - the derived discrete network's training step,
and proxyless memory (averaged over sampled children) as the op set grows from 4 to 13 ops.

    python -m benchmarks.search_cost [--batch 32] [--size 32] [--layers 8] [--channels 16]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch
import torch.nn.functional as F

from benchmarks.harness import ROOT
from benchmarks.memory import current_rss_bytes, peak_rss_bytes, saved_tensor_bytes
from supernet.gates import Gate
from supernet.spaces.nasnet_cell.config import DARTS_OPS, NASNET_OPS
from supernet.spaces.nasnet_cell.network import CellNetwork
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.spaces.nasnet_cell.supernet import CellSupernet
from supernet.strategies import build_strategy, strategy_config
from supernet.timing import median_time

OP_SETS = {
    "darts8": DARTS_OPS,
    "ops4": ["max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"],
    "nasnet13": NASNET_OPS,
}


def measure(case: str, ops_name: str, a) -> dict:
    torch.manual_seed(0)
    space = CellSpace(a.nodes, OP_SETS[ops_name])
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))
    mode = "full" if case == "full" else "two"
    strategy = build_strategy(space, strategy_config("proxyless", mode=mode, init_scale=1.0))
    ce = F.cross_entropy
    genotype = strategy.derive()
    if case == "derived":
        net = CellNetwork(genotype, 3, 10, a.layers, a.channels)
    else:
        net = CellSupernet(space, 3, 10, a.layers, a.channels)
    # The supernet's weight step runs the derived child itself, so the ratio is the supernet's
    # overhead, not the luck of which child was sampled.
    child = {name: Gate(k) for name, k in space.choice_of(genotype).items()}
    opt = torch.optim.SGD(net.parameters(), 0.01, momentum=0.9)
    base = current_rss_bytes()

    def weight_step():
        out = net(x) if case == "derived" else net(x, child)
        loss = ce(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def arch_step():
        strategy.arch_step(net, x, y, ce)

    def act_mb(sample):  # activation memory, averaged over `samples` draws of the gates
        return sum(saved_tensor_bytes(lambda: ce(net(x) if case == "derived" else net(x, sample()), y))
                   for _ in range(a.samples)) / a.samples / 2**20

    result = {"case": case, "ops": ops_name, "n_ops": len(space.ops),
              "params_MB": sum(p.numel() for p in net.parameters()) * 4 / 2**20}
    result["weight_step_ms"] = 1e3 * median_time(weight_step, a.warmup, a.repeat)
    if case != "derived":
        result["arch_step_ms"] = 1e3 * median_time(arch_step, a.warmup, a.repeat)
    result["peak_rss_delta_MB"] = (peak_rss_bytes() - base) / 2**20  # the steps alone
    result["weight_act_MB"] = act_mb(lambda: child)
    if case != "derived":
        result["sampled_act_MB"] = act_mb(strategy.weight_sample)
        result["arch_act_MB"] = act_mb(strategy.arch_sample)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--samples", type=int, default=8, help="sampled children averaged for memory")
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--ops", default="darts8", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:  # child process: one case, fresh memory
        print(json.dumps(measure(a.case, a.ops, a)))
        return
    fwd = [f"--{k}={getattr(a, k)}"
           for k in ("batch", "size", "layers", "channels", "nodes", "warmup", "repeat", "samples")]
    cases = [("derived", "darts8"), ("proxyless", "darts8"), ("full", "darts8"),
             ("proxyless", "ops4"), ("proxyless", "nasnet13")]
    rows = []
    for case, ops in cases:
        out = subprocess.run([sys.executable, "-m", "benchmarks.search_cost", f"--case={case}", f"--ops={ops}", *fwd],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"device=cpu threads={torch.get_num_threads()} batch={a.batch} input={a.size}x{a.size} "
          f"layers={a.layers} C={a.channels} nodes={a.nodes}")
    hdr = f"{'case':10s} {'ops':9s} {'params MB':>9s} {'w-step ms':>9s} {'a-step ms':>9s} " \
          f"{'w-act MB':>8s} {'a-act MB':>8s} {'peakRSS+ MB':>11s}"
    print(hdr)
    for r in rows:
        print(f"{r['case']:10s} {r['ops']:9s} {r['params_MB']:9.2f} {r['weight_step_ms']:9.1f} "
              f"{r.get('arch_step_ms', float('nan')):9.1f} {r['weight_act_MB']:8.1f} "
              f"{r.get('arch_act_MB', float('nan')):8.1f} {r['peak_rss_delta_MB']:11.1f}")
    d, px, full = rows[0], rows[1], rows[2]
    print("\nratios vs the derived network's training step (targets: memory <= 1.3x, time <= 1.6x):")
    for r in (px, full):
        search_ms = r["weight_step_ms"] + r["arch_step_ms"]
        print(f"  {r['case']:10s} weight-step time {r['weight_step_ms'] / d['weight_step_ms']:.2f}x, "
              f"search step (weight+arch) {search_ms / d['weight_step_ms']:.2f}x, "
              f"activations weight step {r['weight_act_MB'] / d['weight_act_MB']:.2f}x "
              f"(sampled children {r['sampled_act_MB'] / d['weight_act_MB']:.2f}x) / "
              f"arch step {r['arch_act_MB'] / d['weight_act_MB']:.2f}x, "
              f"peak RSS {r['peak_rss_delta_MB'] / d['peak_rss_delta_MB']:.2f}x")
    every = 5
    print(f"  proxyless  search step with an arch step every {every} weight steps (ProxylessNAS's "
          f"grad_update_arch_param_every=5, trainer.arch_every={every}): "
          f"{(px['weight_step_ms'] + px['arch_step_ms'] / every) / d['weight_step_ms']:.2f}x time")
    by_ops = {r["ops"]: r for r in rows if r["case"] == "proxyless"}
    print("proxyless activation memory vs op count: " + ", ".join(
        f"{r['n_ops']} ops {r['sampled_act_MB']:.1f}/{r['arch_act_MB']:.1f} MB (sampled weight/arch step), "
        f"params {r['params_MB']:.2f} MB" for r in sorted(by_ops.values(), key=lambda r: r["n_ops"])))


if __name__ == "__main__":
    main()
