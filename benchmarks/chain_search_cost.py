"""Cost of one search step on ProxylessNAS's chain space at ImageNet resolution: the proxyless
supernet (binarized gates: one block per layer in the weight step, two-path arch step) vs the
derived network's training step alone vs the full mixture (every block of every layer, softmax
weighted, as DARTS would run it), measured in this run.

Prints per case: median step time, the activation bytes autograd keeps for the backward
(exact), and the peak resident memory of a fresh process (RSS: allocator-noisy on a CPU).

    python -m benchmarks.chain_search_cost [--batch 4] [--size 224] [--device cpu]
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
from supernet.data import DataInfo
from supernet.gates import child_gates
from supernet.spaces import build_space
from supernet.spaces.proxyless_chain.config import ChainSpaceConfig
from supernet.spaces.proxyless_chain.network import ChainNetwork
from supernet.strategies import build_strategy, strategy_config
from supernet.timing import median_time

CASES = ("derived", "proxyless", "mixture")


def measure(case: str, a) -> dict:
    torch.manual_seed(0)
    device = torch.device(a.device)
    space = build_space(ChainSpaceConfig())          # ProxylessNAS's mobile space
    info = DataInfo(3, 1000, a.size)
    strategy = build_strategy(space, strategy_config("proxyless", init_scale=1.0)).to(device)
    choice = strategy.derive_choice()
    net = (ChainNetwork(space.genotype(choice), 3, 1000) if case == "derived" else space.supernet(info)).to(device)
    x = torch.randn(a.batch, 3, a.size, a.size, device=device)
    y = torch.randint(0, 1000, (a.batch,), device=device)
    opt = torch.optim.SGD(net.parameters(), 0.01, momentum=0.9)
    child = child_gates(choice)          # the supernet's weight step runs the derived child itself

    def forward():
        if case == "derived":
            return net(x)
        if case == "mixture":
            return net(x, mixture={k: F.softmax(a_.detach(), -1)[None] for k, a_ in strategy.alphas.items()})
        return net(x, child)

    def weight_step():
        loss = F.cross_entropy(forward(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    base = current_rss_bytes()
    result = {"case": case, "params_MB": sum(p.numel() for p in net.parameters()) * 4 / 2**20,
              "weight_step_ms": 1e3 * median_time(weight_step, a.warmup, a.repeat, device)}
    if case == "proxyless":
        result["arch_step_ms"] = 1e3 * median_time(lambda: strategy.arch_step(net, x, y, F.cross_entropy),
                                                   a.warmup, a.repeat, device)
        result["arch_act_MB"] = saved_tensor_bytes(
            lambda: F.cross_entropy(net(x, strategy.arch_sample()), y)) / 2**20
    result["peak_rss_delta_MB"] = (peak_rss_bytes() - base) / 2**20
    result["weight_act_MB"] = saved_tensor_bytes(lambda: F.cross_entropy(forward(), y)) / 2**20
    if device.type == "cuda":
        result["cuda_peak_MB"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--case", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:  # child process: one case, fresh memory
        print(json.dumps(measure(a.case, a)))
        return
    fwd = [f"--{k}={getattr(a, k)}" for k in ("batch", "size", "device", "warmup", "repeat")]
    rows = []
    for case in CASES:
        out = subprocess.run([sys.executable, "-m", "benchmarks.chain_search_cost", f"--case={case}", *fwd],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"ProxylessNAS mobile chain space, device={a.device} threads={torch.get_num_threads()} "
          f"batch={a.batch} input={a.size}x{a.size}")
    print(f"{'case':10s} {'params MB':>9s} {'w-step ms':>9s} {'a-step ms':>9s} {'w-act MB':>8s} {'a-act MB':>8s} "
          f"{'peakRSS+ MB':>11s}" + (f" {'cuda peak MB':>12s}" if a.device.startswith("cuda") else ""))
    for r in rows:
        print(f"{r['case']:10s} {r['params_MB']:9.1f} {r['weight_step_ms']:9.1f} "
              f"{r.get('arch_step_ms', float('nan')):9.1f} "
              f"{r['weight_act_MB']:8.1f} {r.get('arch_act_MB', float('nan')):8.1f} {r['peak_rss_delta_MB']:11.1f}"
              + (f" {r['cuda_peak_MB']:12.1f}" if "cuda_peak_MB" in r else ""))
    d, px, mix = rows
    print("\nvs the derived network's training step:")
    for r in (px, mix):
        print(f"  {r['case']:10s} weight-step time {r['weight_step_ms'] / d['weight_step_ms']:.2f}x, "
              f"activations {r['weight_act_MB'] / d['weight_act_MB']:.2f}x, "
              f"peak RSS {r['peak_rss_delta_MB'] / d['peak_rss_delta_MB']:.2f}x")
    search_ms = px["weight_step_ms"] + px["arch_step_ms"]
    print(f"  proxyless search step (weight + arch) {search_ms / d['weight_step_ms']:.2f}x the derived step's time; "
          f"its arch step keeps {px['arch_act_MB'] / d['weight_act_MB']:.2f}x the activations (the others re-run "
          "in the backward)")


if __name__ == "__main__":
    main()
