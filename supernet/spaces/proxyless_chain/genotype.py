"""The chain genotype: a whole MobileNetV2-style network as versioned JSON (schema
``supernet.chain_genotype/v1``), the contract between a chain search, retrain and timm.

A 3x3 stride-2 first conv of ``first_conv`` channels, then ``blocks`` in order, each an op
(``mbconv_KxK_eE``, or ``zero``: the layer is skipped) with its output width and stride, then
a 1x1 feature-mix conv of ``feature_mix`` channels, global pooling and the classifier.  A
block whose stride is 1 and whose width equals its input's has an identity skip; ``zero`` is
only valid there.  Unlike a cell genotype, it carries its widths: it is the network.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ...genotype_json import GenotypeError
from ...ops import mbconv_params

SCHEMA = "supernet.chain_genotype/v1"


def keeps_shape(C_in: int, C_out: int, stride: int) -> bool:
    """Whether a block keeps its input's shape: then it has an identity skip, and `zero` may
    replace it (ProxylessNAS's ``idskip``)."""
    return stride == 1 and C_in == C_out


@dataclass(frozen=True)
class Block:
    op: str                 # mbconv_KxK_eE | zero
    out: int
    stride: int


@dataclass(frozen=True)
class ChainGenotype:
    first_conv: int
    blocks: tuple[Block, ...]
    feature_mix: int

    def inputs(self) -> list[int]:
        """Input width of every block."""
        return [self.first_conv] + [b.out for b in self.blocks[:-1]]

    def stages(self) -> list[list[tuple[int, Block]]]:
        """The blocks that run (no `zero`) as ``(C_in, block)``, grouped into stages: a new
        stage starts where the width or the resolution changes (timm's stage layout)."""
        stages: list[list[tuple[int, Block]]] = []
        for c_in, b in zip(self.inputs(), self.blocks):
            if b.op == "zero":
                continue
            if not stages or not keeps_shape(c_in, b.out, b.stride):
                stages.append([])
            stages[-1].append((c_in, b))
        return stages

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "first_conv": self.first_conv,
                               "blocks": [{"op": b.op, "out": b.out, "stride": b.stride} for b in self.blocks],
                               "feature_mix": self.feature_mix}
        if meta:
            out["meta"] = meta
        return out

    def summary(self) -> str:
        return " > ".join([f"conv {self.first_conv}"] + [f"{b.op}/{b.stride} {b.out}" for b in self.blocks]
                          + [f"mix {self.feature_mix}"])

    def op_histogram(self) -> dict[str, dict[str, int]]:
        return {"chain": dict(Counter(b.op for b in self.blocks))}

    def ops(self) -> set[str]:
        return {b.op for b in self.blocks}


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GenotypeError(f"{where}: expected a positive integer, got {value!r}")
    return value


def chain_genotype_from_dict(d: Any) -> ChainGenotype:
    """Validate and build; the error names the bad field."""
    if not isinstance(d, dict):
        raise GenotypeError(f"chain genotype: expected a JSON object, got {type(d).__name__}")
    if d.get("schema") != SCHEMA:
        raise GenotypeError(f"schema: expected {SCHEMA!r}, got {d.get('schema')!r}")
    first_conv = _positive_int(d.get("first_conv"), "first_conv")
    raw = d.get("blocks")
    if not isinstance(raw, list) or not raw:
        raise GenotypeError("blocks: expected a non-empty list of {op, out, stride}")
    blocks, c_in = [], first_conv
    for i, b in enumerate(raw):
        at = f"blocks[{i}]"
        if not isinstance(b, dict) or set(b) != {"op", "out", "stride"}:
            raise GenotypeError(f"{at}: expected {{'op': name, 'out': width, 'stride': 1 or 2}}, got {b!r}")
        op, out = b["op"], _positive_int(b["out"], f"{at}.out")
        if b["stride"] not in (1, 2) or isinstance(b["stride"], bool):
            raise GenotypeError(f"{at}.stride: expected 1 or 2, got {b['stride']!r}")
        if not isinstance(op, str) or (op != "zero" and mbconv_params(op) is None):
            raise GenotypeError(f"{at}.op: expected 'zero' or 'mbconv_KxK_eE' (e.g. mbconv_5x5_e3), got {op!r}")
        if op == "zero" and not keeps_shape(c_in, out, b["stride"]):
            raise GenotypeError(f"{at}.op: 'zero' skips the layer, so it needs stride 1 and the input width "
                                f"{c_in}; got stride {b['stride']}, width {out}")
        blocks.append(Block(op, out, b["stride"]))
        c_in = out
    return ChainGenotype(first_conv, tuple(blocks), _positive_int(d.get("feature_mix"), "feature_mix"))

