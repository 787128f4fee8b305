"""Searches in NAS-Bench-201 on CIFAR-10, judged by the benchmark's published figures: for each
strategy and search seed the derived architecture and its table figures (mean, sd and the space's
percentile per strategy, beside the published searches), and how well each seed's supernet ranks:
Kendall tau between the shared-weight accuracy of uniformly drawn architectures (BN re-estimated
per child, through supernet.probe.ChildProbe) and the table, overall and within the space's top
10%, and its mean over the seeds.

Every search of a seed starts from one shared warm-up (uniform single-path children; a run with
trainer.stop_after_warmup=true, then trainer.init_from), and every search and every ranked child
is kept under --keep, so a rerun with another --table prints without searching, and a stopped
run resumes where it was.

    python -m benchmarks.nasbench201 [--data-root ../shared/datasets/cifar10_jpeg]
        [--table ../shared/nasbench201/accuracy_12epoch.csv] [--column cifar10_test_12ep]
        [--strategies proxyless darts gdas reinforce random] [--seeds 0 1 2] [--children 100]
        [--keep benchmarks/.cache/nasbench201] [--out DIR] [hydra overrides for every search]
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
from pathlib import Path

import torch
from scipy.stats import kendalltau

from benchmarks.harness import DERIVE_SETTINGS, ROOT, Rederive, search_config, searched, tau_sampling_error, warmed_up
from supernet.benchmark_table import BenchmarkTable
from supernet.config import register_configs, search_config_from_dict
from supernet.genotypes import resolve_genotype
from supernet.probe import checkpoint_probe
from supernet.run import RunFolder
from supernet.spaces import build_space
from supernet.spaces.base import uniform_choice
from supernet.strategies import STRATEGIES

# The benchmark paper's Table 5 (CIFAR-10 test accuracy after the 200-epoch schedule).
PUBLISHED = {"darts": 54.30, "enas": 54.30, "random": 87.66, "gdas": 93.61, "reinforce": 93.85}
# random search ranks its children once, at the end (SPOS): ranking after every epoch costs 20 children an epoch
STRATEGY_OVERRIDES = {"random": ["strategy.rank_every=1000", "strategy.num_candidates=50"]}
PUBLISHED_NOTE = "published (200 ep): DARTS 54.30, ENAS 54.30, RSPS 87.66, GDAS 93.61, REINFORCE 93.85, best 94.37"


def ranking(folder: Path, children: int, cache: Path) -> dict[str, float]:
    """Shared-weight accuracy of ``children`` uniformly drawn architectures (`none` included:
    the space's own distribution) on the final supernet of the search in ``folder``; each
    child's figure is kept in ``cache`` as it is measured."""
    known = json.loads(cache.read_text()) if cache.exists() else {}
    ck = RunFolder(folder, True, "search").load(("config", "net", "epoch"))
    cfg = search_config_from_dict(ck["config"])
    space = build_space(cfg.space)
    gen = torch.Generator().manual_seed(2024)
    draws = [space.genotype(uniform_choice(space, gen, allow_none=True)) for _ in range(children)]
    todo = [g for g in draws if g.arch not in known]
    if todo:
        probe = checkpoint_probe(ck, cfg, space)
        for i, g in enumerate(todo):
            known[g.arch] = probe.accuracy(space.choice_of(g))
            cache.write_text(json.dumps(known))
            print(f"\r  ranked {len(draws) - len(todo) + i + 1}/{len(draws)} children", end="", flush=True)
        print()
    return {g.arch: known[g.arch] for g in draws}


def rank_and_print(keep: Path, args, table: BenchmarkTable, column: str,
                   by_arch: dict[str, float]) -> dict[int, dict[str, float]]:
    """Ranks ``args.children`` uniform architectures on the final supernet of ``args.rank_strategy``
    of every seed, prints the Kendall taus with the table (per seed, and their mean and sd), and
    returns the shared-weight accuracies per seed."""
    top_line = table.value_at(column, 90)
    shared, taus = {}, []
    for seed in args.seeds:
        rank_run = keep / f"seed{seed}" / args.rank_strategy
        shared[seed] = ranking(rank_run, args.children, keep / f"ranking_{args.rank_strategy}_seed{seed}.json")
        archs = list(shared[seed])

        def tau(among: list[str]) -> float:
            return kendalltau([shared[seed][a] for a in among], [by_arch[a] for a in among]).statistic

        taus.append(tau(archs))
        top = [a for a in archs if by_arch[a] >= top_line]
        tau_top = tau(top) if len(top) > 2 else float("nan")
        print(f"ranking on the shared weights of {rank_run} ({len(archs)} uniform architectures): Kendall tau with "
              f"{column} {taus[-1]:.3f} +- {tau_sampling_error(len(archs)):.3f} overall; {tau_top:.3f} +- "
              f"{tau_sampling_error(max(len(top), 2)):.3f} among the {len(top)} in the space's top 10%")
    if len(taus) > 1:
        print(f"Kendall tau over the {len(taus)} seeds' supernets: {statistics.fmean(taus):.3f} "
              f"+- {statistics.stdev(taus):.3f} (sd)")
    return shared


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets" / "cifar10_jpeg"))
    p.add_argument("--table", default=str(ROOT.parent / "shared" / "nasbench201" / "accuracy_12epoch.csv"))
    p.add_argument("--column", default=None, help="the table's figure (default: its first that is not an index)")
    p.add_argument("--strategies", nargs="+", default=["proxyless", "darts", "gdas", "reinforce", "random"],
                   choices=sorted(STRATEGIES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--children", type=int, default=100,
                   help="uniform architectures ranked on the shared weights (0: no ranking)")
    p.add_argument("--rank-strategy", default="random", help="whose final supernets (every seed's) are ranked")
    p.add_argument("--keep", default=str(ROOT / "benchmarks" / ".cache" / "nasbench201"))
    p.add_argument("--out", default=None, help="writes searched.csv and ranking.csv here")
    args, overrides = p.parse_known_args()
    if args.children < 0 or args.children == 1:
        p.error(f"--children {args.children}: a Kendall tau needs at least 2 architectures (0 skips the ranking)")
    register_configs()
    logging.basicConfig(level=logging.INFO, format="    %(message)s")   # every search's epoch rows
    keep = Path(args.keep)
    base = ["space=nasbench201", "data=cifar10_folder", f"data.root={args.data_root}", "trainer.progress=false",
            *overrides]
    table = BenchmarkTable(args.table, build_space(search_config(base).space))
    column = table.column(args.column)
    print(f"NAS-Bench-201 on CIFAR-10 ({args.data_root}), judged by {column} of {args.table}; searches in {keep}")
    print("search overrides:", " ".join(base))

    rows = []
    for seed in args.seeds:
        warm, warm_s = warmed_up(keep, seed, base)
        print(f"seed {seed}: shared warm-up {warm_s:.0f} s")
        for name in args.strategies:
            folder = keep / f"seed{seed}" / name
            secs = searched(folder, base + [f"seed={seed}", f"strategy={name}", f"trainer.init_from={warm}",
                                            *STRATEGY_OVERRIDES.get(name, [])], free=DERIVE_SETTINGS)[1]
            arch = Rederive(folder, base).free()        # the derive settings of this command line
            g = resolve_genotype(arch)
            rows.append({"strategy": name, "seed": seed, "arch": arch, "seconds": round(secs, 1),
                         column: table[g][column], "percentile": round(table.percentile(g, column), 2)})
            print(f"  {name:10s} {table[g][column]:6.2f} ({rows[-1]['percentile']:6.2f}th)  {secs / 60:5.1f} min  "
                  f"{arch}")

    print(f"\n{'strategy':10s} {'mean':>6s} {'sd':>5s} {'pct of mean':>11s} {'min':>6s} {'max':>6s}  {'minutes':>7s}  "
          f"published (200 ep)")
    for name in args.strategies:
        acc = [r[column] for r in rows if r["strategy"] == name]
        if not acc:
            continue
        mean = statistics.fmean(acc)
        pct = table.percentile_of(mean, column)
        minutes = statistics.fmean(r["seconds"] for r in rows if r["strategy"] == name) / 60
        print(f"{name:10s} {mean:6.2f} {statistics.stdev(acc) if len(acc) > 1 else 0:5.2f} {pct:11.2f} "
              f"{min(acc):6.2f} {max(acc):6.2f}  {minutes:7.1f}  {PUBLISHED.get(name, '')}")
    print("space: " + ", ".join(f"{q}th {table.value_at(column, q):.2f}" for q in (50, 90, 95, 98, 99, 100)))
    print(PUBLISHED_NOTE)

    by_arch = {g.arch: f[column] for g, f in table.figures.items()}
    shared = rank_and_print(keep, args, table, column, by_arch) if args.children else {}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "searched.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, ["strategy", "seed", "arch", "seconds", column, "percentile"])
            w.writeheader()
            w.writerows(rows)
        written = [out / "searched.csv"]
        if shared:
            written.append(out / "ranking.csv")
            with written[-1].open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["seed", "arch", "shared_weight_accuracy", column])
                w.writerows([seed, a, acc, by_arch[a]] for seed, accs in shared.items() for a, acc in accs.items())
        print("wrote " + " and ".join(map(str, written)))


if __name__ == "__main__":
    main()
