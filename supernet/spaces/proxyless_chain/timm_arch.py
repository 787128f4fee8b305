"""A chain genotype as a timm EfficientNet-builder architecture definition (``arch_def``: one list
of block strings per stage, ``ds_r1_k3_s1_c16``, ``ir_r2_k5_s1_e3_c40``), so that timm builds the
same network: same layers, same parameter names (our ChainNetwork's state dict loads as is).
Expansion 1 is timm's depthwise-separable block (``ds``), any other an inverted residual
(``ir``); both add the identity skip where stride is 1 and the width is kept, as ProxylessNAS."""
from __future__ import annotations

from functools import partial
from typing import Any

from timm.models._efficientnet_builder import decode_arch_def
from torch import nn

from ...ops import mbconv_params
from .genotype import ChainGenotype


def _block_string(op: str, out: int) -> tuple[str, str]:
    """(kind and kernel, expansion and width) of a block, its stride and repeat left out."""
    k, e = mbconv_params(op)
    return (f"ds_r{{r}}_k{k}_s{{s}}", f"c{out}") if e == 1 else (f"ir_r{{r}}_k{k}_s{{s}}", f"e{e}_c{out}")


def arch_def(genotype: ChainGenotype) -> list[list[str]]:
    """timm's block strings per stage; runs of identical stride-1 blocks become one repeated string."""
    stages = []
    for stage in genotype.stages():
        runs: list[list[Any]] = []      # [head, tail, stride, repeats]
        for _, b in stage:
            head, tail = _block_string(b.op, b.out)
            if runs and runs[-1][:2] == [head, tail] and b.stride == 1:
                runs[-1][3] += 1
            else:
                runs.append([head, tail, b.stride, 1])
        stages.append([f"{head.format(r=r, s=s)}_{tail}" for head, tail, s, r in runs])
    return stages


def _exact(channels: int) -> int:
    """No channel rounding: the genotype's widths are the network's."""
    return channels


def timm_kwargs(genotype: ChainGenotype) -> dict[str, Any]:
    """Keyword arguments of timm's ``EfficientNet`` that build ``genotype``'s network (ReLU6 and
    BatchNorm eps 1e-3, as ProxylessNAS)."""
    return {"block_args": decode_arch_def(arch_def(genotype)), "stem_size": genotype.first_conv, "fix_stem": True,
            "num_features": genotype.feature_mix, "act_layer": nn.ReLU6,
            "norm_layer": partial(nn.BatchNorm2d, eps=1e-3), "round_chs_fn": _exact}
