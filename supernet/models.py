"""timm registry entries, so a retrained network leaves the framework as an ordinary timm model:
``timm.create_model('supernet_cifar', genotype='darts_v2', num_classes=10)``.  ``genotype`` takes
a published name, a path to a genotype JSON, a genotype dict or a Genotype.  Importing
:mod:`supernet` registers them."""
from __future__ import annotations

from typing import Any

from timm.models import register_model

from .genotypes import resolve_genotype
from .network import DiscreteNetwork, DiscreteNetworkImageNet


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
    return DiscreteNetwork(resolve_genotype(genotype), in_chans, num_classes, layers, init_channels, **kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int = 1000,
                    in_chans: int = 3, layers: int = 14, init_channels: int = 48,
                    **kwargs: Any) -> DiscreteNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    _no_pretrained("supernet_mobile", pretrained, kwargs)
    return DiscreteNetworkImageNet(resolve_genotype(genotype), in_chans, num_classes, layers, init_channels,
                                   **kwargs)
