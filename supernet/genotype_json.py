"""Genotypes as versioned JSON, the contract between search, derive and retrain: what every
family's genotype shares (its errors, loading and saving by ``schema``).  Each space family
defines its genotype class (``spaces/<family>/genotype.py``) and registers its schema."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .files import read_text, write_text_atomic


class GenotypeError(ValueError):
    """A genotype that does not follow the schema; the message names the bad field."""


SCHEMAS: dict[str, Callable[[Any], Any]] = {}   # schema -> parser, one per registered space family


def register_schema(schema: str, parser: Callable[[Any], Any]) -> None:
    SCHEMAS[schema] = parser


def parse_genotype(d: Any) -> Any:
    """A genotype of any kind from its JSON object, by its ``schema``."""
    if not isinstance(d, dict):
        raise GenotypeError(f"a genotype is a JSON object with a 'schema' key (one of "
                            f"{', '.join(map(repr, SCHEMAS))}), got a JSON {type(d).__name__}")
    schema = d.get("schema")
    if schema not in SCHEMAS:
        raise GenotypeError(f"schema: expected one of {', '.join(map(repr, SCHEMAS))}, got {schema!r}")
    return SCHEMAS[schema](d)


def read_genotype_json(path: str | os.PathLike) -> Any:
    """The JSON value of a genotype file; a file that is not JSON is named."""
    try:
        return json.loads(read_text(Path(path), "a genotype file (JSON)", GenotypeError))
    except json.JSONDecodeError as e:
        raise GenotypeError(f"{path}: not valid JSON ({e})") from None


def load_genotype(path: str | os.PathLike) -> Any:
    """A cell or chain genotype from its JSON file, validated."""
    data = read_genotype_json(path)
    try:
        return parse_genotype(data)
    except GenotypeError as e:
        raise GenotypeError(f"{path}: {e}") from None


def save_genotype(genotype: Any, path: str | os.PathLike, **meta: Any) -> Path:
    return write_text_atomic(path, json.dumps(genotype.to_dict(**meta), indent=2) + "\n")
