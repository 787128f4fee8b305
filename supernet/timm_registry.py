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
from typing import Any, Callable

from timm.models import build_model_with_cfg, get_pretrained_cfg
from torch import nn

from .genotype_json import GenotypeError, read_genotype_json
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


def entry_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """An entry's registered pretrained config: no weights, so no url; the rest as timm's models
    carry it (input size, pool size, crop, interpolation, mean and std, first conv, classifier)."""
    return {"url": "", "license": "apache-2.0", **cfg}


def build_entry(name: str, build: Callable[..., nn.Module], pretrained: bool, settings: dict[str, Any],
                kwargs: dict[str, Any], feature_cfg: dict[str, Any]) -> nn.Module:
    """Through timm's builder with the entry's registered pretrained config (the caller's
    ``pretrained_cfg`` and ``pretrained_cfg_overlay`` applied, the input channels and classes as
    built), so the network carries what timm's models carry; ``features_only=True`` wraps it as
    ``feature_cfg`` says."""
    if pretrained:
        raise ValueError(f"{name}: no pretrained weights are published; retrain with supernet-retrain "
                         "and load its checkpoint (timm.create_model(..., checkpoint_path=...))")
    kwargs.pop("cache_dir", None)
    size = get_pretrained_cfg(name).input_size[1:]
    overlay = {"input_size": (settings["in_chans"], *size), "num_classes": settings["num_classes"],
               **(kwargs.pop("pretrained_cfg_overlay", None) or {})}
    return build_model_with_cfg(build, name, pretrained=False, pretrained_cfg=kwargs.pop("pretrained_cfg", None),
                                pretrained_cfg_overlay=overlay, feature_cfg=feature_cfg, **settings, **kwargs)


def drop_path_setting(kwargs: dict[str, Any]) -> None:
    """timm's ``drop_path_rate`` is the cell networks' ``drop_path_prob``."""
    if kwargs.get("drop_path_rate") is not None:
        if kwargs.get("drop_path_prob") is not None:
            raise ValueError("drop_path_rate and drop_path_prob name one setting: give one of them")
        kwargs["drop_path_prob"] = kwargs.pop("drop_path_rate")
    kwargs.pop("drop_path_rate", None)
