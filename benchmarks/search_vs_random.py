"""Does the search find something?  Each strategy's default search (one run per search seed)
derives a genotype; it and random genotypes of the same space (no `none`: derive never picks
it) are trained from scratch with one identical short recipe (benchmarks/standalone.py) over
several seeds.  Prints, per strategy, the searched genotype's mean accuracy, its percentile
among the random genotypes and their median; the spread between random genotypes next to the
seed noise; and how far alpha moved (final entropy against the uniform one) and how often
search seeds agree on an op (against chance).  Under a hardware target the random genotypes
are drawn within 10% of the searched genotype's table latency.

    python -m benchmarks.search_vs_random [--strategies proxyless darts gdas reinforce]
        [--random 12] [--seeds 4] [--search-seeds 1] [--keep DIR] [--recipe KEY=VALUE ...]
        [hydra overrides, e.g. hardware=cpu_2core]
    (overrides before --strategies: python -m benchmarks.search_vs_random strategy.arch_lr=1e-2 --strategies darts)
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import search_in
from benchmarks.standalone import Yardstick, add_recipe_option, percentile, spread_and_noise
from supernet.config import register_configs
from supernet.hardware.profile import random_genotypes
from supernet.hardware.target import hardware_target
from supernet.strategies import STRATEGIES, build_space_and_strategy


def op_agreement(space, genotypes) -> tuple[float, float]:
    """(fraction of op decisions on which two searches agree, averaged over pairs; the same
    fraction for independent uniform choices among the derivable ops)."""
    choices = [space.choice_of(g) for g in genotypes]
    ops = [d for d in space.decisions if d.kind == "op"]
    pairs = [(a, b) for i, a in enumerate(choices) for b in choices[i + 1:]]
    agree = statistics.fmean(statistics.fmean(a[d.name] == b[d.name] for d in ops) for a, b in pairs)
    chance = statistics.fmean(1 / (len(d.candidates) - len(d.never_derived)) for d in ops)
    return agree, chance


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", nargs="+", default=["proxyless", "darts", "gdas", "reinforce"],
                   choices=sorted(STRATEGIES), help="(hydra overrides go before this option)")
    p.add_argument("--random", type=int, default=12, help="random genotypes to compare against")
    p.add_argument("--seeds", type=int, default=4, help="stand-alone trainings per genotype")
    p.add_argument("--search-seeds", type=int, default=1, help="searches per strategy")
    p.add_argument("--keep", type=Path, help="keep the search folders (genotype.json, cells.png, ...) here; a "
                   "search already kept there is continued (resume=true), so more --search-seeds search only the new")
    add_recipe_option(p)
    a, overrides = p.parse_known_args()
    register_configs()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = a.keep or Path(tmp)
        for name in a.strategies:
            searched = []
            for seed in range(a.search_seeds):
                result, secs, kept, cfg = search_in(runs / f"{name}{seed}", overrides + [f"strategy={name}",
                                                                                        f"seed={seed}"])
                searched.append((result, secs, cfg))
                print(f"{name} seed {seed}: {'kept search' if kept else 'searched'} in {secs:.0f} s, "
                      "shared-weight accuracy of the derived child "
                      f"{result.metrics[-1]['val_acc_derived']:.3f}, of sampled children "
                      f"{result.metrics[-1].get('val_acc_sampled', float('nan')):.3f}", flush=True)
            rows.append((name, searched))
        cfg = searched[0][2]
        space, _ = build_space_and_strategy(cfg)
        hw = hardware_target(cfg, space, searched[0][0].info, type(searched[0][0].strategy))
        stick = Yardstick(Path(tmp), a.seeds, cfg.data, a.recipe)
        print(f"\nstand-alone recipe: {stick.text()}, mean test accuracy over {a.seeds} seeds")
        reference = None if hw else random_genotypes(space, a.random, 12345)
        if reference:
            ref_acc = [stick.accuracies(g) for g in reference]
            spread, noise = spread_and_noise(ref_acc)
            ref_means = [statistics.fmean(x) for x in ref_acc]
            print(f"{a.random} random genotypes: median {statistics.median(ref_means):.4f}, range "
                  f"{min(ref_means):.4f}-{max(ref_means):.4f}; spread between genotypes (net of noise) "
                  f"{spread:.4f}, seed noise of one training {noise:.4f}, of a {a.seeds}-seed mean "
                  f"{noise / math.sqrt(a.seeds):.4f}")
        print(f"\n{'strategy':10s} {'seed':>4s} {'search s':>8s} {'searched':>8s} {'pct':>5s} {'random med':>10s} "
              f"{'H end/uniform':>13s}" + ("  table ms" if hw else ""))
        for name, searched in rows:
            for seed, (result, secs, cfg) in enumerate(searched):
                latency = hw.of_genotype(result.genotype) if hw else None
                if hw:   # random genotypes of about the same latency as this one
                    near = lambda g: abs(hw.of_genotype(g) - latency) <= 0.1 * latency    # noqa: E731
                    ref_means = [statistics.fmean(stick.accuracies(g))
                                 for g in random_genotypes(space, a.random, seed, near)]
                acc = statistics.fmean(stick.accuracies(result.genotype))
                uniform = statistics.fmean(math.log(len(d.candidates)) for d in space.decisions)
                print(f"{name:10s} {seed:4d} {secs:8.0f} {acc:8.4f} {percentile(acc, ref_means):5.0f} "
                      f"{statistics.median(ref_means):10.4f} {result.metrics[-1]['alpha_entropy']:6.3f}/{uniform:.3f}"
                      + (f"  {latency:8.3f}" if hw else ""), flush=True)
                for problem in space.unread_parts(result.genotype):
                    print(f"{'':10s} {problem}")
            if len(searched) > 1:
                agree, chance = op_agreement(space, [r.genotype for r, _, _ in searched])
                print(f"{'':10s} op decisions on which two of the {len(searched)} searches agree: {agree:.2f} "
                      f"(chance {chance:.2f})")


if __name__ == "__main__":
    main()
