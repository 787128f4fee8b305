"""The NAS-Bench-201 family's timm entry: ``supernet_nasbench201``, the benchmark's network of an
architecture string (or a genotype.json of this family)."""
from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model

from ...data import CIFAR_STATS
from ...timm_registry import build_entry, drop_path_setting, entry_cfg, entry_genotype, entry_settings
from .network import NB201Network, stage_channels
from .space import NB201Space

# the best architecture at 12 epochs (89.16 on CIFAR-10)
BEST_12EPOCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
default_cfgs = generate_default_cfgs({
    "supernet_nasbench201": entry_cfg({"num_classes": 10, "input_size": (3, 32, 32), "pool_size": (8, 8),
                                       "crop_pct": 1.0, "interpolation": "bilinear",
                                       "mean": tuple(CIFAR_STATS["cifar10"][0]),
                                       "std": tuple(CIFAR_STATS["cifar10"][1]), "first_conv": "stem.0",
                                       "classifier": "head.classifier"}),
})


def _network(genotype, in_chans: int, num_classes: int, init_channels: int, cells_per_stage: int, **kwargs: Any):
    return NB201Network(genotype, in_chans, num_classes, init_channels, cells_per_stage, **kwargs)


@register_model
def supernet_nasbench201(pretrained: bool = False, genotype: Any = BEST_12EPOCH, num_classes: int | None = None,
                         in_chans: int | None = None, init_channels: int | None = None,
                         cells_per_stage: int | None = None, **kwargs: Any) -> NB201Network:
    """The benchmark's network (default: 16 channels, 5 cells per stage, 10 classes);
    ``features_only=True``: the last layer of each stage, by timm's getter of intermediates."""
    given = dict(in_chans=in_chans, num_classes=num_classes, init_channels=init_channels,
                 cells_per_stage=cells_per_stage)
    s = entry_settings("supernet_nasbench201", genotype, given,
                       {"in_chans": 3, "num_classes": 10, "init_channels": 16, "cells_per_stage": 5})
    net = entry_genotype("supernet_nasbench201", genotype, NB201Space)
    drop_path_setting(kwargs)
    plan = stage_channels(s["init_channels"], s["cells_per_stage"])
    ends = tuple(i for i in range(len(plan)) if i + 1 == len(plan) or plan[i + 1][1])
    return build_entry("supernet_nasbench201", lambda **kw: _network(net, **kw), pretrained, s, kwargs,
                       {"feature_cls": "getter", "out_indices": ends})
