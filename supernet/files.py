"""The small files the project reads and writes.  Reading what a user hands the apps (genotypes,
latency tables): every way such a file can be wrong is an error that names it, and nothing is
read without a bound.  Writing run records (checkpoints, genotypes, metrics, pictures, tables,
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

LIMIT = 64 << 20        # no genotype or table comes near this; /dev/zero or a stray data file would


def read_text(path: str | os.PathLike, what: str, error: type[Exception]) -> str:
    """The UTF-8 text of ``path`` (``what`` it should be, for the message); ``error`` otherwise."""
    path = Path(path)
    if path.is_dir():
        hint = f" (it holds {path / 'genotype.json'})" if (path / "genotype.json").is_file() else ""
        raise error(f"{path} is a folder, not {what}{hint}")
    try:
        with path.open("rb") as f:
            data = f.read(LIMIT + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such file ({what})") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(data) > LIMIT:
        raise error(f"{path}: larger than {LIMIT >> 20} MiB, so not {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (binary data at byte {data.find(0) if 0 in data else 'n/a'}), "
                    f"so not {what}") from None


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
