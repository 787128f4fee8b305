"""Data-parallel search: 2 gloo processes compute what one process does with the same global
batch: same child each step, same alphas, same weights on every rank.  Both run in float64: a
sum over two half-batches and over one batch round differently, and in float32 Adam's steps of
about lr amplify that 1e-7 into 1e-2 on an alpha within a few arch steps (in float64: far below
TOLERANCE); a real divergence (another child, a per-rank mean of means, the wrong BN batch)
moves them by 1e-3 or more."""
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
import torch, torch.distributed as dist
torch.set_default_dtype(torch.float64)
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
TOLERANCE = 1e-8
# the ranks import the tests' helpers (conftest) and the benchmarks package, as pytest does
RANK_ENV = {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)] + [os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("port, options", [
    (29517, {}),
    (29518, {"strategy.name": "darts"}),                              # the mixture through DDP
    (29519, {"strategy.name": "random", "strategy.num_candidates": 2}),   # children ranked on every rank's shard
    (29520, {"strategy.name": "reinforce"}),                          # one reward (and baseline) per global batch
    (29521, {"strategy.name": "darts", "strategy.unrolled": True}),   # the virtual step on the global batch
    (29522, DIGITS),                                                  # the default pipeline: random crops
], ids=["proxyless", "darts", "random", "reinforce", "darts_unrolled", "augmented_digits"])
def test_two_gloo_processes_match_one_process(tmp_path, port, options, float64):
    script = tmp_path / "ddp.py"
    default_data = options is DIGITS
    script.write_text(textwrap.dedent(SCRIPT.format(out=str(tmp_path), options=options, default_data=default_data)))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          f"--master_port={port}", str(script)], capture_output=True, text=True,
                         env=RANK_ENV, timeout=300)
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
            assert value.dtype == torch.float64
            assert torch.allclose(ranks[0][part][key], value, atol=TOLERANCE, rtol=0, equal_nan=True), f"{part}.{key}"
    best = [r["strategy"].get("best", torch.ones(1)) for r in (ranks[0], reference)]
    assert torch.equal(*best)
    # only rank 0 wrote the run folder's files
    assert (tmp_path / "rank_dir" / "genotype.json").exists()


BN_SCRIPT = """
import torch, torch.distributed as dist
from supernet.distributed import GlobalBatchNorm2d
dist.init_process_group("gloo")
x = 3 + 0.01 * torch.randn(8, 4, 5, 5, generator=torch.Generator().manual_seed(0))
bn = GlobalBatchNorm2d(4)
y = bn(x[4 * dist.get_rank():4 * dist.get_rank() + 4])
torch.save({{"y": y, "running_var": bn.running_var}}, {out!r} + f"/bn{{dist.get_rank()}}.pt")
dist.destroy_process_group()
"""


def test_global_batchnorm_of_a_large_mean_and_a_small_spread_is_batchnorm(tmp_path):
    """The global batch's statistics in two passes (the mean, then the deviations from it): one
    pass, E[x^2] - E[x]^2, left an error of 0.03 on outputs of this input (mean 3, sd 0.01)."""
    script = tmp_path / "bn.py"
    script.write_text(textwrap.dedent(BN_SCRIPT.format(out=str(tmp_path))))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29523",
                          str(script)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"bn{r}.pt", weights_only=True) for r in (0, 1)]
    x = 3 + 0.01 * torch.randn(8, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    bn = torch.nn.BatchNorm2d(4)
    expected = bn(x)
    assert torch.allclose(torch.cat([r["y"] for r in ranks]), expected, atol=1e-3, rtol=0)
    assert torch.allclose(ranks[0]["running_var"], bn.running_var, rtol=1e-3, atol=0)
