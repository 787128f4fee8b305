"""experiments/retrain.py as a user runs it: the recipe follows the data set, a tiny sweep runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from supernet.config import RetrainConfig, register_configs

ROOT = Path(__file__).resolve().parents[1]


def _compose(*overrides):
    register_configs()
    with initialize_config_dir(str(ROOT / "supernet" / "conf"), version_base="1.3"):
        return OmegaConf.to_object(compose("retrain", overrides=list(overrides)))


def test_recipe_follows_the_data_set():
    cifar = _compose("data=cifar10")
    assert isinstance(cifar, RetrainConfig)
    assert (cifar.model.form, cifar.model.init_channels, cifar.model.layers, cifar.data.cutout) == ("cifar", 36, 20, 16)
    assert cifar.trainer.epochs == 600 and cifar.model.drop_path_prob == 0.2
    imagenet = _compose("data=imagenet", "model.layers=8")
    assert (imagenet.model.form, imagenet.model.init_channels, imagenet.model.layers) == ("imagenet", 48, 8)
    assert imagenet.trainer.label_smoothing == 0.1 and imagenet.data.image_size == 224
    assert _compose().data.name == "digits"


def test_retrain_sweep_from_the_command_line(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    args = ["-m", "genotype=darts_v2", "trainer.epochs=1", "data.limit=64", "data.image_size=8",
            "model.layers=3", "model.init_channels=4,6", "trainer.progress=false",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "retrain.py"), *args], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("retrain finished") == 2 and "multiply-adds" in res.stdout
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/result.json"))]
    assert [r["init_channels"] for r in results] == [4, 6]
    assert results[0]["params"] < results[1]["params"] and 0 <= results[0]["test_acc"] <= 1


def test_unknown_genotype_name_on_the_command_line(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "retrain.py"), "genotype=darts_v9",
                          f"hydra.run.dir={tmp_path}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "darts_v9" in res.stderr and "darts_v2" in res.stderr and "nasnet_a" in res.stderr
