"""The stand-alone yardstick of the quality benchmarks: one short recipe that trains a genotype
from scratch, identical for every genotype, and the tools to compare genotypes under it.

The default retrain recipe (8 channels, 5 cells, 5 epochs) puts random cells at 0.98-0.99 on
digits, which ranks nothing.  This one trains the cells in the default search's own macro network
(5 cells: normal, reduction, normal, reduction, normal), narrow (2 channels) and short (3 epochs),
so cells differ by what they can represent.  A 3-cell network (normal, reduction, reduction), the
yardstick until 2026-12-01, never runs a normal cell after a reduction, so it could not see how a
normal cell reads its inputs, which the search's network depends on; its seed noise was also
larger (20 uniform children: 0.032 against 0.018 per training).  Each genotype's figure is the
mean test accuracy over ``seeds`` trainings, because one training's seed noise is as large as the
differences.  The benchmarks print the spread between genotypes next to the seed noise, so a
reader can see the yardstick is longer than its error.  Each training's figure is kept in
``CACHE`` (keyed by the genotype, the recipe and the seed), so a benchmark run again, or another
benchmark that trains the same genotypes, trains only what is new (delete the file to train
everything again).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from supernet.atomic import write_text_atomic
from supernet.config import DataConfig, ModelConfig, RetrainConfig, RetrainTrainerConfig
from supernet.data import build_dataset
from supernet.genotype import save_genotype
from supernet.retrain import run_retrain

RECIPE = {"init_channels": 2, "layers": 5, "epochs": 3, "lr": 0.025, "batch_size": 32}
CACHE = Path(__file__).resolve().parent / ".cache" / "standalone.json"


def recipe_text() -> str:
    r = RECIPE
    return (f"{r['init_channels']} channels, {r['layers']} cells, {r['epochs']} epochs, lr {r['lr']}, "
            f"batch {r['batch_size']}, no auxiliary head, drop path or cutout")


class Yardstick:
    """Stand-alone test accuracy of genotypes under :data:`RECIPE` on the digits default."""

    def __init__(self, workdir: str | Path, seeds: int, cache: Path | None = CACHE):
        self.workdir, self.seeds, self.cache = Path(workdir), seeds, cache
        self.known = json.loads(cache.read_text()) if cache and cache.exists() else {}
        data = DataConfig(batch_size=RECIPE["batch_size"], cutout=0)
        train, info = build_dataset(data, train=True, augment=True)
        test, _ = build_dataset(data, train=False, augment=False)
        self.data, self.data_cfg, self.count = (train, test, info), data, 0

    def accuracies(self, genotype: Any) -> list[float]:
        """Test accuracy of ``genotype`` trained from scratch once per seed."""
        self.count += 1
        path = save_genotype(genotype, self.workdir / f"genotype{self.count}.json")
        what = hashlib.sha256((path.read_text() + json.dumps(RECIPE, sort_keys=True)).encode()).hexdigest()
        out = []
        for seed in range(self.seeds):
            if f"{what}/{seed}" in self.known:
                out.append(self.known[f"{what}/{seed}"])
                continue
            cfg = RetrainConfig(genotype=str(path), data=self.data_cfg, seed=seed,
                                model=ModelConfig(init_channels=RECIPE["init_channels"], layers=RECIPE["layers"],
                                                  auxiliary=False, drop_path_prob=0.0),
                                trainer=RetrainTrainerConfig(epochs=RECIPE["epochs"], lr=RECIPE["lr"], progress=False))
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
