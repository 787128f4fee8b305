"""Samples per second of the search step (weight step + arch step) with 1 and 2 processes
(torchrun; gloo on CPUs, nccl on GPUs), printed side by side.

    python -m benchmarks.ddp_scaling [--procs 1 2] [--batch 32] [--size 32] [--device cpu]

Each process count runs the real search loop (supernet.search.run_search) for two epochs on
the same synthetic data; the second epoch's time is the figure (the first one warms up).  On a
CPU the processes share the machine's cores: 1 process uses all threads, N use 1/N each.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from torch.utils.data import TensorDataset

from benchmarks.harness import ROOT


def worker(a) -> None:
    from supernet.config import DataConfig, SearchConfig, TrainerConfig
    from supernet.data import DataInfo
    from supernet.search import run_search
    from supernet.spaces.nasnet_cell.config import CellSpaceConfig

    g = torch.Generator().manual_seed(0)
    n = a.steps * a.batch
    data = [TensorDataset(torch.randn(n, 3, a.size, a.size, generator=g), torch.randint(0, 10, (n,), generator=g))
            for _ in range(2)]
    cfg = SearchConfig(data=DataConfig(batch_size=a.batch),
                       space=CellSpaceConfig(layers=a.layers, init_channels=a.channels),
                       trainer=TrainerConfig(epochs=2, warmup_epochs=0, progress=False, device=a.device))
    out = run_search(cfg, a.out, data=(*data, DataInfo(3, 10, a.size)))
    if out.files:
        print(json.dumps({"samples_per_s": n / out.metrics[-1]["seconds"]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=32, help="global batch")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--steps", type=int, default=6, help="steps per epoch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    cores = os.cpu_count() or 1
    results = {}
    for n in a.procs:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // n))}
            cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "-m",
                   "benchmarks.ddp_scaling", "--worker", f"--out={tmp}/run", f"--batch={a.batch}", f"--size={a.size}",
                   f"--layers={a.layers}", f"--channels={a.channels}", f"--steps={a.steps}", f"--device={a.device}"]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if res.returncode:
                sys.exit(f"{n} processes failed:\n{res.stderr[-3000:]}")
            results[n] = json.loads(res.stdout.strip().splitlines()[-1])["samples_per_s"]
    print(f"device={a.device} cores={cores} global batch={a.batch} input={a.size}x{a.size} "
          f"layers={a.layers} C={a.channels}")
    print(" | ".join(f"{n} proc: {v:7.1f} samples/s" for n, v in results.items()))
    base = results[a.procs[0]]
    print(" | ".join(f"{n} proc: {v / base:.2f}x" for n, v in results.items()))


if __name__ == "__main__":
    main()
