"""Does a search given a latency target end at it?  For each strategy, one search per target
(targets spread over the range of the space's table latencies) with ``latency.loss`` (default
lagrange: the adaptive multiplier) and the constrained derive; and one search without a latency
term whose trained alphas are derived at every target (``derive.py run=<run> target_ms=T``).
Prints per target the expected latency at the end, the derived network's table latency (and its
measured latency with the ratio, when a measurement here is comparable with the table's:
DeviceMeter.not_comparable), and the derived child's accuracy on the shared weights (BN
re-estimated); writes the accuracy-latency picture.

    python -m benchmarks.latency_targets [--strategies proxyless darts gdas reinforce] [--targets 4]
        [--out latency_targets.png] [hydra overrides, e.g. hardware=cpu_2core latency.loss=hinge]
    (overrides before --strategies)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import search_config, search_in
from supernet.config import register_configs
from supernet.data import build_search_data
from supernet.distributed import World
from supernet.hardware.constraint import Rules, latency_bounds
from supernet.hardware.target import derive_ms, hardware_target
from supernet.plots import plot_accuracy_latency
from supernet.probe import child_probe
from supernet.spaces import build_space
from supernet.strategies import STRATEGIES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", nargs="+", default=["proxyless", "darts", "gdas", "reinforce"],
                   choices=sorted(STRATEGIES), help="(hydra overrides go before this option)")
    p.add_argument("--targets", type=int, default=4, help="targets between 15%% and 75%% of the latency range")
    p.add_argument("--out", default="latency_targets.png")
    a, overrides = p.parse_known_args()
    register_configs()
    torch.set_num_threads(1)
    base = search_config(["hardware=cpu_2core", "latency.loss=lagrange", "latency.constrained_derive=true"]
                         + overrides)
    train_set, val_set, info = build_search_data(base.data, base.seed)
    hw = hardware_target(base, build_space(base.space), info, STRATEGIES[a.strategies[0]])
    low, high = latency_bounds(hw.space, hw.predictor, Rules(hw.space.skip_cap(base.strategy.max_skip)))
    fractions = [0.15 + 0.6 * i / max(a.targets - 1, 1) for i in range(a.targets)]
    targets = [round(low + f * (high - low), 3) for f in fractions]
    print(f"{base.space.name} on {base.hardware.name}: table latencies {low:.3f}-{high:.3f} ms; targets {targets}; "
          f"loss {base.latency.loss}", flush=True)
    print(f"\n{'strategy':10s} {'how':11s} {'target':>7s} {'expected':>8s} {'table':>7s} {'measured':>8s} "
          f"{'meas/tab':>8s} {'in window':>11s} {'acc':>6s} {'search s':>8s}", flush=True)
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.strategies:
            for target in targets:
                result, secs, _, cfg = search_in(Path(tmp) / f"{name}_{target}", [
                    "hardware=cpu_2core", "latency.loss=lagrange", "latency.constrained_derive=true",
                    f"strategy={name}", f"latency.target_ms={target}"] + overrides)
                meta = json.loads(result.files["genotype"].read_text())["meta"]
                row = dict(target=target, expected=result.metrics[-1]["expected_latency_ms"],
                           table=meta["table_latency_ms"], measured=meta.get("measured_latency_ms"),
                           acc=meta["shared_weights"]["derived_acc"])
                report(name, "per target", row, secs, cfg.latency)
                points.append({"latency_ms": row["table"], "accuracy": row["acc"], "group": f"{name} per target"})
            # one search without a latency term, derived at every target from its trained alphas
            result, secs, _, cfg = search_in(Path(tmp) / f"{name}_once", [
                "hardware=cpu_2core", "latency.loss=none", f"strategy={name}", f"latency.target_ms={high}"] + overrides)
            probe = child_probe(result.net, train_set, val_set, cfg, World(), cfg.trainer.epochs, torch.device("cpu"))
            for target in targets:
                at = dataclasses.replace(cfg, latency=dataclasses.replace(cfg.latency, target_ms=target,
                                                                          constrained_derive=True))
                hw_t = hardware_target(at, result.strategy.space, result.info, type(result.strategy))
                genotype, meter = hw_t.derive(result.strategy), hw_t.meter
                row = dict(target=target, expected=hw_t.expected(result.strategy).item(),
                           table=hw_t.of_genotype(genotype),
                           measured=None if meter.not_comparable(hw_t.predictor) else meter.measure(genotype)[0],
                           acc=probe.accuracy(result.strategy.space.choice_of(genotype)))
                report(name, "one search", row, secs, cfg.latency)
                points.append({"latency_ms": row["table"], "accuracy": row["acc"], "group": f"{name} one search"})
    print(f"\npicture: {plot_accuracy_latency(points, Path(a.out), curves=True).resolve()}")


def report(name: str, how: str, row: dict, secs: float, lat) -> None:
    """One row; ``within``: the table latency lies in the constrained derive's window (``lat``:
    the search's LatencyConfig, its floor and margin)."""
    aim = derive_ms(row["target"], lat.derive_margin)
    within = lat.derive_floor * aim <= row["table"] <= aim
    measured, ratio = ((f"{row['measured']:8.3f}", f"{row['measured'] / row['table']:8.2f}")
                       if row["measured"] is not None else (f"{'-':>8s}", f"{'-':>8s}"))
    print(f"{name:10s} {how:11s} {row['target']:7.3f} {row['expected']:8.3f} {row['table']:7.3f} {measured} {ratio} "
          f"{str(within):>11s} {row['acc']:6.3f} {secs:8.0f}", flush=True)


if __name__ == "__main__":
    main()
