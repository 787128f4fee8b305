"""Are the shared weights worth measuring children on?  For the cell-space default and a
CPU-sized chain (space=proxyless_chain_cpu):

  (a) the default search runs; then ``--children`` uniformly sampled children (no `none`) are
      measured on its trained shared weights, BN statistics re-estimated per child (supernet/probe.py):
      mean, sd and range of their val accuracy, beside one fixed child trained alone (same
      supernet, data, optimizer and number of weight steps);
  (b) the same children are trained from scratch with the short recipe of
      benchmarks/standalone.py (mean over ``--seeds``): Kendall tau between the two rankings,
      the stand-alone spread next to its seed noise, and the tau a perfect ranking would show
      against a yardstick that noisy (its ceiling: 40 uniform cells on digits differ stand-alone
      by 0.013, net of a noise of 0.010 per 4-seed mean, ceiling 0.58); with ``--search-seeds``
      2 or more, how alike the supernets of different seeds rank the children, and what each
      ranking rewards (tau with the children's count of ops with weights);
  (c) on digits uniformly sampled cells hardly differ stand-alone (the spread of (b) is below
      its noise), so (b)'s tau ranks noise; (c) repeats it for children that span the space's
      range, from all-conv cells to cells of parameter-free ops only (a child takes a
      parameter-free op on each op decision with a probability from 0 to 1): does the supernet
      rank a cell that computes less below one that computes more, as training alone does?

    python -m benchmarks.supernet_quality [--spaces cell chain] [--children 40] [--seeds 4]
        [--search-seeds 1] [--keep DIR] [--rank uniform spanning] [--recipe KEY=VALUE ...]
        [hydra overrides for every space, e.g. trainer.strict_fairness=true]
    (--rank with no value: part (a) only; --rank uniform: (a) and (b))
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import math
import statistics
import tempfile
from pathlib import Path

import torch
from scipy.stats import kendalltau

from benchmarks.harness import search_in, tau_ceiling, tau_sampling_error
from benchmarks.standalone import Yardstick, add_recipe_option, spread_and_noise
from supernet.config import register_configs
from supernet.data import build_search_data, search_loader
from supernet.distributed import World
from supernet.ops import OPS, build_op
from supernet.probe import child_probe
from supernet.search import weight_step
from supernet.spaces.base import uniform_choice
from supernet.strategies import build_strategy, strategy_config

SPACES = {"cell": [], "chain": ["space=proxyless_chain_cpu"]}


def train_alone(space, cfg, choice, train, info) -> tuple[torch.nn.Module, int]:
    """A fresh supernet trained on one fixed child with the search's weight optimizer, schedule
    and data for its number of epochs: what the shared weights are compared with."""
    tr = cfg.trainer
    torch.manual_seed(cfg.seed)
    net = space.supernet(info)
    opt = torch.optim.SGD(net.parameters(), tr.lr, momentum=tr.momentum, weight_decay=tr.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tr.epochs, eta_min=tr.lr_min)
    strategy, steps = build_strategy(space, strategy_config("random")), 0     # a sampler, every decision pinned
    alone = dataclasses.replace(tr, strict_fairness=False)       # the one child once per step, whatever the search did
    for epoch in range(tr.epochs):
        for x, y in search_loader(train, cfg.data.batch_size, cfg.seed, World(), epoch):
            weight_step(net, net, strategy, opt, x, y, choice, alone)
            steps += 1
        sched.step()
    return net, steps


@functools.cache
def parameter_free(op: str) -> bool:
    """Whether a cell op computes without weights (a chain's `zero` is not a cell op)."""
    return op in OPS and op != "none" and not any(p.numel() for p in build_op(op, 4, 4, 1, False).parameters())


def spanning_children(space, n: int, generator: torch.Generator) -> list[dict[str, int]]:
    """``n`` children; child i takes a parameter-free op on each op decision with probability
    i / (n - 1) (inputs uniform, `none` never)."""
    children = []
    for i in range(n):
        child = uniform_choice(space, generator, allow_none=False)
        for d in (d for d in space.decisions if d.kind == "op"):
            free = bool(torch.rand((), generator=generator) < i / (n - 1))
            ks = [k for k, op in enumerate(d.candidates) if k not in d.never_derived and parameter_free(op) == free]
            child[d.name] = ks[int(torch.randint(len(ks), (), generator=generator))]
        children.append(child)
    return children


def has_parameter_free_ops(space) -> bool:
    """Whether some decision offers a parameter-free op (the cell space; the chain has none)."""
    return any(parameter_free(op) for d in space.decisions for op in d.candidates)


def parametric_ops(space, child: dict[str, int]) -> int:
    """How many of the child's op decisions take an op with weights."""
    return sum(not parameter_free(d.candidates[child[d.name]]) for d in space.decisions if d.kind == "op")


def rank_against_standalone(label: str, shared: list[list[float]], stick: Yardstick, space, children,
                            seeds: int) -> None:
    """Tau of each supernet's ranking (one per search seed) against the stand-alone one; with
    several, how alike the supernets rank (is the shared-weight ranking repeatable?) and what
    each ranking rewards: the children's count of ops with weights."""
    standalone = [stick.accuracies(space.genotype(c)) for c in children]
    means = [statistics.fmean(s) for s in standalone]
    spread, noise = spread_and_noise(standalone)
    per_mean = noise / math.sqrt(seeds)
    taus = " / ".join(f"{kendalltau(s, means).statistic:.3f}" for s in shared)
    which = ", ".join(map(str, range(len(shared))))
    print(f"  ({label}) stand-alone ({stick.text()}; mean of {seeds} seeds): mean {statistics.fmean(means):.3f}, "
          f"range {min(means):.3f}-{max(means):.3f}, spread between children {spread:.4f} (net of "
          f"noise), seed noise {noise:.4f} per training, {per_mean:.4f} per mean")
    print(f"      Kendall tau, shared-weight vs stand-alone accuracy (search seed {which}): {taus}"
          f" (a perfect ranking would show {tau_ceiling(spread, per_mean):.2f} against this noise; another "
          f"draw of {len(means)} children moves tau by about {tau_sampling_error(len(means)):.2f})")
    if len(shared) > 1:
        pairs = [kendalltau(a, b).statistic for a, b in itertools.combinations(shared, 2)]
        print(f"      the {len(shared)} supernets rank the children alike at tau {statistics.fmean(pairs):.2f}"
              + (f" ({min(pairs):.2f} to {max(pairs):.2f} over pairs)" if len(pairs) > 1 else ""))
    if has_parameter_free_ops(space):
        weights = [parametric_ops(space, c) for c in children]
        print(f"      what each ranking rewards: tau with the children's count of ops with weights, shared "
              f"{statistics.fmean(kendalltau(weights, s).statistic for s in shared):+.2f}, stand-alone "
              f"{kendalltau(weights, means).statistic:+.2f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    p.add_argument("--children", type=int, default=40,
                   help="children to rank (a tau over 20 moves by 0.16 between draws, over 40 by 0.11)")
    p.add_argument("--seeds", type=int, default=4, help="stand-alone trainings per child")
    p.add_argument("--search-seeds", type=int, default=1,
                   help="supernets (searches of seed 0, 1, ...): each ranks the children; 2 or more also "
                        "print how alike they rank")
    p.add_argument("--keep", type=Path, help="keep the searches here (<space><seed>); a search already kept there "
                   "is continued (resume=true), not run again")
    p.add_argument("--rank", nargs="*", default=["uniform", "spanning"], choices=["uniform", "spanning"],
                   help="the stand-alone rankings to run: (b) uniform children, (c) spanning children")
    add_recipe_option(p)
    a, overrides = p.parse_known_args()
    register_configs()
    torch.set_num_threads(1)
    for label in a.spaces:
        with tempfile.TemporaryDirectory() as tmp:
            shared, spanned = [], []
            for seed in range(a.search_seeds):
                result, secs, kept, cfg = search_in((a.keep or Path(tmp)) / f"{label}{seed}",
                                                    SPACES[label] + overrides + [f"seed={seed}"])
                space = result.strategy.space
                train, val, _ = build_search_data(cfg.data, cfg.seed)
                gen = torch.Generator().manual_seed(2024)
                children = [uniform_choice(space, gen, allow_none=False) for _ in range(a.children)]
                spans = "spanning" in a.rank and has_parameter_free_ops(space)
                spanning = spanning_children(space, a.children, gen) if spans else []
                probe = child_probe(result.net, train, val, cfg, World(), 0, "cpu")
                shared.append([probe.accuracy(c) for c in children])
                spanned.append([probe.accuracy(c) for c in spanning])
                line = (f"  (a) {a.children} sampled children on the shared weights (BN re-estimated): mean "
                        f"{statistics.fmean(shared[-1]):.3f}, sd {statistics.stdev(shared[-1]):.3f}, range "
                        f"{min(shared[-1]):.3f}-{max(shared[-1]):.3f}")
                if seed == 0:
                    alone, steps = train_alone(space, cfg, children[0], train, result.info)
                    fixed = child_probe(alone, train, val, cfg, World(), 0, "cpu").accuracy(children[0])
                    line += (f"; the first of them trained alone for the same steps: {fixed:.3f} "
                             f"(shared: {shared[-1][0]:.3f})")
                print(f"[{label}] {' '.join(SPACES[label] + overrides) or 'the default'}, search seed {seed}: "
                      f"{'kept search' if kept else 'search'} {secs:.0f} s, {steps} weight steps\n{line}", flush=True)
            stick = Yardstick(Path(tmp), a.seeds, cfg.data, a.recipe)
            if "uniform" in a.rank:
                rank_against_standalone("b", shared, stick, space, children, a.seeds)
            if not spanning:
                continue
            print(f"  (c) {a.children} children from all-conv to all-parameter-free, on the shared weights: range "
                  f"{min(map(min, spanned)):.3f}-{max(map(max, spanned)):.3f}")
            rank_against_standalone("c", spanned, stick, space, spanning, a.seeds)


if __name__ == "__main__":
    main()
