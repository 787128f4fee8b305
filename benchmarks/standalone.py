"""The stand-alone yardstick of the quality benchmarks: one short recipe that trains a genotype
from scratch, identical for every genotype, and the tools to compare genotypes under it.

The default retrain recipe (8 channels, 5 cells, 5 epochs) puts random cells at 0.98-0.99 on
digits, which ranks nothing.  This one trains the cells in the default search's own macro network
(5 cells: normal, reduction, normal, reduction, normal), narrow (2 channels) and short (3 epochs),
so cells differ by what they can represent.  Not 3 cells (normal, reduction, reduction): that
network never runs a normal cell after a reduction, so it cannot see how a normal cell reads its
inputs, which the search's network depends on, and its seed noise is larger (20 uniform
children: 0.032 against 0.018 per training).  Each genotype's figure is the
mean test accuracy over ``seeds`` trainings, because one training's seed noise is as large as the
differences.  The benchmarks print the spread between genotypes next to the seed noise, so a
reader can see the yardstick is longer than its error.

The yardstick trains on the data set the search ran on (``data.name``, ``data.root``), on its
whole training set unless the recipe's ``limit`` keeps N images (``data.limit``'s seeded draw);
``--recipe key=value`` in the benchmarks replaces any entry of :data:`RECIPE` (a larger data set
wants a wider, longer recipe for its genotypes to spread).  Each training's figure is kept in
``CACHE`` (keyed by the genotype, the recipe, the data set and the seed), so a benchmark run
again, or another benchmark that trains the same genotypes, trains only what is new (delete the
file to train everything again).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from supernet.config import DataConfig, ModelConfig, RetrainConfig, RetrainTrainerConfig
from supernet.data import build_dataset
from supernet.files import write_text_atomic
from supernet.genotype_json import save_genotype
from supernet.retrain import run_retrain

RECIPE = {"init_channels": 2, "layers": 5, "epochs": 3, "lr": 0.025, "batch_size": 32, "limit": 0}
CACHE = Path(__file__).resolve().parent / ".cache" / "standalone.json"
# entries the cache key leaves out at these values: the key predates them, and figures cached
# under the default recipe on digits stay valid
_UNKEYED = {"limit": 0, "data": ["digits", 16]}


def add_recipe_option(parser: argparse.ArgumentParser) -> None:
    """The benchmarks' ``--recipe KEY=VALUE ...``: entries of :data:`RECIPE` to replace."""
    parser.add_argument("--recipe", nargs="+", default=[], type=_recipe_entry, metavar="KEY=VALUE",
                        help="the stand-alone recipe's entries to replace (benchmarks/standalone.py RECIPE), "
                             "e.g. --recipe init_channels=8 epochs=10 limit=5000")


def _recipe_entry(pair: str) -> tuple[str, Any]:
    key, sep, value = pair.partition("=")
    if not sep or key not in RECIPE:
        raise argparse.ArgumentTypeError(f"{pair!r}: expected key=value with key one of {', '.join(RECIPE)}")
    kind = type(RECIPE[key])
    try:
        return key, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{pair!r}: {key} takes {kind.__name__} values, e.g. {key}={RECIPE[key]}") from None


class Yardstick:
    """Stand-alone test accuracy of genotypes under one recipe on the search's data set."""

    def __init__(self, workdir: str | Path, seeds: int, data: DataConfig | None = None,
                 changes: Sequence[tuple[str, Any]] = (), cache: Path | None = CACHE):
        recipe = {**RECIPE, **dict(changes)}   # changes: --recipe's entries
        self.workdir, self.seeds, self.recipe, self.cache = Path(workdir), seeds, recipe, cache
        self.known = json.loads(cache.read_text()) if cache and cache.exists() else {}
        base = data or DataConfig()
        self.data_cfg = dataclasses.replace(base, batch_size=recipe["batch_size"], cutout=0, limit=recipe["limit"])
        train, info = build_dataset(self.data_cfg, train=True, augment=True)
        test, _ = build_dataset(self.data_cfg, train=False, augment=False)
        self.data, self.count = (train, test, info), 0
        keyed = {**recipe, "data": [base.name, base.image_size]}
        self.identity = json.dumps({k: v for k, v in keyed.items() if _UNKEYED.get(k) != v}, sort_keys=True)

    def text(self) -> str:
        """The recipe in words, for the benchmarks' output."""
        r = self.recipe
        subset = f"{r['limit']} training images (a seeded draw)" if r["limit"] else "the whole training set"
        return (f"{self.data_cfg.name}, {subset}, {r['init_channels']} channels, {r['layers']} cells, "
                f"{r['epochs']} epochs, lr {r['lr']}, batch {r['batch_size']}, no auxiliary head, drop path or cutout")

    def accuracies(self, genotype: Any) -> list[float]:
        """Test accuracy of ``genotype`` trained from scratch once per seed."""
        self.count += 1
        path = save_genotype(genotype, self.workdir / f"genotype{self.count}.json")
        what = hashlib.sha256((path.read_text() + self.identity).encode()).hexdigest()
        out = []
        for seed in range(self.seeds):
            if f"{what}/{seed}" in self.known:
                out.append(self.known[f"{what}/{seed}"])
                continue
            cfg = RetrainConfig(genotype=str(path), data=self.data_cfg, seed=seed,
                                model=ModelConfig(init_channels=self.recipe["init_channels"],
                                                  layers=self.recipe["layers"], auxiliary=False, drop_path_prob=0.0),
                                trainer=RetrainTrainerConfig(epochs=self.recipe["epochs"], lr=self.recipe["lr"],
                                                             progress=False))
            with contextlib.redirect_stdout(io.StringIO()):
                result = run_retrain(cfg, self.workdir / f"run{self.count}_seed{seed}", data=self.data)
            out.append(result.summary["test_acc"])
            self.remember(f"{what}/{seed}", out[-1])
        return out

    def remember(self, key: str, acc: float) -> None:
        """Add one training's figure to the cache file (merged with what another run added since,
        written whole, then moved into place, so an interrupted run leaves it readable)."""
        self.known[key] = acc
        if self.cache:
            if self.cache.exists():
                self.known = {**json.loads(self.cache.read_text()), **self.known}
            write_text_atomic(self.cache, json.dumps(self.known))


def spread_and_noise(per_genotype: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(sd of the genotypes' mean accuracies net of seed noise, mean sd over seeds of one genotype)."""
    means = [statistics.fmean(a) for a in per_genotype]
    noise = statistics.fmean(statistics.stdev(a) for a in per_genotype) if len(per_genotype[0]) > 1 else 0.0
    seeds = len(per_genotype[0])
    return max(statistics.pvariance(means) - noise ** 2 / seeds, 0.0) ** 0.5, noise


def percentile(value: float, population: Sequence[float]) -> float:
    """Percent of ``population`` below ``value`` (ties count half)."""
    below = sum(p < value for p in population) + 0.5 * sum(p == value for p in population)
    return 100.0 * below / len(population)
