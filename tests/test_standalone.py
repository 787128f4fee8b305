"""The quality benchmarks' stand-alone yardstick (benchmarks/standalone.py): it trains on the data
set the search ran on, and its cache never answers for another data set or recipe."""
import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.standalone import Yardstick, add_recipe_option
from supernet.config import DataConfig
from supernet.genotypes import published_genotype


def _two_class_folder(root: Path) -> DataConfig:
    for split in ("train", "val"):
        for cls in range(2):
            (root / split / f"c{cls}").mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (12, 12), (200 * cls, 30 * i, 60)).save(root / split / f"c{cls}" / f"{i}.png")
    return DataConfig(name="imagefolder", root=str(root), image_size=8)


def test_yardstick_trains_on_the_searchs_data_set_and_keys_its_cache_by_it(tmp_path):
    data, cache = _two_class_folder(tmp_path / "data"), tmp_path / "cache.json"
    stick = Yardstick(tmp_path / "a", 1, data, [("epochs", 1), ("layers", 3)], cache=cache)
    genotype = published_genotype("darts_v2")
    (acc,) = stick.accuracies(genotype)
    assert stick.data[2].num_classes == 2 and 0.0 <= acc <= 1.0
    assert "imagefolder" in (tmp_path / "a" / "run1_seed0" / "config.yaml").read_text()
    again = Yardstick(tmp_path / "b", 1, data, [("epochs", 1), ("layers", 3)], cache=cache)
    assert again.accuracies(genotype) == [acc] and not (tmp_path / "b" / "run1_seed0").exists()   # from the cache
    other = Yardstick(tmp_path / "c", 1, data, [("epochs", 2), ("layers", 3)], cache=cache)
    digits = Yardstick(tmp_path / "d", 1, cache=cache)
    assert len({stick.identity, other.identity, digits.identity}) == 3
    # figures cached before the key named the data set and the limit stay valid on the digits default
    assert digits.identity == json.dumps({"batch_size": 32, "epochs": 3, "init_channels": 2, "layers": 5,
                                          "lr": 0.025}, sort_keys=True)


@pytest.mark.parametrize("pair, says", [("epochs=x", "epochs takes int"), ("width=4", "key one of"),
                                        ("epochs", "expected key=value")])
def test_a_wrong_recipe_entry_is_refused_with_what_is_wrong(pair, says, capsys):
    parser = argparse.ArgumentParser()
    add_recipe_option(parser)
    assert parser.parse_args(["--recipe", "epochs=5", "lr=0.1"]).recipe == [("epochs", 5), ("lr", 0.1)]
    with pytest.raises(SystemExit):
        parser.parse_args(["--recipe", pair])
    assert says in capsys.readouterr().err
