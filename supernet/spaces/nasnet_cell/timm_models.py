"""The cell family's timm entries: ``supernet_cifar`` (DARTS's NetworkCIFAR) and
``supernet_mobile`` (DARTS's NetworkImageNet), built from a cell genotype."""
from __future__ import annotations

from functools import partial
from typing import Any

from timm.models import build_model_with_cfg, register_model

from ...models import entry_genotype, entry_settings, no_pretrained
from .network import CellNetwork, CellNetworkImageNet
from .space import CellSpace


def _cell_network(cls, genotype, in_chans: int, num_classes: int, layers: int, init_channels: int, **kwargs: Any):
    return cls(genotype, in_chans, num_classes, layers, init_channels, **kwargs)


def _build(name: str, cls, genotype, s: dict[str, Any], size: int, **kwargs: Any):
    """Through timm's builder, so the network carries its pretrained_cfg (input size, first conv,
    classifier) as every timm model does."""
    cfg = {"num_classes": s["num_classes"], "input_size": (s["in_chans"], size, size), "first_conv": "stem0.0",
           "classifier": "classifier"}
    return build_model_with_cfg(partial(_cell_network, cls, entry_genotype(name, genotype, CellSpace)), name,
                                pretrained=False, pretrained_cfg=cfg, kwargs_filter=("global_pool",),
                                **s, **kwargs)


@register_model
def supernet_cifar(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                   in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                   stem_multiplier: int | None = None, **kwargs: Any) -> CellNetwork:
    """The CIFAR form (DARTS's NetworkCIFAR; default: the 36-channel, 20-cell evaluation network
    for 10 classes)."""
    no_pretrained("supernet_cifar", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels,
                 stem_multiplier=stem_multiplier)
    s = entry_settings("supernet_cifar", genotype, given, {"in_chans": 3, "num_classes": 10, "layers": 20,
                                                           "init_channels": 36, "stem_multiplier": 3})
    return _build("supernet_cifar", CellNetwork, genotype, s, 32, **kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                    in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                    **kwargs: Any) -> CellNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    no_pretrained("supernet_mobile", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels)
    s = entry_settings("supernet_mobile", genotype, given, {"in_chans": 3, "num_classes": 1000, "layers": 14,
                                                            "init_channels": 48})
    return _build("supernet_mobile", CellNetworkImageNet, genotype, s, 224, **kwargs)
