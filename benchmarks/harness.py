"""What every benchmark shares: hydra configs composed as the apps compose them, the search
cache (a search kept in a folder is read back when it finished and continued when it was
stopped, so a benchmark resumes where it was and a rerun with another yardstick prints without
searching), and the statistics a Kendall tau is judged by."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import time
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from supernet.config import config_dict, search_config_from_dict
from supernet.data import DataInfo
from supernet.derive import ranked_derive
from supernet.hardware.target import HardwareTarget, hardware_target
from supernet.probe import checkpoint_probe
from supernet.run import CONFIG_FILE, OtherRunError, changed_settings, flat_keys
from supernet.run.checkpoint import load_checkpoint
from supernet.search import FREE_ON_RESUME, WARMUP_SETTINGS, run_search
from supernet.strategies import build_space_and_strategy

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "supernet" / "conf")


def compose_config(name: str, overrides: list[str]):
    """The typed config of app ``name`` (search, profile, validate, ...) under ``overrides``."""
    with initialize_config_dir(CONF, version_base="1.3"):
        return OmegaConf.to_object(compose(name, overrides=overrides))


def search_config(overrides: list[str]):
    return compose_config("search", overrides + ["trainer.progress=false"])


def search_in(folder: Path, overrides: list[str], quiet: bool = True):
    """The search of ``overrides`` run in ``folder``, or the one kept there continued
    (resume=true), its console printed or not: its result, the seconds its epochs took, whether
    it was kept, its config."""
    kept = (folder / "checkpoint.pt").exists()
    cfg = search_config(overrides + ["resume=true"] * kept)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        result = run_search(cfg, folder)
    secs = sum(row["seconds"] for row in result.metrics) if kept else time.perf_counter() - t0
    return result, secs, kept, cfg


# derive settings: a kept search is derived again with those of the command line (Rederive), not searched again
DERIVE_SETTINGS = ("strategy.max_skip", "latency.derive_margin", "latency.derive_floor", "trainer.derive_candidates")


class Rederive:
    """The search in ``run`` derived again with the derive settings of ``base``, without a target
    or within any target on any device's table; one probe (built when trainer.derive_candidates
    ranks children) measures its children for every derive."""

    def __init__(self, run: Path, base: list[str]):
        self.state = load_checkpoint(run / "checkpoint.pt", ("config", "strategy", "info", "net", "epoch"))
        self.cfg = search_config_from_dict(self.state["config"])
        self.base = base
        asked = search_config(base)
        for key in DERIVE_SETTINGS:
            group, name = key.split(".")
            setattr(getattr(self.cfg, group), name, getattr(getattr(asked, group), name))
        self.space, self.strategy = build_space_and_strategy(self.cfg)
        self.strategy.load_state_dict(self.state["strategy"])
        self.probe = (checkpoint_probe(self.state, self.cfg, self.space) if self.cfg.trainer.derive_candidates > 1
                      else None)

    def free(self) -> str:
        """The architecture derived without a target."""
        return ranked_derive(self.strategy, None, self.cfg.trainer.derive_candidates, self.probe).arch

    def target(self, device: str, target_ms: float) -> HardwareTarget:
        """``device``'s table and ``target_ms`` under the derive settings of ``base``."""
        self.cfg.hardware = search_config(self.base + [f"hardware={device}"]).hardware
        self.cfg.latency.target_ms, self.cfg.latency.constrained_derive = target_ms, True
        return hardware_target(self.cfg, self.space, DataInfo(**self.state["info"]), type(self.strategy))

    def at(self, hw: HardwareTarget) -> str:
        """The architecture derived within the target ``hw`` (of :meth:`target`)."""
        return ranked_derive(self.strategy, hw, self.cfg.trainer.derive_candidates, self.probe).arch


def searched(folder: Path, overrides: list[str], depends: tuple[str, ...] | None = None,
             free: tuple[str, ...] = ()) -> tuple[str, float]:
    """(derived architecture, seconds of all its epochs, a shared warm-up's included) of the
    search in ``folder``: read back when it finished, continued (its console printed) when it was
    stopped.  A finished search of other settings (those in ``depends``, default all but what a
    resume may change and ``free``) is refused: a default changed since it ran would pass unseen."""
    genotype_file = folder / "genotype.json"
    if genotype_file.exists():
        refuse_other_search(folder, overrides, depends, free)
    else:
        search_in(folder, overrides, quiet=False)
    arch = json.loads(genotype_file.read_text())["arch"]
    with (folder / "metrics.csv").open() as f:
        seconds = sum(float(row["seconds"]) for row in csv.DictReader(f))
    return arch, seconds


def refuse_other_search(folder: Path, overrides: list[str], depends: tuple[str, ...] | None,
                        free: tuple[str, ...]) -> None:
    saved = yaml.safe_load((folder / CONFIG_FILE).read_text())
    now = config_dict(search_config(overrides))
    keys = flat_keys(saved) + flat_keys(now)
    unread = (FREE_ON_RESUME + free if depends is None else
              [k for k in keys if not any(k == d or k.startswith(d + ".") for d in depends)])
    diff = changed_settings(saved, now, unread)
    if diff:
        raise OtherRunError(f"{folder} keeps a search of other settings than these ({'; '.join(diff)}): give the "
                            "benchmark another --keep folder, or remove that one to search again")


def warmed_up(keep: Path, seed: int, base: list[str]) -> tuple[Path, float]:
    """The shared warm-up of ``seed`` (uniform single paths, stopped after trainer.warmup_epochs)
    kept in ``keep``, and its seconds: every strategy and target of the seed starts from it
    (trainer.init_from), so only what a warm-up reads must match."""
    folder = keep / f"seed{seed}" / "warmup"
    return folder, searched(folder, base + [f"seed={seed}", "strategy=proxyless", "trainer.stop_after_warmup=true"],
                            WARMUP_SETTINGS + ("trainer.epochs",))[1]


def tau_ceiling(spread: float, noise: float) -> float:
    """The Kendall tau a perfect ranking would show against a yardstick whose figures are the
    true values (sd ``spread`` between items) plus independent noise (sd ``noise``): for normal
    values, (2 / pi) asin(rho) with rho = spread / sqrt(spread^2 + noise^2).  A measured tau is
    judged against this, not against 1: a yardstick noisier than its spread ranks nothing."""
    if spread <= 0:
        return 0.0
    return 2 / math.pi * math.asin(spread / math.hypot(spread, noise))


def tau_sampling_error(n: int) -> float:
    """Standard deviation of Kendall's tau over ``n`` items drawn at random when the rankings are
    unrelated, sqrt(2 (2n + 5) / (9 n (n - 1))): how far a tau measured on a few children moves
    from one draw of children to the next (0.16 for 20), so two figures closer than this agree."""
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
