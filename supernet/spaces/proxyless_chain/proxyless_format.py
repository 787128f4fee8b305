"""ProxylessNAS's published formats: its latency lookup tables (``mobile_trim.yaml``: keys such as
``expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0``, values
``{count, mean, var}`` in ms) and its network configs (``proxyless_gpu.config``: JSON with
first_conv, blocks, feature_mix_layer, classifier), converted to and from ours."""
from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ...genotype_json import GenotypeError
from ...latency.parts import down
from ...latency.table import LatencyTable, TableError
from .genotype import SCHEMA, ChainGenotype, chain_genotype_from_dict, keeps_shape
from .latency import block_signature

_SHAPE = r"(\d+)x(\d+)x(\d+)"
_THEIRS = {
    "first_conv": re.compile(rf"^Conv-input:{_SHAPE}-output:{_SHAPE}$"),
    "block": re.compile(rf"^expanded_conv-input:{_SHAPE}-output:{_SHAPE}-expand:(\d+)-kernel:(\d+)-stride:(\d+)"
                        r"-idskip:([01])$"),
    "feature_mix": re.compile(rf"^Conv_1-input:{_SHAPE}-output:{_SHAPE}$"),
    "head": re.compile(rf"^Logits-input:{_SHAPE}-output:(\d+)$"),
}
_OURS = {
    "first_conv": re.compile(r"^first_conv\|cin(\d+)\|cout(\d+)\|(\d+)x\d+\|s(\d)$"),
    "block": re.compile(r"^mbconv_(\d+)x\d+_e(\d+)\|cin(\d+)\|cout(\d+)\|(\d+)x\d+\|s(\d)$"),
    "feature_mix": re.compile(r"^feature_mix\|cin(\d+)\|cout(\d+)\|(\d+)x\d+$"),
    "head": re.compile(r"^head\|cin(\d+)\|cls(\d+)\|(\d+)x\d+$"),
}


def signature_from_key(key: str) -> str:
    """Our op signature of a ProxylessNAS table key."""
    if m := _THEIRS["first_conv"].match(key):
        h, _, c, h2, _, c2 = map(int, m.groups())
        return f"first_conv|cin{c}|cout{c2}|{h}x{h}|s{h // h2}"
    if m := _THEIRS["block"].match(key):
        h, _, c, h2, _, c2, e, k, s, idskip = map(int, m.groups())
        if down(h, s) != h2 or bool(idskip) != keeps_shape(c, c2, s):
            raise TableError(f"{key}: inconsistent block (stride {s} from {h} to {h2}, identity skip {idskip})")
        return block_signature(f"mbconv_{k}x{k}_e{e}", c, c2, h, s)
    if m := _THEIRS["feature_mix"].match(key):
        h, _, c, _, _, c2 = map(int, m.groups())
        return f"feature_mix|cin{c}|cout{c2}|{h}x{h}"
    if m := _THEIRS["head"].match(key):
        h, _, c, n = map(int, m.groups())
        return f"head|cin{c}|cls{n}|{h}x{h}"
    raise TableError(f"{key!r} is not a ProxylessNAS table key (Conv-, expanded_conv-, Conv_1-, Logits-)")


def key_from_signature(sig: str) -> str | None:
    """The ProxylessNAS key of one of our chain signatures (inverse of :func:`signature_from_key`);
    None for a signature their format has no key for (the cell space's)."""
    if m := _OURS["first_conv"].match(sig):
        c, c2, h, s = map(int, m.groups())
        return f"Conv-input:{h}x{h}x{c}-output:{h // s}x{h // s}x{c2}"
    if m := _OURS["block"].match(sig):
        k, e, c, c2, h, s = map(int, m.groups())
        h2 = down(h, s)
        return (f"expanded_conv-input:{h}x{h}x{c}-output:{h2}x{h2}x{c2}-expand:{e}-kernel:{k}-stride:{s}"
                f"-idskip:{int(keeps_shape(c, c2, s))}")
    if m := _OURS["feature_mix"].match(sig):
        c, c2, h = map(int, m.groups())
        return f"Conv_1-input:{h}x{h}x{c}-output:{h}x{h}x{c2}"
    if m := _OURS["head"].match(sig):
        c, n, h = map(int, m.groups())
        return f"Logits-input:{h}x{h}x{c}-output:{n}"
    return None


def import_table(data: Any, hardware: str, path: str, source: str, device: str) -> LatencyTable:
    """Our table from a ProxylessNAS lookup table (mapping key -> {count, mean, var}, ms)."""
    if not isinstance(data, dict) or not data:
        raise TableError(f"{source}: expected a mapping of ProxylessNAS keys to {{count, mean, var}}")
    entries, counts = {}, []
    for key, value in data.items():
        if not isinstance(value, dict) or not isinstance(value.get("mean"), (int, float)) or value["mean"] < 0:
            raise TableError(f"{source}: {key}: expected {{count, mean, var}} with a mean in ms >= 0, got {value!r}")
        entries[signature_from_key(key)] = float(value["mean"])
        counts += [value["count"]] if isinstance(value.get("count"), int) else []
    runs = f"the mean of {min(counts)}..{max(counts)} timed runs per entry" if counts else "the published mean"
    meta = {"device": device, "torch": None, "processor": None, "threads": None, "batch_size": 1,
            "dtype": "float32", "date": None,
            "method": f"imported from {source}: {runs} on the device (not measured by this framework; "
                      "no calibration)",
            "imported": datetime.date.today().isoformat()}
    return LatencyTable(meta, entries, {}, path, hardware)


def import_table_file(source: str | os.PathLike, out: str | os.PathLike, hardware: str, device: str) -> LatencyTable:
    """Read a ProxylessNAS table file (safe YAML) and write it as our table at ``out``."""
    source = Path(source)
    try:
        data = yaml.safe_load(source.read_text())
    except FileNotFoundError:
        raise TableError(f"{source}: no such ProxylessNAS table file") from None
    except yaml.YAMLError as e:
        raise TableError(f"{source}: not valid YAML ({e})") from None
    table = import_table(data, hardware, str(out), source.name, device)
    table.save()
    return table


def genotype_from_net_config(d: Any) -> ChainGenotype:
    """A chain genotype from a ProxylessNAS network config (``proxyless_*.config``)."""
    try:
        first = d["first_conv"]
        if (first["kernel_size"], first["stride"]) != (3, 2):
            raise GenotypeError(f"first_conv: expected a 3x3 stride-2 conv, got {first}")
        blocks, c_in = [], first["out_channels"]
        for i, b in enumerate(d["blocks"]):
            conv = b["mobile_inverted_conv"]
            if conv["name"] == "ZeroLayer":
                blocks.append({"op": "zero", "out": c_in, "stride": conv["stride"]})
            else:
                k, e = conv["kernel_size"], conv["expand_ratio"]
                blocks.append({"op": f"mbconv_{k}x{k}_e{e}", "out": conv["out_channels"], "stride": conv["stride"]})
                if (b["shortcut"] is not None) != keeps_shape(c_in, conv["out_channels"], conv["stride"]):
                    raise GenotypeError(f"blocks[{i}]: a shortcut where the shape changes, or none where it does not")
                c_in = conv["out_channels"]
        feature_mix = d["feature_mix_layer"]["out_channels"]
    except (KeyError, TypeError) as e:
        raise GenotypeError(f"not a ProxylessNAS network config: missing or malformed {e}") from None
    return chain_genotype_from_dict({"schema": SCHEMA, "first_conv": first["out_channels"], "blocks": blocks,
                                     "feature_mix": feature_mix})
