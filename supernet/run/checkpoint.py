"""Checkpoints: written atomically (a crash never leaves half a file), read with
``weights_only=True`` (no pickle code runs), validated so a wrong file says what it is."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..files import write_atomic

FORMAT = "supernet.checkpoint/v1"


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    return write_atomic(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there; give the run folder of a search "
                              "(it holds checkpoint.pt) or the checkpoint file itself")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated / foreign files
        # torch's own message advises weights_only=False, which would run the file's pickled code: not passed on
        what = "it holds objects other than tensors and plain data" if isinstance(e, pickle.UnpicklingError) \
            else f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise CheckpointError(f"{path}: cannot be read as a checkpoint ({what}). It is corrupted or not a "
                              "supernet checkpoint; nothing else in its folder was changed") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    return state
