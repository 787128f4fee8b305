"""The chain family's timm entry: ``supernet_chain``, a chain genotype as timm's own EfficientNet
(from the chain's architecture definition, timm_arch.py)."""
from __future__ import annotations

from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import generate_default_cfgs, register_model
from timm.models.efficientnet import EfficientNet

from ...timm_registry import build_entry, entry_cfg, entry_genotype, entry_settings
from .space import ChainSpace
from .timm_arch import timm_kwargs

default_cfgs = generate_default_cfgs({
    "supernet_chain": entry_cfg({"num_classes": 1000, "input_size": (3, 224, 224), "pool_size": (7, 7),
                                 "crop_pct": 0.875, "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN,
                                 "std": IMAGENET_DEFAULT_STD, "first_conv": "conv_stem", "classifier": "classifier"}),
})


@register_model
def supernet_chain(pretrained: bool = False, genotype: Any = "proxyless_mobile", num_classes: int | None = None,
                   in_chans: int | None = None, **kwargs: Any) -> EfficientNet:
    """A chain genotype as timm's EfficientNet (drop_rate, drop_path_rate and timm's other
    EfficientNet options pass through); a retrained chain's model.pt loads with checkpoint_path.
    ``features_only=True`` as timm's EfficientNets: one feature map per stage."""
    s = entry_settings("supernet_chain", genotype, dict(in_chans=in_chans, num_classes=num_classes),
                       {"in_chans": 3, "num_classes": 1000})
    kwargs.update(timm_kwargs(entry_genotype("supernet_chain", genotype, ChainSpace)))
    return build_entry("supernet_chain", EfficientNet, pretrained, s, kwargs, {"flatten_sequential": True})
