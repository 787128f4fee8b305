"""Which torch thread count the default search should run with: the median weight-step time of
the default search (digits, the default cell supernet and batch, one sampled child per step) with
1 thread and with torch's default (one per core), on a quiet machine and with ``--hogs`` other
CPU-bound processes running (a shared or busy machine).  Each case runs in a fresh process.

    python -m benchmarks.threads [--steps 60] [--hogs 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from benchmarks.harness import ROOT

HOG = "while True: pass"


def worker(threads: int, steps: int) -> float:
    from supernet.config import SearchConfig
    from supernet.data import build_search_data, search_loader
    from supernet.distributed import World
    from supernet.search import weight_step
    from supernet.strategies import build_space_and_strategy

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = SearchConfig()
    space, strategy = build_space_and_strategy(cfg)
    train, _, info = build_search_data(cfg.data, cfg.seed)
    net = space.supernet(info)
    opt = torch.optim.SGD(net.parameters(), cfg.trainer.lr, momentum=cfg.trainer.momentum)
    times, epoch = [], 0
    while len(times) < steps:
        for x, y in search_loader(train, cfg.data.batch_size, cfg.seed, World(), epoch):
            t0 = time.perf_counter()
            weight_step(net, net, strategy, opt, x, y, {}, cfg.trainer)
            times.append(time.perf_counter() - t0)
            if len(times) == steps:
                break
        epoch += 1
    return 1000 * statistics.median(times[5:])


def run_case(threads: int, steps: int, hogs: int) -> float:
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
    try:
        out = subprocess.run([sys.executable, "-m", "benchmarks.threads", "--worker", str(threads), "--steps",
                              str(steps)], capture_output=True, text=True, check=True, timeout=1800, cwd=ROOT)
    finally:
        for p in procs:
            p.kill()
    return json.loads(out.stdout.strip().splitlines()[-1])["ms"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running beside the busy case")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        print(json.dumps({"ms": worker(a.worker, a.steps)}))
        return
    default = torch.get_num_threads()
    print(f"default search weight step, median of {a.steps - 5} steps; torch's default here: {default} threads")
    print(f"{'machine':18s} {'1 thread ms':>11s} {f'{default} threads ms':>12s} {'default / 1':>11s}")
    for label, hogs in (("quiet", 0), (f"busy ({a.hogs} hog)", a.hogs)):
        one, many = run_case(1, a.steps, hogs), run_case(default, a.steps, hogs)
        print(f"{label:18s} {one:11.1f} {many:12.1f} {many / one:11.2f}", flush=True)


if __name__ == "__main__":
    main()
