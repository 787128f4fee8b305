"""Reading the small text files a user hands the apps (genotypes, latency tables): every way
such a file can be wrong is an error that names it, and nothing is read without a bound."""
from __future__ import annotations

import os
from pathlib import Path

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
