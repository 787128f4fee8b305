"""What a search run and a retrain run share: the run folder's guard against overwriting or
resuming the wrong thing, and the error a diverged loss raises."""
from __future__ import annotations

from pathlib import Path


class NonFiniteLossError(RuntimeError):
    """A loss went NaN or infinite; the message says what was kept and what to run next."""

    @classmethod
    def at(cls, what: str, loss: float, epoch: int, step: int, ckpt: Path, knobs: str,
           kept_hint: str = "") -> "NonFiniteLossError":
        kept = f"the last good checkpoint {ckpt} is kept{kept_hint}" if ckpt.exists() else "no epoch had finished"
        return cls(f"{what} loss is {loss} at epoch {epoch + 1}, step {step}; {kept}. Start a new run (another "
                   f"hydra.run.dir) with a lower {knobs}: resume=true continues a run with its own settings "
                   "and would meet the same loss")


def checkpoint_for(out_dir: Path, resume: bool, what: str) -> Path:
    """The run's checkpoint path, after refusing to overwrite a run (no ``resume``) or to
    resume one that is not there."""
    path = out_dir / "checkpoint.pt"
    if path.exists() and not resume:
        raise FileExistsError(f"{out_dir} already holds a {what} checkpoint; pass resume=true to continue it, "
                              "or choose another output folder (hydra.run.dir=...)")
    if resume and not path.exists():
        raise FileNotFoundError(f"resume=true but {path} does not exist; point hydra.run.dir at the folder "
                                "of the run to continue")
    return path
