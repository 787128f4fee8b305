"""The chain family's timm entry: ``supernet_chain``, a chain genotype as timm's own EfficientNet
(from the chain's architecture definition, timm_arch.py)."""
from __future__ import annotations

from typing import Any

from timm.models import build_model_with_cfg, register_model
from timm.models.efficientnet import EfficientNet

from ...models import entry_genotype, entry_settings, no_pretrained
from .space import ChainSpace
from .timm_arch import timm_kwargs


@register_model
def supernet_chain(pretrained: bool = False, genotype: Any = "proxyless_mobile", num_classes: int | None = None,
                   in_chans: int | None = None, **kwargs: Any) -> EfficientNet:
    """A chain genotype as timm's EfficientNet (drop_rate, drop_path_rate and timm's other
    EfficientNet options pass through); a retrained chain's model.pt loads with checkpoint_path."""
    no_pretrained("supernet_chain", pretrained, kwargs)
    s = entry_settings("supernet_chain", genotype, dict(in_chans=in_chans, num_classes=num_classes),
                       {"in_chans": 3, "num_classes": 1000})
    cfg = {"num_classes": s["num_classes"], "input_size": (s["in_chans"], 224, 224), "first_conv": "conv_stem",
           "classifier": "classifier"}
    return build_model_with_cfg(EfficientNet, "supernet_chain", pretrained=False, pretrained_cfg=cfg,
                                **timm_kwargs(entry_genotype("supernet_chain", genotype, ChainSpace)), **s, **kwargs)
