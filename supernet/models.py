"""timm registry entries, so a retrained network leaves the framework as an ordinary timm model:
``timm.create_model('supernet_cifar', genotype='darts_v2', num_classes=10)`` for cells,
``timm.create_model('supernet_chain', genotype='proxyless_gpu')`` for chains (timm's own
EfficientNet, from the chain's architecture definition).  ``genotype`` takes a published name, a
path to a genotype JSON, a genotype dict or a genotype.  A retrain's genotype.json records the
network it trained (``meta.network``: input channels, classes, cells, channels), so
``genotype=<run>/genotype.json, checkpoint_path=<run>/model.pt`` rebuilds that network; what the
caller passes wins.  Importing :mod:`supernet` registers them."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from timm.models import register_model
from timm.models.efficientnet import EfficientNet

from .spaces.proxyless_chain.genotype import ChainGenotype
from .spaces.proxyless_chain.timm_arch import timm_kwargs
from .genotype import Genotype, GenotypeError
from .genotypes import resolve_genotype
from .spaces.nasnet_cell.network import DiscreteNetwork, DiscreteNetworkImageNet


def _genotype(name: str, spec: Any, kind: type) -> Any:
    genotype = resolve_genotype(spec)
    if not isinstance(genotype, kind):
        other = "supernet_chain" if kind is Genotype else "supernet_cifar or supernet_mobile"
        raise GenotypeError(f"{name} builds {'cell' if kind is Genotype else 'chain'} genotypes; {spec!r} is not "
                            f"one: use {other}")
    return genotype


def _settings(name: str, spec: Any, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Each setting as the caller gives it, else as a retrain recorded it beside the genotype,
    else the default."""
    recorded = {}
    if isinstance(spec, (str, os.PathLike)) and str(spec).endswith(".json") and Path(spec).is_file():
        recorded = json.loads(Path(spec).read_text()).get("meta", {}).get("network", {})
    if recorded and recorded.get("model", name) != name:
        raise GenotypeError(f"{spec} was retrained as {recorded['model']}; build it with that model name")
    return {k: given[k] if given.get(k) is not None else recorded.get(k, d) for k, d in defaults.items()}


def _no_pretrained(name: str, pretrained: bool, kwargs: dict[str, Any]) -> None:
    if pretrained:
        raise ValueError(f"{name}: no pretrained weights are published; retrain with experiments/retrain.py "
                         "and load its checkpoint (timm.create_model(..., checkpoint_path=...))")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm passes these to every model
        kwargs.pop(key, None)


@register_model
def supernet_cifar(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                   in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                   stem_multiplier: int | None = None, **kwargs: Any) -> DiscreteNetwork:
    """The CIFAR form (DARTS's NetworkCIFAR; default: the 36-channel, 20-cell evaluation network
    for 10 classes)."""
    _no_pretrained("supernet_cifar", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels,
                 stem_multiplier=stem_multiplier)
    s = _settings("supernet_cifar", genotype, given, {"in_chans": 3, "num_classes": 10, "layers": 20,
                                                      "init_channels": 36, "stem_multiplier": 3})
    return DiscreteNetwork(_genotype("supernet_cifar", genotype, Genotype), s["in_chans"], s["num_classes"],
                           s["layers"], s["init_channels"], s["stem_multiplier"], **kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                    in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                    **kwargs: Any) -> DiscreteNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    _no_pretrained("supernet_mobile", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels)
    s = _settings("supernet_mobile", genotype, given, {"in_chans": 3, "num_classes": 1000, "layers": 14,
                                                       "init_channels": 48})
    return DiscreteNetworkImageNet(_genotype("supernet_mobile", genotype, Genotype), s["in_chans"], s["num_classes"],
                                   s["layers"], s["init_channels"], **kwargs)


@register_model
def supernet_chain(pretrained: bool = False, genotype: Any = "proxyless_mobile", num_classes: int | None = None,
                   in_chans: int | None = None, **kwargs: Any) -> EfficientNet:
    """A chain genotype as timm's EfficientNet (drop_rate, drop_path_rate and timm's other
    EfficientNet options pass through); a retrained chain's model.pt loads with checkpoint_path."""
    _no_pretrained("supernet_chain", pretrained, kwargs)
    s = _settings("supernet_chain", genotype, dict(in_chans=in_chans, num_classes=num_classes),
                  {"in_chans": 3, "num_classes": 1000})
    return EfficientNet(**timm_kwargs(_genotype("supernet_chain", genotype, ChainGenotype)), **s, **kwargs)
