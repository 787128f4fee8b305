"""Optional TensorBoard logging of a search (``trainer.tensorboard=true``, the ``tensorboard``
extra): every epoch's metrics and every decision's candidate probabilities as scalars in
``<run>/tensorboard``, where timm's and Lightning's users look for their runs."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Mapping, Sequence


def check_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError("trainer.tensorboard=true needs the tensorboard package: pip install tensorboard (or "
                         "leave trainer.tensorboard=false; metrics.csv and the pictures hold the same)")


class TensorBoardLog:
    """One writer per run; an epoch is logged after its checkpoint, so a resumed run adds the
    epochs it trains and repeats none."""

    def __init__(self, run_dir: Path, candidates: Mapping[str, Sequence[str]]):
        check_tensorboard()
        # imported here, only when asked for: a search without it never loads tensorboard
        from torch.utils.tensorboard import SummaryWriter
        self.writer, self.candidates = SummaryWriter(str(Path(run_dir) / "tensorboard")), candidates

    def epoch(self, row: Mapping[str, float], probabilities: Mapping[str, Sequence[float]]) -> None:
        step = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not math.isnan(value):
                self.writer.add_scalar(key, value, step)
        for name, p in probabilities.items():
            for candidate, value in zip(self.candidates[name], p):
                self.writer.add_scalar(f"alpha/{name}/{candidate}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
