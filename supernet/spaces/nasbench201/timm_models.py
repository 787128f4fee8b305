"""The NAS-Bench-201 family's timm entry: ``supernet_nasbench201``, the benchmark's network of an
architecture string (or a genotype.json of this family)."""
from __future__ import annotations

from typing import Any

from timm.models import build_model_with_cfg, register_model

from ...models import entry_genotype, entry_settings, no_pretrained
from .network import NB201Network
from .space import NB201Space

# the best architecture at 12 epochs (89.16 on CIFAR-10)
BEST_12EPOCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def _network(genotype, in_chans: int, num_classes: int, init_channels: int, cells_per_stage: int, **kwargs: Any):
    return NB201Network(genotype, in_chans, num_classes, init_channels, cells_per_stage, **kwargs)


@register_model
def supernet_nasbench201(pretrained: bool = False, genotype: Any = BEST_12EPOCH, num_classes: int | None = None,
                         in_chans: int | None = None, init_channels: int | None = None,
                         cells_per_stage: int | None = None, **kwargs: Any) -> NB201Network:
    """The benchmark's network (default: 16 channels, 5 cells per stage, 10 classes)."""
    no_pretrained("supernet_nasbench201", pretrained, kwargs)
    given = dict(in_chans=in_chans, num_classes=num_classes, init_channels=init_channels,
                 cells_per_stage=cells_per_stage)
    s = entry_settings("supernet_nasbench201", genotype, given,
                       {"in_chans": 3, "num_classes": 10, "init_channels": 16, "cells_per_stage": 5})
    net = entry_genotype("supernet_nasbench201", genotype, NB201Space)
    cfg = {"num_classes": s["num_classes"], "input_size": (s["in_chans"], 32, 32), "first_conv": "stem.0",
           "classifier": "head.classifier"}
    return build_model_with_cfg(lambda **kw: _network(net, **kw), "supernet_nasbench201", pretrained=False,
                                pretrained_cfg=cfg, kwargs_filter=("global_pool",), **s, **kwargs)
