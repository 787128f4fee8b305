"""What a search run and a retrain run share: the run folder (its guard against overwriting or
resuming the wrong thing, the config it records, its checkpoint with the RNG state that makes a
resume exact, its metrics.csv) and the error a diverged loss raises.

A refused run writes nothing into the folder it protects: the guard runs before anything is
written, and a run belongs to its folder only once it recorded its config (:data:`STARTED`),
which is what the hydra status callback asks (summary.py)."""
from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
import yaml

from ..files import write_text_atomic
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .metrics import format_row, write_csv

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"     # held (flock) while a run writes the folder; the OS lets go when the process ends


class RunExistsError(FileExistsError):
    """The folder holds a run and resume was not asked for (refused before anything is written)."""


class NoRunToResumeError(FileNotFoundError):
    """resume=true into a folder without a checkpoint."""


class RunBusyError(BlockingIOError):
    """Another running process writes the folder."""


class OtherRunError(CheckpointError):
    """resume=true with settings other than the run's."""


class NonFiniteLossError(RuntimeError):
    """A loss went NaN or infinite; the message says what was kept and what to run next."""

    @classmethod
    def at(cls, what: str, loss: float, epoch: int, step: int, ckpt: Path, knobs: str,
           kept_hint: str = "") -> "NonFiniteLossError":
        kept = f"the last good checkpoint {ckpt} is kept{kept_hint}" if ckpt.exists() else "no epoch had finished"
        return cls(f"{what} loss is {loss} at epoch {epoch + 1}, step {step}; {kept}. Start a new run (another "
                   f"hydra.run.dir) with a lower {knobs}: resume=true continues a run with its own settings "
                   "and would meet the same loss")


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def flat_keys(config: Mapping[str, Any]) -> list[str]:
    """Every setting of a config (a plain dict) as a dotted key."""
    return list(_flat(config))


def changed_settings(saved: Mapping[str, Any], now: Mapping[str, Any], free: Iterable[str]) -> list[str]:
    """``key: old -> new`` for every setting that differs between two configs (plain dicts),
    except those in ``free`` (what may change on a resume without changing the run) and those
    the saved config lacks (added to the project after the run started: their default holds)."""
    old, new, free = _flat(saved), _flat(now), set(free)
    return [f"{k}: {old[k]!r} -> {new.get(k)!r}" for k in sorted(old)
            if old[k] != new.get(k) and k not in free]


STARTED: set[Path] = set()      # run folders a run of this process started in (recorded its config)


class RunFolder:
    """A run's folder.  ``claim`` refuses to overwrite a run (no ``resume``), to resume one that is
    not there, or to write a folder another running process writes (an exclusive lock held
    until :meth:`release` or the process's end, so a killed run leaves no stale lock), before
    anything is written; ``record_config`` writes what runs, and from then on the run is the
    folder's (:data:`STARTED`): a start that fails before it leaves the folder as it was."""

    def __init__(self, out_dir: str | Path, resume: bool, what: str, writer: bool = True):
        self.dir, self.resume, self.what, self.writer = Path(out_dir), resume, what, writer
        self.checkpoint = self.dir / "checkpoint.pt"
        self._lock = None
        self._made: list[Path] = []         # what claim created, removed again if the start fails

    def claim(self) -> None:
        if self.checkpoint.exists() and not self.resume:
            raise RunExistsError(f"{self.dir} already holds a {self.what} checkpoint; pass resume=true to continue "
                                 "it, or choose another output folder (hydra.run.dir=...)")
        if self.resume and not self.checkpoint.exists():
            raise NoRunToResumeError(f"resume=true but {self.checkpoint} does not exist; point hydra.run.dir at the "
                                     "folder of the run to continue")
        if self.writer:
            missing = [p for p in (self.dir, *self.dir.parents) if not p.exists()]
            self.dir.mkdir(parents=True, exist_ok=True)
            lock = self.dir / LOCK_FILE
            self._made = ([] if lock.exists() else [lock]) + missing
            self._lock = lock.open("a")
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.release()
                raise RunBusyError(f"{self.dir} is being written by another running {self.what}; wait for it to "
                                   "end, or choose another output folder (hydra.run.dir=...)") from None

    def claim_for(self, build: Callable[[], None]) -> None:
        """Claim the folder, then ``build`` what the run holds; if that fails, let the folder go."""
        self.claim()
        try:
            build()
        except BaseException:
            self.release()
            for path in self._made:         # the lock file, then the folders claim made, innermost first
                try:
                    path.unlink() if path.name == LOCK_FILE else path.rmdir()
                except OSError:
                    break
            raise

    def release(self) -> None:
        """Let another run have the folder (a process that ends lets go by itself)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self, required: tuple[str, ...]) -> dict[str, Any]:
        return load_checkpoint(self.checkpoint, required)

    def refuse_changes(self, saved: Mapping[str, Any], now: Mapping[str, Any], free: Iterable[str]) -> None:
        """A resumed run must be the run that was interrupted: every setting but ``free`` as saved."""
        diff = changed_settings(saved, now, free)
        if diff:
            raise OtherRunError(f"{self.checkpoint} belongs to another {self.what}; resume=true continues a run with "
                                f"the settings it was started with ({'; '.join(diff)}). Start a new run folder "
                                "for other settings")

    def record_config(self, config: Mapping[str, Any]) -> None:
        """The config that runs (on a resume: with what it changed), as ``config.yaml``."""
        if self.writer:
            write_text_atomic(self.dir / CONFIG_FILE, yaml.safe_dump(dict(config), sort_keys=False))
            STARTED.add(self.dir.resolve())
            self._made = []

    def save_epoch(self, state: dict[str, Any], metrics: list[dict[str, Any]], device: torch.device) -> None:
        """After an epoch: the checkpoint (with the RNG states and the metrics), then metrics.csv
        (so that it never lists an epoch the checkpoint does not hold), the epoch's row on the log."""
        if not self.writer:
            return
        rng = {"rng": torch.get_rng_state(),
               **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})}
        save_checkpoint({**state, "metrics": metrics, **rng}, self.checkpoint)
        write_csv(metrics, self.dir / "metrics.csv")
        log.info(format_row(metrics[-1]))

    def check_finite(self, loss: float, what: str, epoch: int, step: int, knobs: str, hint: str = "") -> None:
        if not torch.isfinite(torch.tensor(loss)):
            raise NonFiniteLossError.at(what, loss, epoch, step, self.checkpoint, knobs, hint)


def restore_rng(ck: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(ck["rng"])
    if device.type == "cuda" and "cuda_rng" in ck:
        torch.cuda.set_rng_state(ck["cuda_rng"], device)
