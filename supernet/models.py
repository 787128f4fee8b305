"""timm registry entries, so a retrained network leaves the framework as an ordinary timm model:
``timm.create_model('supernet_cifar', genotype='darts_v2', num_classes=10)`` for cells,
``timm.create_model('supernet_chain', genotype='proxyless_gpu')`` for chains (timm's own
EfficientNet, from the chain's architecture definition).  ``genotype`` takes a published name, a
path to a genotype JSON, a genotype dict or a genotype.  Importing :mod:`supernet` registers them."""
from __future__ import annotations

from typing import Any

from timm.models import register_model
from timm.models.efficientnet import EfficientNet

from .chain.genotype import ChainGenotype
from .chain.timm_arch import timm_kwargs
from .genotype import Genotype, GenotypeError
from .genotypes import resolve_genotype
from .network import DiscreteNetwork, DiscreteNetworkImageNet


def _genotype(name: str, spec: Any, kind: type) -> Any:
    genotype = resolve_genotype(spec)
    if not isinstance(genotype, kind):
        other = "supernet_chain" if kind is Genotype else "supernet_cifar or supernet_mobile"
        raise GenotypeError(f"{name} builds {'cell' if kind is Genotype else 'chain'} genotypes; {spec!r} is not "
                            f"one: use {other}")
    return genotype


def _no_pretrained(name: str, pretrained: bool, kwargs: dict[str, Any]) -> None:
    if pretrained:
        raise ValueError(f"{name}: no pretrained weights are published; retrain with experiments/retrain.py "
                         "and load its checkpoint (timm.create_model(..., checkpoint_path=...))")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm passes these to every model
        kwargs.pop(key, None)


@register_model
def supernet_cifar(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int = 10,
                   in_chans: int = 3, layers: int = 20, init_channels: int = 36, **kwargs: Any) -> DiscreteNetwork:
    """The CIFAR form (DARTS's NetworkCIFAR; default: the 36-channel, 20-cell evaluation network)."""
    _no_pretrained("supernet_cifar", pretrained, kwargs)
    return DiscreteNetwork(_genotype("supernet_cifar", genotype, Genotype), in_chans, num_classes, layers,
                           init_channels, **kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int = 1000,
                    in_chans: int = 3, layers: int = 14, init_channels: int = 48,
                    **kwargs: Any) -> DiscreteNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    _no_pretrained("supernet_mobile", pretrained, kwargs)
    return DiscreteNetworkImageNet(_genotype("supernet_mobile", genotype, Genotype), in_chans, num_classes, layers,
                                   init_channels, **kwargs)


@register_model
def supernet_chain(pretrained: bool = False, genotype: Any = "proxyless_mobile", num_classes: int = 1000,
                   in_chans: int = 3, **kwargs: Any) -> EfficientNet:
    """A chain genotype as timm's EfficientNet (drop_rate, drop_path_rate and timm's other
    EfficientNet options pass through); a retrained chain's model.pt loads with checkpoint_path."""
    _no_pretrained("supernet_chain", pretrained, kwargs)
    return EfficientNet(**timm_kwargs(_genotype("supernet_chain", genotype, ChainGenotype)),
                        num_classes=num_classes, in_chans=in_chans, **kwargs)
