"""Latency-aware search per device in NAS-Bench-201, judged by the devices' published latencies
and the true accuracy-latency front: for each device (a table fitted by fit_latency.py from the
shared latency file) and targets at the 25th, 50th and 75th percentile of its published
latencies, the derived architecture's published latency, its 12-epoch accuracy, the best
accuracy among all architectures published within the target (the front) and the gap, split
into what the derive's window costs (the best accuracy it admits: table latency within
[latency.derive_floor T', T'], T' the target less latency.derive_margin, under the derive rules)
and what the choice within it costs; the mean gap per target percentile.

Two ways per strategy: a search per (device, target) (``--per-target``: latency.loss=lagrange and
the constrained derive; one shared warm-up per seed, as benchmarks/nasbench201.py keeps it), and
one search without a target (benchmarks/nasbench201.py's own) derived at every target by the
exact constrained derive.  Then, at the 50th-percentile target, the devices' derived cells side
by side.  Searches are kept under --keep and reused, so a stopped run resumes.

    python -m benchmarks.device_targets [--data-root ../shared/datasets/cifar10_jpeg]
        [--table ../shared/nasbench201/accuracy_12epoch.csv] [--column cifar10_test_12ep]
        [--latency ../shared/nasbench201/latency.csv] [--devices pixel3 raspi4 ...]
        [--strategies proxyless gdas] [--seeds 0] [--per-target] [--keep benchmarks/.cache/nasbench201]
        [--out DIR] [hydra overrides for every search]
"""
from __future__ import annotations

import argparse
import csv
import logging
import statistics
from bisect import bisect_right
from collections import Counter
from pathlib import Path

from benchmarks.harness import DERIVE_SETTINGS, ROOT, Rederive, search_config, searched, warmed_up
from supernet.benchmark_table import BenchmarkTable
from supernet.config import register_configs
from supernet.genotypes import resolve_genotype
from supernet.hardware.constraint import derive_windows
from supernet.hardware.target import HardwareTarget
from supernet.spaces import build_space
from supernet.strategies import STRATEGIES

DEVICES = ["pixel3", "raspi4", "gtx1080ti_batch1", "gtx1080ti_batch256", "xeon_silver_4114"]
QUANTILES = (25, 50, 75)


def front(latency: BenchmarkTable, accuracy: BenchmarkTable, column: str, device_column: str):
    """``best(T)``: the highest accuracy among architectures whose published latency is <= T."""
    pairs = sorted((latency.figures[g][device_column], accuracy.figures[g][column]) for g in latency.figures)
    ms, best, running = [], [], float("-inf")
    for m, acc in pairs:
        running = max(running, acc)
        ms.append(m)
        best.append(running)
    return lambda target: best[bisect_right(ms, target) - 1]


class WindowFront:
    """The best accuracy among the architectures a constrained derive may return on a device's
    table: the front as the derive sees it, before it chooses (every admissible architecture's
    table latency is computed once per device)."""

    def __init__(self, accuracy: BenchmarkTable, column: str):
        self.accuracy, self.column = accuracy, column
        self.ms: dict[tuple[str, int], dict] = {}

    def __call__(self, device: str, hw: HardwareTarget, max_skip: int) -> float:
        space = hw.space
        if (device, max_skip) not in self.ms:
            self.ms[device, max_skip] = {g: hw.of_genotype(g) for g in self.accuracy.figures
                                         if space.admissible(space.choice_of(g), max_skip)}
        ms = self.ms[device, max_skip]
        for low, high in derive_windows(hw.derive_ms, hw.cfg.derive_floor):
            window = [self.accuracy.figures[g][self.column] for g, m in ms.items() if low <= m <= high]
            if window:
                return max(window)
        raise ValueError(f"no architecture the derive rules allow is within {hw.derive_ms} ms on {device}'s table")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = ROOT.parent / "shared"
    p.add_argument("--data-root", default=str(shared / "datasets" / "cifar10_jpeg"))
    p.add_argument("--table", default=str(shared / "nasbench201" / "accuracy_12epoch.csv"))
    p.add_argument("--column", default=None)
    p.add_argument("--latency", default=str(shared / "nasbench201" / "latency.csv"),
                   help="published latencies: columns <device>_ms")
    p.add_argument("--devices", nargs="+", default=DEVICES)
    p.add_argument("--strategies", nargs="+", default=["proxyless", "gdas"], choices=sorted(STRATEGIES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--per-target", action="store_true", help="also one search per (device, target)")
    p.add_argument("--keep", default=str(ROOT / "benchmarks" / ".cache" / "nasbench201"))
    p.add_argument("--out", default=None, help="writes cases.csv here")
    args, overrides = p.parse_known_args()
    register_configs()
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    keep = Path(args.keep)
    base = ["space=nasbench201", "data=cifar10_folder", f"data.root={args.data_root}", "trainer.progress=false",
            *overrides]
    space = build_space(search_config(base).space)
    accuracy, latency = BenchmarkTable(args.table, space), BenchmarkTable(args.latency, space)
    column = accuracy.column(args.column)
    print(f"devices judged by {args.latency}, accuracy {column} of {args.table}; searches in {keep}")

    cases, window_front = [], WindowFront(accuracy, column)
    for seed in args.seeds:
        warm = warmed_up(keep, seed, base)[0]
        for name in args.strategies:
            free = keep / f"seed{seed}" / name
            searched(free, base + [f"seed={seed}", f"strategy={name}", f"trainer.init_from={warm}"],
                     free=DERIVE_SETTINGS)
            rederive = Rederive(free, base)
            for device in args.devices:
                dev_col = latency.column(f"{device}_ms")
                best = front(latency, accuracy, column, dev_col)
                for q in QUANTILES:
                    target = round(latency.value_at(dev_col, q), 3)
                    hw = rederive.target(device, target)
                    window = window_front(device, hw, rederive.strategy.rules.max_skip)
                    ways = {"derived from one search": rederive.at(hw)}
                    if args.per_target:
                        run = keep / f"seed{seed}" / f"{name}_{device}_{target:g}ms"
                        searched(run, base + [f"seed={seed}", f"strategy={name}", f"trainer.init_from={warm}",
                                              f"hardware={device}", f"latency.target_ms={target}"],
                                 free=DERIVE_SETTINGS)
                        ways["searched per target"] = Rederive(run, base).at(hw)
                    for how, arch in ways.items():
                        g = resolve_genotype(arch)
                        case = {"device": device, "quantile": q, "target_ms": target, "strategy": name, "how": how,
                                "seed": seed, "arch": arch, "published_ms": latency[g][dev_col],
                                "accuracy": accuracy[g][column], "front_accuracy": best(target),
                                "window_accuracy": window}
                        cases.append(case)
                        print(f"  {device:18s} {q}th {target:7.2f} ms  {name:9s} {how:24s} published "
                              f"{case['published_ms']:7.2f} ms  {case['accuracy']:6.2f} "
                              f"(front {case['front_accuracy']:6.2f})  {arch}", flush=True)

    print(f"\n{'strategy':10s} {'how':24s} {'cases':>5s} {'<= T':>6s} {'<= 1.05T':>8s} {'mean gap':>8s} "
          f"{'max gap':>7s} {'window':>6s} {'choice':>6s}  " + " ".join(f"{q}th".rjust(5) for q in QUANTILES))
    for key in sorted({(c["strategy"], c["how"]) for c in cases}):
        group = [c for c in cases if (c["strategy"], c["how"]) == key]
        gaps = [c["front_accuracy"] - c["accuracy"] for c in group]
        per_q = [statistics.fmean(c["front_accuracy"] - c["accuracy"] for c in group if c["quantile"] == q)
                 for q in QUANTILES]
        print(f"{key[0]:10s} {key[1]:24s} {len(group):5d} "
              f"{sum(c['published_ms'] <= c['target_ms'] for c in group) / len(group):6.0%} "
              f"{sum(c['published_ms'] <= 1.05 * c['target_ms'] for c in group) / len(group):8.0%} "
              f"{statistics.fmean(gaps):8.2f} {max(gaps):7.2f} "
              f"{statistics.fmean(c['front_accuracy'] - c['window_accuracy'] for c in group):6.2f} "
              f"{statistics.fmean(c['window_accuracy'] - c['accuracy'] for c in group):6.2f}  "
              + " ".join(f"{g:5.2f}" for g in per_q))
    print("(mean gap = window: the front less the best the derive's window admits + choice: that less the derived)")
    print("\nat the 50th-percentile target, op counts of the derived cells (derived from one search):")
    for c in cases:
        if c["quantile"] == 50 and c["how"] == "derived from one search":
            ops = Counter(resolve_genotype(c["arch"]).edge_ops)
            print(f"  {c['strategy']:9s} seed {c['seed']} {c['device']:18s} " + " ".join(
                f"{op}={ops.get(op, 0)}" for op in space.ops))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "cases.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(cases[0]))
            w.writeheader()
            w.writerows(cases)
        print(f"wrote {out / 'cases.csv'}")


if __name__ == "__main__":
    main()
