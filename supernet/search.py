"""The search loop: weight steps on the train split, arch steps on the val split, a
checkpoint after every epoch, then derive.

Resume is exact: the checkpoint holds weights, alphas, both optimizers, the schedule, the
RNG states and the history, and the loaders reshuffle from ``(seed, epoch)``.  A resume runs
the search it continues: every setting but those in :data:`FREE_ON_RESUME` must be as saved;
more ``trainer.epochs`` re-plan the cosine schedule that ends with the search from the current lr
down to ``lr_min``.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .benchmark_table import BenchmarkTable
from .config import SearchConfig, config_dict
from .data import DataInfo, PerSampleAugment, build_search_data, search_loader
from .derive import derive_genotype, write_outputs
from .distributed import World, all_reduce_sum, average_gradients, convert_batchnorm, init_world
from .gates import child_gates
from .hardware.target import hardware_target
from .ops import set_skip_dropout
from .probe import ChildProbe, child_probe, search_supernet
from .run import OtherRunError, RunFolder, changed_settings, flat_keys, restore_rng
from .spaces import build_space
from .spaces.base import SearchSpace, fair_children, uniform_choice
from .strategies import Strategy, build_strategy, strategy_class
from .tensorboard_log import TensorBoardLog, check_tensorboard

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    out_dir: Path
    genotype: Any                    # a genotype of the space's family
    metrics: list[dict[str, float]]
    files: dict[str, Path]           # empty on ranks other than 0
    net: torch.nn.Module
    strategy: Strategy
    info: DataInfo


# what may change when a search is resumed (where and how it runs, what it reports, how long)
FREE_ON_RESUME = ("resume", "data.root", "data.download", "data.num_workers", "trainer.device", "trainer.threads",
                  "trainer.channels_last", "trainer.progress", "trainer.tensorboard", "trainer.stop_at_skips",
                  "trainer.final_quality_children", "trainer.epochs", "trainer.measure_every", "benchmark.table",
                  "benchmark.column")
NAN_KNOBS = "trainer.lr or strategy.arch_lr, or a tighter trainer.grad_clip"
# what a warm-up depends on: a run started from another's warm-up (trainer.init_from) must agree on it
WARMUP_SETTINGS = ("data", "space", "seed", "trainer.warmup_epochs", "trainer.topology_warmup_epochs",
                   "trainer.strict_fairness", "trainer.lr", "trainer.lr_min", "trainer.cosines", "trainer.momentum",
                   "trainer.weight_decay", "trainer.grad_clip")


def _endless(loader):
    """Batches of ``loader`` again and again (itertools.cycle would keep every batch in memory)."""
    while True:
        yield from loader


def weight_gradients(net, strategy: Strategy, x: Tensor, y: Tensor, pinned: dict[str, int],
                     strict_fairness: bool) -> tuple[float, float]:
    """Accumulate the weight step's gradients (the caller clips and steps) and return its loss
    and accuracy: the strategy's child, or FairNAS's children (``strict_fairness``: every
    candidate of every decision once, their gradients summed as FairNAS accumulates them, so
    each candidate gets its own full gradient; the reported loss is their mean), with
    ``pinned`` decisions held.  Fairness holds per decision: with shared input banks one op
    module may run for several slots of a child, so it is not one update per weight module."""
    children = fair_children(strategy.space, strategy.generator) if strict_fairness else [None]
    loss_sum = acc_sum = 0.0
    for choice in children:
        logits = net(x, child_gates({**choice, **pinned})) if choice else strategy.weight_forward(net, x, pinned)
        loss = F.cross_entropy(logits, y)
        if not torch.isfinite(loss):
            return loss.item(), 0.0
        loss.backward()
        loss_sum += loss.item()
        acc_sum += (logits.argmax(1) == y).float().mean().item()
    return loss_sum / len(children), acc_sum / len(children)


def weight_step(net, step_net, strategy: Strategy, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                pinned: dict[str, int], trainer, check=None) -> tuple[float, float]:
    """One weight step of the search (gradients through ``step_net``, the DDP wrapper of ``net``
    where there is one; clipped; the optimizer's step): its loss and accuracy.  ``check(loss)``
    runs before the update (the loop refuses a NaN there, before it reaches the weights)."""
    opt.zero_grad(set_to_none=True)
    loss, acc = weight_gradients(step_net, strategy, x, y, pinned, trainer.strict_fairness)
    if check:
        check(loss)
    torch.nn.utils.clip_grad_norm_(net.parameters(), trainer.grad_clip)
    opt.step()
    return loss, acc


def trust_figures(probe: ChildProbe, space: SearchSpace, derived: dict[str, int], children: int,
                  generator: torch.Generator) -> dict[str, float]:
    """What says whether to trust a search: the derived child's accuracy on the shared weights
    and the supernet's quality, the mean (and sd) over uniformly sampled children.  A supernet
    whose children are near chance ranks nothing, however sharp its alphas."""
    sampled = probe.sampled(space, children, generator)
    mean = sum(sampled) / len(sampled)
    sd = (sum((a - mean) ** 2 for a in sampled) / max(len(sampled) - 1, 1)) ** 0.5
    return {"derived_acc": probe.accuracy(derived), "sampled_acc_mean": mean, "sampled_acc_sd": sd,
            "children": len(sampled)}


def check_trainer(cfg: SearchConfig, world: World) -> None:
    """Settings that cannot work, refused before anything is built or written."""
    tr = cfg.trainer
    if tr.arch_every < 1:
        raise ValueError(f"trainer.arch_every must be >= 1 (an arch step every N weight steps), got {tr.arch_every}")
    if tr.measure_every < 1:
        raise ValueError(f"trainer.measure_every must be >= 1 (children measured every N epochs), "
                         f"got {tr.measure_every}")
    if tr.derive_candidates < 1:
        raise ValueError(f"trainer.derive_candidates is how many of the most probable architectures the shared weights "
                         f"rank at the end (1: the most probable alone): it must be >= 1, got {tr.derive_candidates}")
    if tr.derive_candidates > 1 and not strategy_class(cfg.strategy.name).samples_children:
        log.warning(f"trainer.derive_candidates={tr.derive_candidates} ranks children on the shared weights, and "
                    f"{cfg.strategy.name} trains the mixture of every path, not children: their figures say little "
                    "about them (docs/strategies.md)")
    if tr.final_quality_children < 1:
        raise ValueError(f"trainer.final_quality_children must be >= 1, got {tr.final_quality_children}")
    for name, size in (("data.batch_size", cfg.data.batch_size), ("trainer.bn_images", tr.bn_images)):
        if size < 1 or size % world.size:
            raise ValueError(f"{name} ({size}) must be a positive multiple of the number of processes ({world.size})")
    if (tr.stop_after_warmup or tr.init_from) and tr.warmup_epochs < 1:
        raise ValueError("trainer.stop_after_warmup and trainer.init_from share a warm-up: set trainer.warmup_epochs "
                         ">= 1")
    if tr.tensorboard:
        check_tensorboard()
    if tr.cosines not in (1, 2):
        raise ValueError(f"trainer.cosines must be 1 (one lr cosine over warm-up and search) or 2 (the search restarts "
                         f"it), got {tr.cosines}")
    if tr.warmup_epochs > tr.epochs:
        raise ValueError(f"trainer.warmup_epochs ({tr.warmup_epochs}) exceeds trainer.epochs ({tr.epochs})")
    if not 0 <= tr.skip_dropout < 1:
        raise ValueError(f"trainer.skip_dropout is a dropout rate on the skip-connects: it must be in [0, 1), "
                         f"got {tr.skip_dropout}")
    if tr.strict_fairness and not strategy_class(cfg.strategy.name).samples_children:
        raise ValueError(f"trainer.strict_fairness samples the weight step's children, and {cfg.strategy.name} "
                         "trains the mixture of every path instead: use it with a sampling strategy")


class SearchRun:
    """One search: everything it holds while it runs, and its steps (set up, restore, one
    epoch, its row, save, finish)."""

    def __init__(self, cfg: SearchConfig, out_dir: str | os.PathLike, data=None):
        world, device = init_world(torch.device(cfg.trainer.device))
        if world.distributed:      # rank 0's folder is the run's
            shared = [str(out_dir)]
            torch.distributed.broadcast_object_list(shared, src=0)
            out_dir = shared[0]
        self.cfg, self.world, self.device = cfg, world, device
        self.folder = RunFolder(out_dir, cfg.resume, "search", writer=world.is_main)
        tr = cfg.trainer
        if tr.threads:
            torch.set_num_threads(tr.threads)
        check_trainer(cfg, world)
        self.space = build_space(cfg.space)         # config errors before any data is read or file written
        self.table = BenchmarkTable(cfg.benchmark.table, self.space) if cfg.benchmark.table else None
        self.table_column = self.table.column(cfg.benchmark.column) if self.table else None
        self.folder.claim_for(lambda: self._build(data))

    def _build(self, data) -> None:
        """Everything a claimed run holds: data, hardware target, strategy, supernet, optimizers."""
        cfg, tr, world, device = self.cfg, self.cfg.trainer, self.world, self.device
        torch.manual_seed(cfg.seed)
        train_set, self.val_set, self.info = data or build_search_data(cfg.data, cfg.seed)
        self.train_set = PerSampleAugment(train_set, cfg.seed)
        self.hw = hardware_target(cfg, self.space, self.info, strategy_class(cfg.strategy.name))
        self.strategy = build_strategy(self.space, cfg.strategy, **(self.hw.strategy_parts if self.hw else {}))
        self.strategy.seed(cfg.seed)
        self.net = search_supernet(self.space, self.info, tr)
        if world.distributed:
            convert_batchnorm(self.net, device)
            average_gradients(self.strategy.parameters())
        self.net.to(device), self.strategy.to(device)
        # The weight step goes through DDP; arch steps use the plain module (their gradients
        # reach only the strategy's parameters, averaged by the hooks).
        self.step_net = (DistributedDataParallel(self.net, find_unused_parameters=True) if world.distributed
                         else self.net)
        self.w_opt = torch.optim.SGD(self.net.parameters(), tr.lr, momentum=tr.momentum, weight_decay=tr.weight_decay)
        self.sched = self.cosine(0)
        self.history: list[dict[str, list[float]]] = []
        self.metrics: list[dict[str, float]] = []
        self.start = 0
        self.board: TensorBoardLog | None = None
        # The topology warm-up holds every input decision at one child's (drawn from the seed),
        # so the first weight steps train the op modules on one fixed topology before every
        # decision varies (progressive shrinking's order: one network first, then the space).
        seeded = uniform_choice(self.space, torch.Generator().manual_seed(cfg.seed), allow_none=False)
        self.topology = {d.name: seeded[d.name] for d in self.space.topology_decisions()}
        # the op histogram's columns: every derivable op of every group, so a count of 0 reads 0
        self.op_columns = list(dict.fromkeys((d.group, op) for d in self.space.decisions if d.kind == "op"
                                             for k, op in enumerate(d.candidates) if k not in d.never_derived))

    def restore(self) -> None:
        """Continue from the checkpoint: the same search (FREE_ON_RESUME aside), more epochs
        re-planned from the current lr."""
        ck = self.folder.load(("epoch", "config", "net", "strategy", "arch_opt", "w_opt", "sched", "rng"))
        self.folder.refuse_changes(ck["config"], config_dict(self.cfg), FREE_ON_RESUME)
        self.net.load_state_dict(ck["net"])
        self.strategy.load_state_dict(ck["strategy"])
        if self.strategy.optimizer is not None:
            self.strategy.optimizer.load_state_dict(ck["arch_opt"])
        self.w_opt.load_state_dict(ck["w_opt"])
        self.sched.load_state_dict(ck["sched"])
        restore_rng(ck, self.device)
        if self.hw:
            self.hw.load_state_dict(ck.get("latency", {}))
        self.history, self.metrics, self.start = ck["history"], ck["metrics"], ck["epoch"]
        epochs, saved = self.cfg.trainer.epochs, ck["config"]["trainer"]["epochs"]
        if epochs != saved:
            if epochs < self.start:
                raise OtherRunError(f"{self.folder.checkpoint} has trained {self.start} epochs already; "
                                    f"trainer.epochs={epochs} would undo them: give at least {self.start}")
            if not self.warmup_cosine(self.start):     # a warm-up cosine of its own ignores the epochs
                self.sched = self.cosine(self.start)
        if self.world.is_main:
            log.info(f"resuming {self.folder.dir} after epoch {self.start}"
                     + (f", {saved} -> {epochs} epochs" if epochs != saved else ""))

    def warmup_cosine(self, epoch: int) -> bool:
        """Whether ``epoch`` trains on the warm-up's own cosine (trainer.cosines=2), which the search restarts."""
        tr = self.cfg.trainer
        return tr.cosines == 2 and epoch < tr.warmup_epochs

    def cosine(self, epoch: int) -> torch.optim.lr_scheduler.CosineAnnealingLR:
        """The lr schedule from ``epoch`` on: a cosine from the lr the optimizer is at down to
        lr_min at the end of the warm-up (when the search restarts it) or of the search."""
        tr = self.cfg.trainer
        end = tr.warmup_epochs if self.warmup_cosine(epoch) else tr.epochs
        for group in self.w_opt.param_groups:
            group["initial_lr"] = group["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, max(end - epoch, 1), eta_min=tr.lr_min)

    def init_from(self) -> None:
        """Start from the warmed-up supernet of ``trainer.init_from``, a run of the same data,
        space, seed and warm-up stopped after it: its weights, optimizer, schedule, RNG and rows,
        as if this run had warmed up itself with uniformly sampled children."""
        tr = self.cfg.trainer
        source = Path(tr.init_from)
        ck = RunFolder(source, True, "search").load(("epoch", "config", "net", "strategy", "w_opt", "sched", "rng",
                                                     "metrics", "history"))
        refuse = f"trainer.init_from={source}"
        if ck["epoch"] != tr.warmup_epochs:
            raise OtherRunError(f"{refuse}: that run stopped after epoch {ck['epoch']}, not after the "
                                f"{tr.warmup_epochs} warm-up epochs; start it with trainer.stop_after_warmup=true")
        uniform = strategy_class(ck["config"]["strategy"]["name"]).samples_children
        if not uniform or self.cfg.latency.reject_over_target or ck["config"]["latency"]["reject_over_target"]:
            raise OtherRunError(f"{refuse}: a shared warm-up trains uniformly sampled children; that run's "
                                f"({ck['config']['strategy']['name']}, latency.reject_over_target="
                                f"{ck['config']['latency']['reject_over_target']}) or this one's did not")
        now = config_dict(self.cfg)
        shared = WARMUP_SETTINGS + ("trainer.epochs",) * (tr.cosines == 1)    # one cosine spans the epochs
        free = [k for k in flat_keys(ck["config"]) + flat_keys(now)
                if not any(k == w or k.startswith(w + ".") for w in shared)]
        resumable = [k for k in FREE_ON_RESUME if k not in shared]     # one cosine: the epochs are the warm-up's
        diff = changed_settings(ck["config"], now, free + resumable + ["data.cache_dir"])
        if diff:
            raise OtherRunError(f"{refuse}: that run warmed up another supernet ({'; '.join(diff)})")
        self.net.load_state_dict(ck["net"])
        self.w_opt.load_state_dict(ck["w_opt"])
        self.sched.load_state_dict(ck["sched"])
        restore_rng(ck, self.device)
        if ck["config"]["strategy"] == now["strategy"]:     # the same search: its alpha too
            self.strategy.load_state_dict(ck["strategy"])
            self.history = ck["history"]
        else:   # alpha does not move during a warm-up; the sampler goes on from the warm-up's draws, so
            # that a setting the warm-up never read (the derive's skip cap, arch_lr) changes nothing else
            self.strategy.set_extra_state(ck["strategy"]["_extra_state"])
            probabilities = {k: p.detach().cpu().tolist() for k, p in self.strategy.probabilities().items()}
            self.history = [probabilities] * ck["epoch"]
        self.metrics, self.start = ck["metrics"], ck["epoch"]
        if self.world.is_main:
            log.info(f"starting from the supernet {source} warmed up in {self.start} epochs")

    def objective(self, logits: Tensor, y: Tensor) -> Tensor:
        ce = F.cross_entropy(logits, y)
        return self.hw.arch_loss(ce, self.strategy) if self.hw else ce

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch of weight steps (and arch steps after the warm-up); the mean losses and
        accuracies over the global batch."""
        cfg, tr, world, device = self.cfg, self.cfg.trainer, self.world, self.device
        train_loader, val_loader = (search_loader(d, cfg.data.batch_size, cfg.seed, world, epoch, cfg.data.num_workers)
                                    for d in (self.train_set, self.val_set))
        self.train_set.set_epoch(epoch)
        search_arch = epoch >= tr.warmup_epochs
        pinned = self.topology if epoch < min(tr.topology_warmup_epochs, tr.warmup_epochs) else {}
        arch_epoch, arch_epochs = max(epoch - tr.warmup_epochs, 0), tr.epochs - tr.warmup_epochs
        self.strategy.on_epoch_start(arch_epoch, arch_epochs)
        set_skip_dropout(self.net, tr.skip_dropout * math.exp(-3 * arch_epoch / arch_epochs) if search_arch else 0.0)
        sums = {"train_loss": 0.0, "train_acc": 0.0, "arch_loss": 0.0, "arch_acc": 0.0}
        n = n_arch = 0
        self.net.train()
        bar = tqdm(zip(train_loader, _endless(val_loader)), total=len(train_loader),
                   desc=f"epoch {epoch + 1}/{tr.epochs}" + ("" if search_arch else " (warm-up)"),
                   disable=not (tr.progress and world.is_main), leave=False, dynamic_ncols=True)
        hint = f" (its genotype: supernet-derive run={self.folder.dir})"
        for step, ((x, y), (xv, yv)) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            loss, acc = weight_step(self.net, self.step_net, self.strategy, self.w_opt, x, y, pinned, tr,
                                    lambda loss: self.folder.check_finite(loss, "weight", epoch, step, NAN_KNOBS, hint))
            sums["train_loss"] += loss
            sums["train_acc"] += acc
            n += 1
            if search_arch and (step + 1) % tr.arch_every == 0:    # after every N-th weight step
                out = self.strategy.arch_step(self.net, xv.to(device), yv.to(device), self.objective, train=(x, y),
                                              w_opt=self.w_opt)
                self.folder.check_finite(out["arch_loss"], "arch", epoch, step, NAN_KNOBS, hint)
                if self.hw:
                    self.hw.after_arch_step(self.strategy)
                n_arch += 1
                for k, v in out.items():
                    sums[k] += v
            bar.set_postfix(loss=f"{sums['train_loss'] / n:.3f}", acc=f"{sums['train_acc'] / n:.3f}",
                            H=f"{self.strategy.entropy():.3f}",
                            **({"lat_ms": f"{self.hw.expected(self.strategy).item():.3f}"} if self.hw else {}))
        bar.close()
        sums = {k: v / world.size for k, v in all_reduce_sum(sums, world).items()}
        # nan in epochs without arch steps: a run's metrics.csv keeps the columns it starts with
        return {"train_loss": sums["train_loss"] / n, "train_acc": sums["train_acc"] / n,
                "arch_loss": sums["arch_loss"] / n_arch if n_arch else math.nan,
                "arch_acc": sums["arch_acc"] / n_arch if n_arch else math.nan}

    def epoch_row(self, epoch: int, lr: float, trained: dict[str, float], t0: float) -> tuple[dict[str, Any], bool]:
        """The epoch's row of metrics.csv and whether the search stops after it: what it trained
        with and reached, the derived child's and sampled children's accuracy on the shared
        weights (every ``measure_every``-th epoch and the one it ends on), the alpha entropy,
        under a hardware target the latencies, the op histogram."""
        tr, space, strategy, hw = self.cfg.trainer, self.space, self.strategy, self.hw
        probe = child_probe(self.net, self.train_set, self.val_set, self.cfg, self.world, epoch, self.device)
        strategy.on_epoch_end(probe)
        derived = hw.derive(strategy) if hw else strategy.derive()
        row = {"epoch": epoch + 1, "lr": lr, **trained}
        stop = self.collapsed(derived)
        if (epoch + 1) % tr.measure_every == 0 or epoch + 1 == tr.epochs or stop:
            generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
            sampled = probe.sampled(space, tr.quality_children, generator)
            row.update(val_acc_derived=probe.accuracy(space.choice_of(derived)),
                       **({"val_acc_sampled": sum(sampled) / len(sampled)} if sampled else {}))
        else:       # nan: metrics.csv keeps its columns, the console line and curves.png skip it
            row.update(val_acc_derived=math.nan, **({"val_acc_sampled": math.nan} if tr.quality_children else {}))
        row.update(alpha_entropy=strategy.entropy(), seconds=time.perf_counter() - t0)
        if self.table:
            row[f"derived_{self.table_column}"] = self.table[derived][self.table_column]
        if hw:
            row.update(expected_latency_ms=hw.expected(strategy).item(), derived_latency_ms=hw.of_genotype(derived),
                       **({"latency_multiplier": hw.multiplier.value}
                          if hw.multiplier and not strategy.reward_driven else {}))
        histogram = derived.op_histogram()
        row.update({f"{group}/{op}": histogram.get(group, {}).get(op, 0) for group, op in self.op_columns})
        return row, stop

    def save(self, epoch: int) -> None:
        self.folder.save_epoch({"epoch": epoch + 1, "config": config_dict(self.cfg), "net": self.net.state_dict(),
                                "strategy": self.strategy.state_dict(),
                                "arch_opt": self.strategy.optimizer and self.strategy.optimizer.state_dict(),
                                "w_opt": self.w_opt.state_dict(), "sched": self.sched.state_dict(),
                                "history": self.history, "info": dataclasses.asdict(self.info),
                                "latency": self.hw.state_dict() if self.hw else {}},
                               self.metrics, self.device)

    def collapsed(self, derived) -> bool:
        """Whether a derived cell holds ``trainer.stop_at_skips`` skip-connects (stop early)."""
        tr = self.cfg.trainer
        skips = self.space.skip_count(derived)
        stop = bool(tr.stop_at_skips) and skips >= tr.stop_at_skips
        if stop and self.world.is_main:
            log.info(f"stopping early: a derived cell has {skips} skip_connect (trainer.stop_at_skips="
                     f"{tr.stop_at_skips}), the collapse of differentiable search to parameter-free ops")
        return stop

    def run(self) -> SearchResult:
        try:
            return self._run()
        finally:
            if self.board:
                self.board.close()
            self.folder.release()

    def _run(self) -> SearchResult:
        if self.cfg.resume:
            self.restore()
        elif self.cfg.trainer.init_from:
            self.init_from()
        self.folder.record_config(config_dict(self.cfg))
        if self.cfg.trainer.tensorboard and self.world.is_main:
            self.board = TensorBoardLog(self.folder.dir, {d.name: d.candidates for d in self.space.decisions})
        for epoch in range(self.start, self.cfg.trainer.epochs):
            t0 = time.perf_counter()
            if self.warmup_cosine(epoch - 1) and not self.warmup_cosine(epoch):
                for group in self.w_opt.param_groups:       # the search's own cosine, from trainer.lr
                    group["lr"] = self.cfg.trainer.lr
                self.sched = self.cosine(epoch)
            trained = self.train_epoch(epoch)
            lr = self.w_opt.param_groups[0]["lr"]        # the lr this epoch trained with
            self.sched.step()
            row, stop = self.epoch_row(epoch, lr, trained, t0)
            self.metrics.append(row)
            self.history.append({k: p.detach().cpu().tolist() for k, p in self.strategy.probabilities().items()})
            self.save(epoch)
            if self.board:
                self.board.epoch(row, self.history[-1])
            if stop or (self.cfg.trainer.stop_after_warmup and epoch + 1 >= self.cfg.trainer.warmup_epochs):
                break
        return self.finish()

    def finish(self) -> SearchResult:
        """Derive, measure the derived child and the supernet on the shared weights, write the
        genotype, its pictures and the curves."""
        cfg, hw, space = self.cfg, self.hw, self.space
        probe = child_probe(self.net, self.train_set, self.val_set, cfg, self.world, len(self.metrics), self.device)
        genotype, meta = derive_genotype(cfg, self.strategy, hw, measure=self.world.is_main,
                                         table=self.table, probe=probe)
        meta["shared_weights"] = trust_figures(probe, space, space.choice_of(genotype),
                                               cfg.trainer.final_quality_children,
                                               torch.Generator().manual_seed(cfg.seed))
        files = {}
        if self.world.is_main:
            sw = meta["shared_weights"]
            log.info(f"on the shared weights (BN re-estimated per child): derived child {sw['derived_acc']:.3f}, "
                     f"{sw['children']} uniformly sampled children {sw['sampled_acc_mean']:.3f} "
                     f"+- {sw['sampled_acc_sd']:.3f}")
            if not self.strategy.samples_children:
                log.info(f"({cfg.strategy.name} trains the mixture of every path, not children: a child's accuracy "
                         "on these weights says little about it; judge the derived cell by retraining it)")
            if self.table:
                figure, col = meta["benchmark"]["figures"][self.table_column], self.table_column
                log.info(f"derived {genotype.summary()}: {col} {figure:g} in {self.table.path}, "
                         f"percentile {meta['benchmark']['percentile'][col]:.2f} of its {len(self.table)} "
                         "architectures")
            if hw:
                measured = (f", {meta['measured_latency_ms']:.3f} ms measured here"
                            if "measured_latency_ms" in meta else "")
                measured += (f", {meta['published_latency_ms']:.3f} ms measured on the device ({self.table.path})"
                             if "published_latency_ms" in meta else "")
                log.info(f"derived genotype: {meta['table_latency_ms']:.3f} ms on {cfg.hardware.name} (table "
                         f"{cfg.hardware.table}, target {hw.target_ms} ms){measured}")
            files = write_outputs(genotype, space, self.history, self.metrics, self.folder.dir,
                                  epochs=len(self.metrics), **meta)
        return SearchResult(self.folder.dir, genotype, self.metrics, files, self.net, self.strategy, self.info)


def run_search(cfg: SearchConfig, out_dir: str | os.PathLike,
               data: tuple[Dataset, Dataset, DataInfo] | None = None) -> SearchResult:
    """Search with ``cfg``; ``data`` = (train split, val split, info) replaces the configured
    data set (for your own data).  Under torchrun every rank calls it; rank 0's ``out_dir``
    is the run's folder and only rank 0 writes."""
    return SearchRun(cfg, out_dir, data).run()
