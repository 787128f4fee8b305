"""Structured configs: every option has a type and a default, so a wrong hydra override
fails when the config is composed, not an hour into a search.

The dataclasses are registered in hydra's ConfigStore as ``<group>/base_<group>`` schemas; the
yaml files in ``supernet/conf/<group>/`` extend them.  A space family and a strategy bring their own
config dataclass (``spaces/<family>/config.py``, ``strategies/<name>.py``) to their registry;
this module sits above both and registers every one as ``space/base_<family>`` and
``strategy/base_<name>``.  Library functions take these dataclasses (or any object with the
same attributes), never the command line.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from .spaces import SPACES, SpaceConfig, default_space_config, space_config
from .strategies import STRATEGIES, StrategyConfig, strategy_config


@dataclass
class DataConfig:
    """Which data set and how to split it.  ``digits`` ships with scikit-learn (offline)."""
    name: str = "digits"            # digits | cifar10 | cifar100 | imagefolder | cifar10_folder
    root: str = "data"              # where the data set lives (or is downloaded to)
    download: bool = False          # torchvision download when the files are missing
    image_size: int = 16            # digits are upsampled to this; imagefolder resizes to it
    train_portion: float = 0.5      # search: fraction of the training set used for weights
    batch_size: int = 16            # small batches: more weight steps, which shared weights need most
    num_workers: int = 0
    cutout: int = 0                 # cutout length in pixels (0: off)
    limit: int = 0                  # use only N training images, a seeded draw (0: all; cifar10_folder: balanced)
    cache_dir: str = ""             # cifar10_folder's decoded images ("": $XDG_CACHE_HOME/supernet, ~/.cache/supernet)


@dataclass
class TrainerConfig:
    """The search loop: weight steps on train, arch steps on val.  The defaults are the offline
    default's (benchmarks/supernet_quality.py and search_vs_random.py measured them): many weight
    steps (the shared weights rank children better the longer they train), half of them a warm-up
    whose first epochs hold one topology, an arch step every 4th weight step, and the children
    measured every 5th epoch, which keeps the search within 6 minutes on 2 cores."""
    epochs: int = 80
    warmup_epochs: int = 40         # weight steps only (ProxylessNAS: 40 of 160 epochs)
    topology_warmup_epochs: int = 18    # the first N warm-up epochs hold the input decisions at one seeded topology
    arch_every: int = 4             # an arch step after every N-th weight step (ProxylessNAS: 5)
    strict_fairness: bool = False   # FairNAS: each weight step trains every candidate once (m children, one update)
    skip_dropout: float = 0.0       # P-DARTS: dropout at this rate on the skip-connects in the epochs after the
                                    # warm-up (weight and arch steps), decaying as exp(-3 t), t from 0 to 1 over them
    lr: float = 0.05
    lr_min: float = 1e-3
    cosines: int = 1                # 1: one cosine lr -> lr_min spans warm-up and search; 2: the warm-up has its own
                                    # and the search restarts at lr (ProxylessNAS; a warm-up then ignores epochs),
                                    # worse for random, proxyless and gdas on NAS-Bench-201 (docs/results.md)
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    device: str = "cpu"
    channels_last: bool = True      # the supernet's convolutions in channels-last memory format: a weight step
                                    # 1.3x faster on a CPU (digits and NAS-Bench-201: benchmarks/threads.py)
    threads: int = 1                # torch.set_num_threads (0: torch's default, one per core); 1 because a
                                    # busy core stalls the others (benchmarks/threads.py)
    progress: bool = True
    tensorboard: bool = False       # also log the epoch rows and alpha to <run>/tensorboard (the tensorboard extra)
    stop_at_skips: int = 0          # stop when a derived cell has this many skip_connect (0: never)
    stop_after_warmup: bool = False     # stop after the warm-up: its checkpoint is a warmed-up supernet for init_from
    init_from: Optional[str] = None     # a run stopped after the same warm-up (stop_after_warmup): start from its
                                        # supernet instead of warming up again (any strategy, target or table)
    bn_images: int = 256            # train images that re-estimate BN for a child measured on shared weights
                                    # (the loop's figures, random search; rewards use the arch step's train batch)
    quality_children: int = 2       # uniformly sampled children measured on the shared weights (val_acc_sampled)
    measure_every: int = 5          # ... with the derived child (val_acc_derived) after every N-th epoch and the
                                    # last (a child costs a tenth of an epoch's training: nan in between)
    final_quality_children: int = 10   # ... and at the end (genotype.json meta.shared_weights)
    derive_candidates: int = 1      # the end of a search (and supernet-derive) measures this many of the most probable
                                    # architectures derive may return (within the target, under one) on the shared
                                    # weights and derives the best (1: the most probable; the epoch lines show it)


@dataclass
class HardwareConfig:
    """A hardware target: its latency table, how that table is measured, its latency target."""
    name: str = "none"              # none: no latency term
    table: Optional[str] = None     # latency_tables/<name>.yaml
    device: str = "cpu"             # where profile_latency.py / validate_latency.py measure
    threads: int = 0                # torch threads while measuring (0: leave as is)
    batch_size: int = 1             # the batch the table is measured at (deployment: 1)
    dtype: str = "float32"          # float32 | bfloat16 | float16
    target_ms: Optional[float] = None
    allow_mismatch: bool = False    # accept a table measured with another batch size / dtype


@dataclass
class LatencyConfig:
    """How expected latency enters the search (when a hardware target has a table)."""
    loss: str = "lagrange"          # lagrange (adaptive weight) | additive | log | power | hinge | none
    target_ms: Optional[float] = None   # default: hardware.target_ms
    weight: float = 0.5             # lambda of the additive and hinge forms
    dual_lr: float = 0.05           # lagrange: the multiplier's step per arch step and unit of relative excess
    beta: float = 0.6               # exponent of the log and power forms
    reward: str = "table"           # reinforce, enas, random: the reward's latency, table | measured (on this device)
    reward_exponent: float = -0.07  # MnasNet's w in the reward acc * (LAT/target)^w
    constrained_derive: bool = True     # derive the most probable architecture within [derive_floor * T, T], T the
                                        # target less derive_margin
    derive_floor: float = 0.95          # ... spending a derived network far below the target up to this
    derive_margin: float = 0.0          # derive within (1 - margin) * target: room for the table's error on the
                                        # device (a fitted table's meta.validation says how large it is)
    reject_over_target: bool = False    # resample weight-step children over the target
    max_tries: int = 50


@dataclass
class BenchmarkConfig:
    """A table of published figures for every architecture of the space (NAS-Bench-201's): the
    search looks its derived architecture up every epoch and records it (supernet.benchmark_table)."""
    table: Optional[str] = None     # a CSV with an `arch` column, e.g. ../shared/nasbench201/accuracy_12epoch.csv
    column: Optional[str] = None    # the figure the epoch line shows (default: the first that is not an index)


@dataclass
class SearchConfig:
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=default_space_config)                    # any registered family
    strategy: StrategyConfig = field(default_factory=lambda: strategy_config("proxyless"))   # any registered one
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    seed: int = 0
    resume: bool = False


@dataclass
class ProfileConfig:
    """profile_latency.py: measure the table of ``hardware`` for ``space`` on ``data`` shapes."""
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=default_space_config)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    warmup: int = 5
    repeat: int = 20
    calibration_children: int = 24     # end-to-end runs it is fitted on: half uniform, half spanning the range
    recalibrate: bool = False          # fit the calibration again even when no entry was added
    seed: int = 0
    progress: bool = True


@dataclass
class ValidateConfig:
    """validate_latency.py: table prediction vs end-to-end measurement on this device."""
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=default_space_config)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    children: int = 50              # uniformly random children
    span_children: int = 12         # children spread evenly over the table's latency range
    genotypes: List[str] = field(default_factory=list)  # genotype.json paths or published names
    warmup: int = 5
    repeat: int = 20
    seed: int = 1                   # other children than the calibration's (seed 0)
    progress: bool = True


@dataclass
class DeriveConfig:
    run: str = "???"                # a search output folder or a checkpoint file
    out: Optional[str] = None       # where to write; default: <run>/derived (the run folder itself when the search
                                    # wrote no genotype there; with target_ms: <run>/target_<T>ms)
    target_ms: Optional[float] = None   # derive within this latency target on the run's table instead


@dataclass
class ModelConfig:
    """The discrete network a genotype is retrained in."""
    form: str = "cifar"             # cifar (3x3 stem) | imagenet (mobile setting: two stride-2 stems)
    init_channels: int = 36
    layers: int = 20                # cells; reductions at 1/3 and 2/3 of the depth
    stem_multiplier: int = 3        # cifar form only
    auxiliary: bool = True          # auxiliary head after the 2/3 reduction (training only)
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2     # final ScheduledDropPath probability (grows linearly from 0)


@dataclass
class RetrainTrainerConfig:
    """The from-scratch training recipe; optimizer and schedule names are timm's factory names."""
    epochs: int = 600
    optimizer: str = "momentum"     # timm create_optimizer_v2 name (momentum: SGD, no Nesterov)
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    sched: str = "cosine"           # timm create_scheduler_v2 name (cosine | step | ...)
    decay_epochs: float = 1.0       # step schedule only
    decay_rate: float = 0.97        # step schedule only
    warmup_epochs: int = 0
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    ema: bool = False               # keep timm's EMA of the weights and report its accuracy too
    ema_decay: float = 0.9998
    amp: bool = True                # bf16 autocast, on a GPU only
    channels_last: bool = True      # channels-last memory format (CPU too: 1.4x, benchmarks/retrain_throughput.py)
    device: str = "cpu"
    threads: int = 0                # torch.set_num_threads (0: leave as is)
    progress: bool = True


@dataclass
class RetrainConfig:
    genotype: str = "darts_v2"      # a published name (darts_v2, nasnet_a, ...) or a genotype.json path
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: RetrainTrainerConfig = field(default_factory=RetrainTrainerConfig)
    seed: int = 0
    resume: bool = False


GROUPS: dict[str, dict[str, Any]] = {   # group -> schema name -> schema (the registries add spaces and strategies)
    "data": {"base_data": DataConfig}, "trainer": {"base_trainer": TrainerConfig},
    "hardware": {"base_hardware": HardwareConfig},
}


def config_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain data (what checkpoints and result files record)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def search_config_from_dict(d: dict[str, Any]) -> SearchConfig:
    """A checkpoint's config, typed again: the space and strategy configs by their names.  A
    strategy option that no longer exists (an older version's) is dropped with a warning, so an
    old run can still be derived."""
    d = dict(d)
    space, strategy = space_config(d.pop("space")), d.pop("strategy")
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SearchConfig), d))
    cfg.space = space
    options = {k: v for k, v in strategy.items() if k != "name"}
    gone = sorted(set(options) - {f.name for f in dataclasses.fields(strategy_config(strategy["name"]))})
    if gone:
        warnings.warn(f"the checkpoint's strategy options {gone} no longer exist in {strategy['name']}; ignored")
    cfg.strategy = strategy_config(strategy["name"], **{k: v for k, v in options.items() if k not in gone})
    return cfg


def _open(node_type, *fields: str):
    """The schema hydra composes into, with ``fields`` left MISSING so that the option a config
    group picks brings its own typed schema (a family's space config, a strategy's options),
    as hydra's structured-config example with a ``db: DBConfig = MISSING`` field."""
    node = OmegaConf.structured(node_type)
    for name in fields:
        setattr(node, name, MISSING)
    return node


def register_configs() -> None:
    """Register the schemas with hydra (idempotent; the experiments call it before main)."""
    cs = ConfigStore.instance()
    for group, nodes in GROUPS.items():
        for name, node in nodes.items():
            cs.store(group=group, name=name, node=node)
    for name, cls in SPACES.items():
        cs.store(group="space", name=f"base_{name}", node=cls.config)
    for name, cls in STRATEGIES.items():
        cs.store(group="strategy", name=f"base_{name}", node=cls.config)
    cs.store(name="base_search", node=_open(SearchConfig, "space", "strategy"))
    cs.store(name="base_derive", node=DeriveConfig)
    cs.store(name="base_retrain", node=RetrainConfig)
    cs.store(name="base_profile", node=_open(ProfileConfig, "space"))
    cs.store(name="base_validate", node=_open(ValidateConfig, "space"))
