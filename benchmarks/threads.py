"""How the search should compute on a CPU: the median weight-step time of a search (one sampled
child per step; by default the default search: digits, the default cell supernet and batch), and
the median time to load its augmented batch (1 thread, channels-last), with
1 thread and with torch's default (one per core), each with the supernet's weights in contiguous
and in channels-last memory format (``trainer.channels_last``), on a quiet machine and with
``--hogs`` other CPU-bound processes running (a shared or busy machine).  Each case runs in a
fresh process; hydra overrides pick another search (the NAS-Bench-201 supernet:
``space=nasbench201 data=cifar10_folder``).

    python -m benchmarks.threads [--steps 60] [--hogs 1] [hydra overrides]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from benchmarks.harness import ROOT, search_config
from supernet.config import register_configs

HOG = "while True: pass"


def worker(threads: int, channels_last: bool, steps: int, overrides: list[str]) -> tuple[float, float]:
    from supernet.data import PerSampleAugment, build_search_data, search_loader
    from supernet.distributed import World
    from supernet.probe import search_supernet
    from supernet.search import weight_step
    from supernet.strategies import build_space_and_strategy

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = search_config(overrides + [f"trainer.channels_last={channels_last}"])
    space, strategy = build_space_and_strategy(cfg)
    train, _, info = build_search_data(cfg.data, cfg.seed)
    net = search_supernet(space, info, cfg.trainer)
    opt = torch.optim.SGD(net.parameters(), cfg.trainer.lr, momentum=cfg.trainer.momentum)
    train = PerSampleAugment(train, cfg.seed)       # as the search loads it
    times, loads, epoch = [], [], 0
    while len(times) < steps:
        train.set_epoch(epoch)
        batches = iter(search_loader(train, cfg.data.batch_size, cfg.seed, World(), epoch))
        while len(times) < steps:
            t0 = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            t1 = time.perf_counter()
            weight_step(net, net, strategy, opt, *batch, {}, cfg.trainer)
            times.append(time.perf_counter() - t1)
            loads.append(t1 - t0)
        epoch += 1
    return 1000 * statistics.median(times[5:]), 1000 * statistics.median(loads[5:])


def run_case(threads: int, channels_last: bool, steps: int, hogs: int, overrides: list[str]) -> tuple[float, float]:
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
    try:
        out = subprocess.run([sys.executable, "-m", "benchmarks.threads", "--worker", str(threads),
                              "--channels-last", str(int(channels_last)), "--steps", str(steps), *overrides],
                             capture_output=True, text=True, check=True, timeout=1800, cwd=ROOT)
    finally:
        for p in procs:
            p.kill()
    return tuple(json.loads(out.stdout.strip().splitlines()[-1])["ms"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running beside the busy case")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--channels-last", type=int, default=0, help=argparse.SUPPRESS)
    a, overrides = p.parse_known_args()
    register_configs()
    if a.worker is not None:
        print(json.dumps({"ms": worker(a.worker, bool(a.channels_last), a.steps, overrides)}))
        return
    default = torch.get_num_threads()
    print(f"search weight step ({' '.join(overrides) or 'the default search'}), median of {a.steps - 5} steps, ms; "
          f"torch's default here: {default} threads")
    cases = [(threads, cl) for threads in (1, default) for cl in (False, True)]
    names = [f"{t} thr{' CL' if cl else ''}" for t, cl in cases]
    print(f"{'machine':18s} " + " ".join(f"{n:>10s}" for n in names) + f" {'CL / contiguous (1 thr)':>24s}"
          f" {'loading a batch':>16s}")
    for label, hogs in (("quiet", 0), (f"busy ({a.hogs} hog)", a.hogs)):
        ms, loads = zip(*(run_case(t, cl, a.steps, hogs, overrides) for t, cl in cases))
        print(f"{label:18s} " + " ".join(f"{m:10.1f}" for m in ms) + f" {ms[1] / ms[0]:24.2f} {loads[1]:16.1f}",
              flush=True)


if __name__ == "__main__":
    main()
