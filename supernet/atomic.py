"""The one way run records are written (checkpoints, genotypes, metrics, pictures, tables,
status): through a temporary file next to the target, renamed over it, so a reader or a crash
mid-write sees the old file or the new one, never half of one; a write that fails (a full disk,
a read-only folder) names the file and keeps the previous version."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Callable


class RecordWriteError(OSError):
    """A run record could not be written; the previous version of the file, if any, is intact."""


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` writes the content to the path it is given; it then replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:    # torch.save reports a full disk as a RuntimeError
        raise RecordWriteError(getattr(e, "errno", None) or errno.EIO,
                               f"could not write {path}: {_reason(e, path.parent)}; "
                               "its previous version, if any, is kept") from e
    finally:
        with contextlib.suppress(OSError):      # a read-only folder: the error above is the one to see
            tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def _reason(e: Exception, folder: Path) -> str:
    try:
        full = getattr(e, "errno", None) == errno.ENOSPC or shutil.disk_usage(folder).free == 0
    except OSError:
        full = False
    return f"the disk is full (free space on {folder}, then run again)" if full else str(e)
