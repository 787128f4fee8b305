"""The cell family's timm entries: ``supernet_cifar`` (DARTS's NetworkCIFAR) and
``supernet_mobile`` (DARTS's NetworkImageNet), built from a cell genotype."""
from __future__ import annotations

from typing import Any

from timm.models import register_model

from ...models import entry_genotype, entry_settings, no_pretrained
from .network import DiscreteNetwork, DiscreteNetworkImageNet
from .space import CellSpace


@register_model
def supernet_cifar(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                   in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                   stem_multiplier: int | None = None, **kwargs: Any) -> DiscreteNetwork:
    """The CIFAR form (DARTS's NetworkCIFAR; default: the 36-channel, 20-cell evaluation network
    for 10 classes)."""
    no_pretrained("supernet_cifar", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels,
                 stem_multiplier=stem_multiplier)
    s = entry_settings("supernet_cifar", genotype, given, {"in_chans": 3, "num_classes": 10, "layers": 20,
                                                      "init_channels": 36, "stem_multiplier": 3})
    return DiscreteNetwork(entry_genotype("supernet_cifar", genotype, CellSpace), s["in_chans"], s["num_classes"],
                           s["layers"], s["init_channels"], s["stem_multiplier"], **kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                    in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                    **kwargs: Any) -> DiscreteNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    no_pretrained("supernet_mobile", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels)
    s = entry_settings("supernet_mobile", genotype, given, {"in_chans": 3, "num_classes": 1000, "layers": 14,
                                                       "init_channels": 48})
    return DiscreteNetworkImageNet(entry_genotype("supernet_mobile", genotype, CellSpace), s["in_chans"], s["num_classes"],
                                   s["layers"], s["init_channels"], **kwargs)
