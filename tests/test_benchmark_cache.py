"""The benchmarks' search cache: a kept search is reused only for the settings it ran with."""
import json

import pytest
import yaml

from benchmarks.harness import search_config, searched
from supernet.config import config_dict, register_configs
from supernet.run import OtherRunError
from supernet.search import WARMUP_SETTINGS

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _kept(folder, overrides):
    """A finished search of ``overrides`` as the benchmarks keep it (no training)."""
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config_dict(search_config(overrides)), sort_keys=False))
    (folder / "genotype.json").write_text(json.dumps({"arch": ARCH}))
    (folder / "metrics.csv").write_text("epoch,seconds\n1,2.5\n2,3.5\n")


def test_a_kept_search_is_read_back_only_for_its_own_settings(tmp_path):
    register_configs()
    base = ["space=nasbench201", "seed=1"]
    _kept(tmp_path / "run", base)
    assert searched(tmp_path / "run", base + ["trainer.threads=2"]) == (ARCH, 6.0)     # a resume may change it
    with pytest.raises(OtherRunError, match=r"strategy.max_skip: None -> 2.*another --keep"):
        searched(tmp_path / "run", base + ["strategy.max_skip=2"])
    # re-derived at the command's derive settings (benchmarks/device_targets.py): those may differ
    assert searched(tmp_path / "run", base + ["strategy.max_skip=2"], free=("strategy.max_skip",))[0] == ARCH
    # a warm-up is compared on what a warm-up reads: the derive's cap does not concern it, the seed does
    assert searched(tmp_path / "run", base + ["strategy.max_skip=2"], WARMUP_SETTINGS)[0] == ARCH
    with pytest.raises(OtherRunError, match=r"seed: 1 -> 2"):
        searched(tmp_path / "run", ["space=nasbench201", "seed=2"], WARMUP_SETTINGS)
