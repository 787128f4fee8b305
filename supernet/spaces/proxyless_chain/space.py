"""ProxylessNAS's chain space: a MobileNetV2-style backbone where every searchable layer picks
one block, an MBConv of some kernel and expansion, or `zero` (skip the layer) where the layer
keeps its shape.  Each layer is one decision and one edge (one source, one slot), so every
strategy, the latency model and derive work on it as on the cell space."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from torch import nn

from ...latency.parts import LatencyParts
from ...ops import OPS, mbconv_params
from ..base import Decision, Edge, SearchSpace, register_space
from .config import ChainSpaceConfig
from .genotype import SCHEMA, Block, ChainGenotype, chain_genotype_from_dict, keeps_shape
from .latency import chain_latency_model
from .network import FIRST_BLOCK_OP, ChainNetwork
from .plot import plot_chain
from .supernet import ChainSupernet


@dataclass(frozen=True)
class LayerSpec:
    name: str
    index: int              # the block's index in the genotype (0 is the fixed first block)
    C_in: int
    C_out: int
    stride: int
    candidates: tuple[str, ...]

    @property
    def skip(self) -> bool:
        """Whether the layer keeps its shape: it has an identity skip, and `zero` is allowed."""
        return keeps_shape(self.C_in, self.C_out, self.stride)


@register_space("proxyless_chain", ChainSpaceConfig, ChainGenotype, SCHEMA)
class ChainSpace(SearchSpace):
    timm_entries = ("supernet_chain",)
    space_yaml = "proxyless_chain"

    def __init__(self, ops: Sequence[str], first_conv: int, first_block: int, widths: Sequence[int],
                 depths: Sequence[int], strides: Sequence[int], feature_mix: int, nested_blocks: bool = True):
        bad = [op for op in ops if op != "zero" and (op not in OPS or mbconv_params(op) is None)]
        if bad:
            known = sorted(op for op in OPS if mbconv_params(op))
            raise ValueError(f"space.ops of the chain space: {bad} are not blocks; choose from {known} and zero")
        if not any(op != "zero" for op in ops) or len(set(ops)) != len(ops):
            raise ValueError(f"space.ops needs at least one mbconv block and no repeats, got {list(ops)}")
        if not len(widths) == len(depths) == len(strides):
            raise ValueError(f"space.widths, space.depths and space.strides need one entry per stage, got "
                             f"{len(widths)}, {len(depths)}, {len(strides)}")
        if any(s not in (1, 2) for s in strides) or any(d < 1 for d in depths):
            raise ValueError(f"space.strides must be 1 or 2 and space.depths >= 1, got {list(strides)}, {list(depths)}")
        self.ops, self.nested_blocks = tuple(ops), nested_blocks
        self.first_conv, self.first_block, self.feature_mix = first_conv, first_block, feature_mix
        self.layers: list[LayerSpec] = []
        c_in = first_block
        for width, depth, stride in zip(widths, depths, strides):
            for j in range(depth):
                index = len(self.layers) + 1
                s = stride if j == 0 else 1
                candidates = tuple(op for op in self.ops if op != "zero" or keeps_shape(c_in, width, s))
                self.layers.append(LayerSpec(f"layer{index:02d}", index, c_in, width, s, candidates))
                c_in = width
        self.decisions = [Decision(sp.name, "op", sp.candidates, "chain", sp.index, 0, sp.name) for sp in self.layers]
        self.edges = {sp.name: Edge(sp.name, "chain", 1, sp.candidates, ((None, sp.name),)) for sp in self.layers}
        self.by_name = {d.name: d for d in self.decisions}

    @classmethod
    def from_config(cls, cfg) -> "ChainSpace":
        return cls(cfg.ops, cfg.first_conv, cfg.first_block, cfg.widths, cfg.depths, cfg.strides, cfg.feature_mix,
                   cfg.nested_blocks)

    def genotype(self, choice: Mapping[str, int]) -> ChainGenotype:
        blocks = [Block(FIRST_BLOCK_OP, self.first_block, 1)]
        blocks += [Block(sp.candidates[choice[sp.name]], sp.C_out, sp.stride) for sp in self.layers]
        return ChainGenotype(self.first_conv, tuple(blocks), self.feature_mix)

    def choice_of(self, genotype: ChainGenotype) -> dict[str, int]:
        """Inverse of :meth:`genotype`; a genotype of another chain (other widths, depths or
        ops) is a ValueError that says where it differs."""
        if not isinstance(genotype, ChainGenotype):
            raise ValueError(f"the chain space takes chain genotypes, got a {type(genotype).__name__}")
        fixed = (genotype.first_conv, genotype.feature_mix, len(genotype.blocks), genotype.blocks[0])
        want = (self.first_conv, self.feature_mix, len(self.layers) + 1, Block(FIRST_BLOCK_OP, self.first_block, 1))
        if fixed != want:
            raise ValueError(f"chain genotype (first conv, feature mix, blocks, first block) {fixed} differs from "
                             f"this space's {want}")
        choice = {}
        for sp, b in zip(self.layers, genotype.blocks[1:]):
            if (b.out, b.stride) != (sp.C_out, sp.stride) or b.op not in sp.candidates:
                raise ValueError(f"block {sp.index} ({b.op}, width {b.out}, stride {b.stride}) is not a candidate of "
                                 f"{sp.name}: {sp.candidates} at width {sp.C_out}, stride {sp.stride}")
            choice[sp.name] = sp.candidates.index(b.op)
        return choice

    def supernet(self, info) -> ChainSupernet:
        return ChainSupernet(self, info.in_channels, info.num_classes)

    def network(self, genotype: ChainGenotype, info) -> nn.Module:
        return ChainNetwork(genotype, info.in_channels, info.num_classes)

    def latency_model(self, info) -> LatencyParts:
        return chain_latency_model(self, info)

    @classmethod
    def parse_genotype(cls, d: Any) -> ChainGenotype:
        return chain_genotype_from_dict(d)

    @classmethod
    def retrain_network(cls, genotype: ChainGenotype, model_cfg, info) -> nn.Module:
        """A chain genotype is a whole network already (only model.drop_path_prob applies)."""
        return ChainNetwork(genotype, info.in_channels, info.num_classes, model_cfg.drop_path_prob)

    @classmethod
    def network_record(cls, genotype: ChainGenotype, model_cfg, info) -> dict[str, Any]:
        return {"model": "supernet_chain", "form": "chain", "in_chans": info.in_channels,
                "num_classes": info.num_classes, "layers": len(genotype.blocks), "init_channels": genotype.first_conv}

    @classmethod
    def reported_network(cls, genotype: ChainGenotype) -> tuple[str, nn.Module, int]:
        """The network itself at 224x224, 1000 classes (ImageNet, as ProxylessNAS reports)."""
        return "imagenet 224x224, 1000 classes", ChainNetwork(genotype, 3, 1000), 224

    @classmethod
    def plot_genotype(cls, genotype: ChainGenotype, path: Path, title: Optional[str] = None) -> Path:
        return plot_chain(genotype, path, title)
