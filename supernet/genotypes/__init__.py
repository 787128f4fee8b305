"""The published architectures as genotype JSON files shipped with the package: the cells of
NASNet-A, AmoebaNet-A, PNASNet-5, ENAS, DARTS-V1 and DARTS-V2, and the chains of
ProxylessNAS-GPU, -CPU and -Mobile; and :func:`resolve_genotype`, which lets every entry point
take either a published name or a path to a genotype file.

Each file's ``meta`` cites where the cell was transcribed from and the figures its paper
publishes; ``comparable`` marks the figures measured on the same macro network we build.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ..genotype_json import GenotypeError, load_genotype, parse_genotype
from ..spaces.base import SPACES


def published_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def published_data(name: str) -> dict[str, Any]:
    """The raw JSON of a published cell, ``meta`` included."""
    if name not in published_names():
        raise GenotypeError(f"unknown published genotype {name!r}; known names: {', '.join(published_names())} "
                            "(or give the path to a genotype.json)")
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())


def published_genotype(name: str) -> Any:
    return parse_genotype(published_data(name))


def resolve_genotype(spec: Any) -> Any:
    """A genotype from a genotype dict, a published name, a family's own notation (a
    NAS-Bench-201 architecture string) or a path to a genotype JSON; anything else is taken to
    be a genotype already."""
    if isinstance(spec, dict):
        return parse_genotype(spec)
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    text = os.fspath(spec)
    if text in published_names():
        return published_genotype(text)
    for family in SPACES.values():
        genotype = family.genotype_from_text(text)
        if genotype is not None:
            return genotype
    if text.endswith(".json") or os.sep in text or Path(text).exists():
        return load_genotype(text)
    raise GenotypeError(f"genotype {text!r} is neither a published name, a .json file nor an architecture string "
                        f"(NAS-Bench-201: |op~0|+|op~0|op~1|+|op~0|op~1|op~2|); known names: "
                        f"{', '.join(published_names())}")
