"""The latency table: versioned YAML with a schema.  Milliseconds, per device, keyed by a
canonical op signature; its metadata says how it was measured, and the calibration fitted from
end-to-end measurements (see predict.py) travels with it."""
from __future__ import annotations

import datetime
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ..files import read_text, write_text_atomic
from ..timing import ROUNDS

SCHEMA = "supernet.latency_table/v2"
UNITS = "ms"
REQUIRED_META = ("device", "torch", "processor", "threads", "batch_size", "dtype", "date", "method")


class TableError(ValueError):
    """A table that is unreadable, of another schema, or measured under other conditions."""


class MissingEntryError(KeyError):
    """A lookup of an op signature the table does not hold (never a silent default)."""

    def __init__(self, signature: str, table: str, remedy: str):
        super().__init__(signature)
        self.signature, self.table, self.remedy = signature, table, remedy

    def __str__(self) -> str:
        return f"latency table {self.table} has no entry for {self.signature!r}; {self.remedy}"


@dataclass
class LatencyTable:
    meta: dict[str, Any]
    entries: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)  # model key -> scale, per_op_ms, constant_ms
    path: str = "<memory>"
    hardware: str = "<name>"

    def remedy(self) -> str:
        """What to do about a missing entry: measure it, or (an imported table cannot be
        extended from here) search a space and input size the table covers."""
        if "imported" in self.meta:
            return (f"the table is imported ({self.meta['method']}) and holds only the shapes it was published "
                    "for: search a space and an input size it covers")
        return f"measure the missing entries with: supernet-profile hardware={self.hardware}"

    def __getitem__(self, signature: str) -> float:
        try:
            return self.entries[signature]
        except KeyError:
            raise MissingEntryError(signature, self.path, self.remedy()) from None

    def missing(self, signatures) -> list[str]:
        return [s for s in dict.fromkeys(signatures) if s not in self.entries]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "units": UNITS, "meta": self.meta, "calibration": self.calibration,
                "entries": dict(sorted(self.entries.items()))}

    def save(self, path: str | os.PathLike | None = None) -> Path:
        return write_text_atomic(path or self.path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def measurement_meta(device: str, threads: int, batch_size: int, dtype: str, warmup: int, repeat: int) -> dict:
    """What a table must record about how it was measured."""
    proc = platform.processor() or platform.machine()
    try:
        proc = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if torch.device(device).type == "cuda":
        proc = torch.cuda.get_device_name(torch.device(device))
    return {"device": device, "torch": str(torch.__version__), "processor": proc, "threads": threads,
            "batch_size": batch_size, "dtype": dtype, "date": datetime.date.today().isoformat(),
            "method": f"least disturbed of {ROUNDS} medians of {max(repeat // ROUNDS, 1)} timed runs after "
                      f"{warmup} warm-up runs, {threads} threads, eval mode, inference_mode, synchronized on GPU"}


SESSION_META = ("date", "torch", "processor", "method")     # what may differ between sessions of one table


def add_session(meta: dict, session: dict) -> None:
    """A table profiled again (new entries): its top-level date, torch, processor and method
    become this session's, those of its latest entries, and ``meta.sessions`` lists every one."""
    earlier = meta.get("sessions") or [{k: meta.get(k) for k in SESSION_META}]
    meta["sessions"] = earlier + [{k: session[k] for k in SESSION_META}]
    meta.update({k: session[k] for k in SESSION_META})


PACKAGE_DIR = Path(__file__).resolve().parents[1]   # supernet/, which ships conf/ and latency_tables/


def table_path(path: str | os.PathLike) -> Path:
    """Where the table ``hardware.table`` names is read from: a relative path from the working
    directory, else among the tables the package ships (``latency_tables/<name>.yaml``), so a
    shipped hardware target works from any folder."""
    path = Path(path)
    shipped = PACKAGE_DIR / path
    return shipped if not path.is_absolute() and not path.exists() and shipped.is_file() else path


def load_table(path: str | os.PathLike, hardware: str, batch_size: int, dtype: str,
               allow_mismatch: bool = False) -> LatencyTable:
    """Read and validate; refuse a table measured with another batch size or dtype than asked
    (``allow_mismatch`` overrides, for a deliberate transfer).  The table is saved to ``path``
    as given: profiling or validating a shipped table writes a copy there (from the working
    directory), never into the installed package."""
    saved_to, path = str(path), table_path(path)
    command = f"supernet-profile hardware={hardware}"
    if not path.is_file():
        raise TableError(f"no latency table at {path}; measure one on the target device with: {command}")
    try:
        data = yaml.safe_load(read_text(path, "a latency table (YAML)", TableError))
    except yaml.YAMLError as e:
        raise TableError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else data
        raise TableError(f"{path}: schema must be {SCHEMA!r}, got {got!r}")
    if data.get("units") != UNITS:
        raise TableError(f"{path}: units must be {UNITS!r}, got {data.get('units')!r}")
    meta = data.get("meta")
    if not isinstance(meta, dict) or any(k not in meta for k in REQUIRED_META):
        raise TableError(f"{path}: meta must hold {', '.join(REQUIRED_META)}")
    entries = data.get("entries") or {}
    if not isinstance(entries, dict):
        raise TableError(f"{path}: entries must map op signatures to milliseconds, got a {type(entries).__name__}")
    bad = [k for k, v in entries.items()
           if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0]
    if bad:
        raise TableError(f"{path}: entries must map op signatures to finite milliseconds >= 0; bad: "
                         f"{', '.join(f'{k}: {entries[k]!r}' for k in bad[:3])}; measure them again with "
                         "supernet-profile")
    calibration = data.get("calibration") or {}
    fitted = {"scale", "per_op_ms", "constant_ms"}          # scale: optional (1: the sum of ops as measured)
    if not isinstance(calibration, dict) or any(
            not isinstance(c, dict) or not fitted - {"scale"} <= set(c) <= fitted for c in calibration.values()):
        raise TableError(f"{path}: calibration maps a network configuration to {{scale, per_op_ms, constant_ms}}; "
                         "re-fit it with supernet-profile")
    if any(not isinstance(v, (int, float)) or not math.isfinite(v) for c in calibration.values() for v in c.values()):
        raise TableError(f"{path}: its calibration holds a value that is not a finite number; re-fit it with "
                         "supernet-profile recalibrate=true")
    if not allow_mismatch:
        for key, want in (("batch_size", batch_size), ("dtype", dtype)):
            if meta[key] != want:
                raise TableError(
                    f"{path} was measured with {key}={meta[key]!r} but this run uses {want!r}; measure a "
                    f"table for it ({command} hardware.{key}={want}) or pass hardware.allow_mismatch=true")
    return LatencyTable(meta, {k: float(v) for k, v in entries.items()},
                        {key: {k: float(v) for k, v in c.items()} for key, c in calibration.items()},
                        saved_to, hardware)
