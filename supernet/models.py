"""What every family's timm registry entries share, so a retrained network leaves the framework
as an ordinary timm model: ``timm.create_model('supernet_cifar', genotype='darts_v2',
num_classes=10)`` for cells (spaces/nasnet_cell/timm_models.py), ``timm.create_model(
'supernet_chain', genotype='proxyless_gpu')`` for chains (spaces/proxyless_chain/timm_models.py).
``genotype`` takes a published name, a path to a genotype JSON, a genotype dict or a genotype.  A
retrain's genotype.json records the network it trained (``meta.network``: input channels,
classes, cells, channels), so ``genotype=<run>/genotype.json, checkpoint_path=<run>/model.pt``
rebuilds that network; what the caller passes wins.  Importing :mod:`supernet` registers them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .genotype import GenotypeError, read_genotype_json
from .genotypes import resolve_genotype
from .spaces.base import family_of


def entry_genotype(name: str, spec: Any, family: type) -> Any:
    """The genotype ``spec`` names, if it belongs to ``family`` (the entry ``name``'s space)."""
    genotype = resolve_genotype(spec)
    other = family_of(genotype)
    if other is not family:
        raise GenotypeError(f"{name} builds {family.name} genotypes; {spec!r} is a {other.name} genotype: use "
                            f"{' or '.join(other.timm_entries)}")
    return genotype


def entry_settings(name: str, spec: Any, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Each setting as the caller gives it, else as a retrain recorded it beside the genotype,
    else the default."""
    recorded = {}
    if isinstance(spec, (str, os.PathLike)) and str(spec).endswith(".json") and Path(spec).is_file():
        data = read_genotype_json(spec)
        meta = data.get("meta") if isinstance(data, dict) else None
        recorded = meta.get("network", {}) if isinstance(meta, dict) else {}
    if recorded and recorded.get("model", name) != name:
        raise GenotypeError(f"{spec} was retrained as {recorded['model']}; build it with that model name")
    return {k: given[k] if given.get(k) is not None else recorded.get(k, d) for k, d in defaults.items()}


def no_pretrained(name: str, pretrained: bool, kwargs: dict[str, Any]) -> None:
    if pretrained:
        raise ValueError(f"{name}: no pretrained weights are published; retrain with supernet-retrain "
                         "and load its checkpoint (timm.create_model(..., checkpoint_path=...))")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm passes these to every model
        kwargs.pop(key, None)
