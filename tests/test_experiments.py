"""The hydra apps as a user runs them: a search, a multirun sweep, derive, and bad overrides."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from supernet.config import SearchConfig, register_configs

ROOT = Path(__file__).resolve().parents[1]
FAST = ["trainer.epochs=1", "trainer.warmup_epochs=0", "data.limit=120", "data.image_size=8",
        "space.layers=3", "space.nodes=2", "space.init_channels=4", "trainer.progress=false"]


def _run(script, *args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


def _compose(*overrides):
    register_configs()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("search", overrides=list(overrides))


def test_config_composes_to_the_typed_schema():
    cfg = OmegaConf.to_object(_compose("space=nasnet", "strategy.arch_lr=1e-2"))
    assert isinstance(cfg, SearchConfig)
    assert len(cfg.space.ops) == 13 and cfg.strategy.arch_lr == 1e-2


@pytest.mark.parametrize("override, message", [
    ("trainer.epochs=ten", "trainer.epochs"),
    ("strategy.arch_lrr=1e-3", "arch_lrr"),
    ("space=nasnet_v9", "nasnet_v9"),
])
def test_bad_override_fails_at_start(override, message):
    with pytest.raises(Exception, match=message):
        _compose(override)


def test_search_then_derive_scripts(tmp_path):
    run_dir = tmp_path / "run"
    res = _run("search.py", *FAST, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "search finished" in res.stdout
    genotype = json.loads((run_dir / "genotype.json").read_text())
    assert len(genotype["normal"]["nodes"]) == 2
    (run_dir / "genotype.json").unlink()
    res = _run("derive.py", f"run={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((run_dir / "genotype.json").read_text())["normal"] == genotype["normal"]


def test_multirun_sweep_writes_one_folder_per_run(tmp_path):
    res = _run("search.py", "-m", *FAST, "space.nodes=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = sorted(p.parent for p in (tmp_path / "sweep").glob("*/genotype.json"))
    assert len(runs) == 2
    nodes = sorted(len(json.loads((r / "genotype.json").read_text())["normal"]["nodes"]) for r in runs)
    assert nodes == [1, 2]


def test_bad_override_on_the_command_line(tmp_path):
    res = _run("search.py", "trainer.epochs=ten", cwd=tmp_path)
    assert res.returncode != 0
    assert "trainer.epochs" in res.stderr and "ten" in res.stderr
