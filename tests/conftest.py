"""Shared small fixtures: everything here runs in seconds on 2 CPU cores."""
import pytest
import torch

from benchmarks import synthetic
from benchmarks.synthetic import blobs  # noqa: F401  (tests import it from here)
from supernet.config import DataConfig, SearchConfig, TrainerConfig
from supernet.data import DataInfo
from supernet.spaces.nasnet_cell.config import CellSpaceConfig
from supernet.strategies import strategy_config

# Tests run in parallel workers (pytest -n 2 on 2 cores): one thread each, or tiny ops drown
# in thread hand-offs.
torch.set_num_threads(1)


def tiny_config(**over) -> SearchConfig:
    """A 3-cell, 2-node supernet on 8x8 inputs: a full search epoch takes well under a second.
    ``strategy.name`` picks the strategy; other ``strategy.*`` keys are its options."""
    strategy = {k.partition(".")[2]: over.pop(k) for k in list(over) if k.startswith("strategy.")}
    cfg = SearchConfig(
        data=DataConfig(batch_size=16),
        space=CellSpaceConfig(nodes=2, ops=["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"],
                              layers=3, init_channels=4, stem_multiplier=1),
        strategy=strategy_config(strategy.pop("name", "proxyless"), **{"arch_lr": 0.05, **strategy}),
        trainer=TrainerConfig(epochs=3, warmup_epochs=1, topology_warmup_epochs=0, arch_every=1, progress=False),
    )
    for key, value in over.items():
        group, _, field = key.partition(".")
        setattr(getattr(cfg, group), field, value) if field else setattr(cfg, group, value)
    return cfg


@pytest.fixture
def tiny_data():
    return blobs(96, seed=0), blobs(48, seed=1), DataInfo(in_channels=1, num_classes=3, image_size=8)


@pytest.fixture
def noise_ops():
    """The planted task's noise ops, registered for one test only."""
    with synthetic.noise_ops():
        yield
