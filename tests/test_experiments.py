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
from supernet.spaces.proxyless_chain.config import ChainSpaceConfig
from supernet.strategies import STRATEGIES, strategy_config
from supernet.strategies.darts import DARTSConfig

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FAST = ["trainer.epochs=1", "trainer.warmup_epochs=0", "data.limit=120", "data.image_size=8",
              "trainer.progress=false"]
FAST = [*TRAIN_FAST, "space.layers=3", "space.nodes=2", "space.init_channels=4"]
CHAIN_FAST = [*TRAIN_FAST, "space=proxyless_chain", "space.first_conv=8", "space.first_block=8", "space.widths=[8,16]",
              "space.depths=[2,2]", "space.strides=[1,2]", "space.feature_mix=32", "space.ops=[mbconv_3x3_e3,zero]"]


def _run(script, *args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


def _compose(*overrides):
    register_configs()
    with initialize_config_dir(str(ROOT / "supernet" / "conf"), version_base="1.3"):
        return compose("search", overrides=list(overrides))


def test_config_composes_to_the_typed_schema():
    cfg = OmegaConf.to_object(_compose("space=nasnet", "strategy.arch_lr=1e-2"))
    assert isinstance(cfg, SearchConfig)
    assert len(cfg.space.ops) == 13 and cfg.strategy.arch_lr == 1e-2
    cfg = OmegaConf.to_object(_compose("space=proxyless_chain", "strategy=darts", "strategy.unrolled=true"))
    assert isinstance(cfg.space, ChainSpaceConfig) and cfg.space.widths == [24, 40, 80, 96, 192, 320]
    assert isinstance(cfg.strategy, DARTSConfig) and cfg.strategy.unrolled


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_command_line_default_is_the_library_default(name):
    """One source of truth: ``run_search(SearchConfig(...))`` runs what experiments/search.py runs."""
    cfg = OmegaConf.to_object(_compose(f"strategy={name}"))
    assert cfg.strategy == strategy_config(name)
    library = SearchConfig(strategy=strategy_config(name))
    for group in ("data", "space", "trainer", "hardware", "latency"):
        assert getattr(cfg, group) == getattr(library, group), group


@pytest.mark.parametrize("override, message", [
    (["trainer.epochs=ten"], "trainer.epochs"),
    (["strategy.arch_lrr=1e-3"], "arch_lrr"),
    (["space=nasnet_v9"], "nasnet_v9"),
    (["strategy=darts", "strategy.mode=two"], "mode"),               # another strategy's option
    (["space=proxyless_chain", "space.nodes=3"], "nodes"),         # a cell option on the chain
    (["space.widths=[8]"], "widths"),
])
def test_bad_override_fails_at_start(override, message):
    with pytest.raises(Exception, match=message):
        _compose(*override)


def test_search_then_derive_scripts(tmp_path):
    run_dir = tmp_path / "run"
    res = _run("search.py", *FAST, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "search finished" in res.stdout
    genotype = json.loads((run_dir / "genotype.json").read_text())
    assert len(genotype["normal"]["nodes"]) == 2
    written = (run_dir / "genotype.json").read_bytes()
    res = _run("derive.py", f"run={run_dir}", cwd=tmp_path)      # a finished run: beside it, never over it
    assert res.returncode == 0, res.stderr[-3000:]
    assert (run_dir / "genotype.json").read_bytes() == written and "shared_weights" in genotype["meta"]
    assert json.loads((run_dir / "derived" / "genotype.json").read_text())["normal"] == genotype["normal"]
    (run_dir / "genotype.json").unlink()
    res = _run("derive.py", f"run={run_dir}", cwd=tmp_path)      # an interrupted run: into its folder
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


def test_chain_search_then_derive_scripts(tmp_path):
    run_dir = tmp_path / "run"
    res = _run("search.py", *CHAIN_FAST, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    genotype = json.loads((run_dir / "genotype.json").read_text())
    assert genotype["schema"] == "supernet.chain_genotype/v1" and len(genotype["blocks"]) == 5
    assert (run_dir / "cells.png").exists() and (run_dir / "alphas.png").exists()
    (run_dir / "genotype.json").unlink()
    res = _run("derive.py", f"run={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((run_dir / "genotype.json").read_text())["blocks"] == genotype["blocks"]
    assert not list(tmp_path.glob("*.log")) and not list(run_dir.glob("*.log"))   # no empty hydra logs
    res = _run("derive.py", cwd=tmp_path)
    assert res.returncode != 0 and "derive needs the search to derive from: supernet-derive run=" \
        in res.stderr and "Traceback" not in res.stderr


def test_a_refused_run_writes_nothing_into_the_run_it_protects(tmp_path):
    run_dir = tmp_path / "run"
    res = _run("search.py", *FAST, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    records = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert json.loads(records["status.json"])["status"] == "completed" and "config.yaml" in records
    assert not (run_dir / ".hydra").exists()
    starts = (([], "resume=true"), (["resume=true", "seed=1"], "seed: 0 -> 1"),   # into a finished run
              (["trainer.arch_every=0"], "arch_every"), (["resume=true", "trainer.arch_every=0"], "arch_every"),
              (["resume=true", "hardware=cpu_2core"], "hardware"), (["resume=true", "data=cifar10"], "cifar"))
    for again, says in starts:
        res = _run("search.py", *FAST, *again, f"hydra.run.dir={run_dir}", cwd=tmp_path)
        assert res.returncode != 0 and says in res.stderr, (again, res.stderr[-2000:])
        assert "Traceback" not in res.stderr                 # the message, not a traceback
        assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == records, again
    assert not (run_dir / ".hydra").exists()
    res = _run("search.py", *FAST, "trainer.arch_every=0", f"hydra.run.dir={tmp_path / 'new' / 'run'}", cwd=tmp_path)
    assert res.returncode != 0 and not (tmp_path / "new" / "run").exists()     # a run that never started writes nothing
    res = _run("search.py", *FAST, "data=cifar10", "data.download=false", f"hydra.run.dir={tmp_path / 'new2'}",
               cwd=tmp_path)
    assert res.returncode != 0 and not (tmp_path / "new2").exists()


@pytest.mark.parametrize("app", ["search", "retrain"])
def test_help_lists_the_groups_the_app_takes_with_their_options(app):
    """--help names each group the app composes with exactly the options conf/<group>/ holds (no
    base_* schemas, no groups of other apps)."""
    cfg = OmegaConf.load(ROOT / "supernet" / "conf" / f"{app}.yaml")
    defaults = OmegaConf.to_container(cfg.defaults)
    groups = [next(iter(d)) for d in defaults if isinstance(d, dict) and not next(iter(d)).startswith("override")]
    listed = {line.split(":")[0]: line.split(":")[1].split("  ")[0].strip()
              for line in cfg.hydra.help.template.splitlines() if ":" in line and line.split(":")[0].isidentifier()}
    assert set(listed) == set(groups)
    for group in groups:
        options = ", ".join(sorted(p.stem for p in (ROOT / "supernet" / "conf" / group).glob("*.yaml")))
        assert listed[group] == options, group
