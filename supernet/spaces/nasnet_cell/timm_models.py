"""The cell family's timm entries: ``supernet_cifar`` (DARTS's NetworkCIFAR) and
``supernet_mobile`` (DARTS's NetworkImageNet), built from a cell genotype."""
from __future__ import annotations

from functools import partial
from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import generate_default_cfgs, register_model

from ...data import CIFAR_STATS
from ...timm_registry import build_entry, drop_path_setting, entry_cfg, entry_genotype, entry_settings
from .macro import reduction_layers
from .network import CellNetwork, CellNetworkImageNet
from .space import CellSpace

default_cfgs = generate_default_cfgs({
    "supernet_cifar": entry_cfg({"num_classes": 10, "input_size": (3, 32, 32), "pool_size": (8, 8), "crop_pct": 1.0,
                                 "interpolation": "bilinear", "mean": tuple(CIFAR_STATS["cifar10"][0]),
                                 "std": tuple(CIFAR_STATS["cifar10"][1]), "first_conv": "stem0.0",
                                 "classifier": "classifier"}),
    "supernet_mobile": entry_cfg({"num_classes": 1000, "input_size": (3, 224, 224), "pool_size": (7, 7),
                                  "crop_pct": 0.875, "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN,
                                  "std": IMAGENET_DEFAULT_STD, "first_conv": "stem0.0", "classifier": "classifier"}),
})


def _cell_network(cls, genotype, in_chans: int, num_classes: int, layers: int, init_channels: int, **kwargs: Any):
    return cls(genotype, in_chans, num_classes, layers, init_channels, **kwargs)


def _build(name: str, cls, genotype, pretrained: bool, s: dict[str, Any], kwargs: dict[str, Any]):
    """``features_only=True``: the last cell of each resolution, by timm's getter of intermediates."""
    drop_path_setting(kwargs)
    ends = tuple(sorted(i - 1 for i in reduction_layers(s["layers"]))) + (s["layers"] - 1,)
    return build_entry(name, partial(_cell_network, cls, entry_genotype(name, genotype, CellSpace)), pretrained,
                       s, kwargs, {"feature_cls": "getter", "out_indices": ends})


@register_model
def supernet_cifar(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                   in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                   stem_multiplier: int | None = None, **kwargs: Any) -> CellNetwork:
    """The CIFAR form (DARTS's NetworkCIFAR; default: the 36-channel, 20-cell evaluation network
    for 10 classes)."""
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels,
                 stem_multiplier=stem_multiplier)
    s = entry_settings("supernet_cifar", genotype, given, {"in_chans": 3, "num_classes": 10, "layers": 20,
                                                           "init_channels": 36, "stem_multiplier": 3})
    return _build("supernet_cifar", CellNetwork, genotype, pretrained, s, kwargs)


@register_model
def supernet_mobile(pretrained: bool = False, genotype: Any = "darts_v2", num_classes: int | None = None,
                    in_chans: int | None = None, layers: int | None = None, init_channels: int | None = None,
                    **kwargs: Any) -> CellNetworkImageNet:
    """The ImageNet mobile form (DARTS's NetworkImageNet; default: 48 channels, 14 cells)."""
    given = dict(in_chans=in_chans, num_classes=num_classes, layers=layers, init_channels=init_channels)
    s = entry_settings("supernet_mobile", genotype, given, {"in_chans": 3, "num_classes": 1000, "layers": 14,
                                                            "init_channels": 48})
    return _build("supernet_mobile", CellNetworkImageNet, genotype, pretrained, s, kwargs)
