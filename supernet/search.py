"""The search loop: weight steps on the train split, arch steps on the val split, a
checkpoint after every epoch, then derive.

Resume is exact: the checkpoint holds weights, alphas, both optimizers, the schedule, the
RNG states and the history, and the loaders reshuffle from ``(seed, epoch)``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import SearchConfig, config_dict
from .data import DataInfo, build_search_data
from .derive import derive_genotype, write_outputs
from .distributed import World, all_reduce_sum, average_gradients, convert_batchnorm, init_world
from .evaluate import ChildProbe
from .gates import child_gates
from .latency.target import hardware_target
from .run import NonFiniteLossError, checkpoint_for
from .runlog import format_row, write_csv
from .spaces import build_space
from .spaces.base import SearchSpace, fair_children, uniform_choice
from .strategies import Strategy, build_strategy, strategy_class

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


def _check_same_search(saved: dict[str, Any], cfg: SearchConfig, ckpt: Path) -> None:
    """A resumed search must be the search that was interrupted: the same data, space and
    strategy, or its weights and alphas do not fit (or, worse, silently mean something else)."""
    now = config_dict(cfg)
    where = {"root", "download", "num_workers"}          # where and how the data is read may change
    diff = [f"{group}.{k}: {saved[group].get(k)!r} -> {v!r}" for group in ("data", "space", "strategy")
            for k, v in now[group].items() if saved[group].get(k) != v and not (group == "data" and k in where)]
    diff += [f"seed: {saved['seed']!r} -> {now['seed']!r}"] if saved["seed"] != now["seed"] else []
    if diff:
        raise CheckpointError(f"{ckpt} belongs to another search; resume=true needs the same data, space, "
                              f"strategy and seed ({'; '.join(diff)}). Start a new run folder instead")


def _check_finite(loss: torch.Tensor, what: str, epoch: int, step: int, ckpt: Path) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLossError.at(what, loss.item(), epoch, step, ckpt, "trainer.lr or strategy.arch_lr, or a "
                                    "tighter trainer.grad_clip", f" (its genotype: python experiments/derive.py "
                                    f"run={ckpt.parent})")


def _endless(loader):
    """Batches of ``loader`` again and again (itertools.cycle would keep every batch in memory)."""
    while True:
        yield from loader


def weight_gradients(net, strategy: Strategy, x: Tensor, y: Tensor, pinned: dict[str, int],
                     strict_fairness: bool) -> tuple[float, float]:
    """Accumulate the weight step's gradients (the caller clips and steps) and return its loss
    and accuracy: the strategy's child, or FairNAS's children (``strict_fairness``: every
    candidate of every decision once, their mean loss), with ``pinned`` decisions held."""
    children = fair_children(strategy.space, strategy.generator) if strict_fairness else [None]
    loss_sum = acc_sum = 0.0
    for choice in children:
        logits = net(x, child_gates({**choice, **pinned})) if choice else strategy.weight_forward(net, x, pinned)
        loss = F.cross_entropy(logits, y)
        if not torch.isfinite(loss):
            return loss.item(), 0.0
        (loss / len(children)).backward()
        loss_sum += loss.item()
        acc_sum += (logits.argmax(1) == y).float().mean().item()
    return loss_sum / len(children), acc_sum / len(children)


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


def search_loader(dataset: Dataset, batch_size: int, seed: int, world: World, epoch: int,
                  num_workers: int = 0) -> DataLoader:
    """This rank's share of every global batch of ``batch_size`` (divisible by the number of
    processes): the same permutation on every rank (seeded by seed and epoch), so N processes
    see what one process sees."""
    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size // world.size, sampler=sampler, num_workers=num_workers)


def child_probe(net: torch.nn.Module, train_set: Dataset, val_set: Dataset, cfg: SearchConfig, world: World,
                epoch: int, device) -> ChildProbe:
    """How a search measures its children in ``epoch``: one batch of ``trainer.bn_images``
    train images re-estimates BN, the whole val split scores."""
    loaders = (search_loader(d, cfg.trainer.bn_images, cfg.seed, world, epoch, cfg.data.num_workers)
               for d in (train_set, val_set))
    return ChildProbe(net, *loaders, device, world)


def run_search(cfg: SearchConfig, out_dir: str | os.PathLike,
               data: tuple[Dataset, Dataset, DataInfo] | None = None) -> SearchResult:
    """Search with ``cfg``; ``data`` = (train split, val split, info) replaces the configured
    data set (for your own data).  Under torchrun every rank calls it; rank 0's ``out_dir``
    is the run's folder and only rank 0 writes."""
    world, device = init_world(torch.device(cfg.trainer.device))
    if world.distributed:
        shared = [str(out_dir)]
        torch.distributed.broadcast_object_list(shared, src=0)
        out_dir = shared[0]
    out_dir = Path(out_dir)
    if world.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    tr = cfg.trainer
    if tr.threads:
        torch.set_num_threads(tr.threads)
    if tr.arch_every < 1:
        raise ValueError(f"trainer.arch_every must be >= 1 (an arch step every N weight steps), got {tr.arch_every}")
    if tr.final_quality_children < 1:
        raise ValueError(f"trainer.final_quality_children must be >= 1, got {tr.final_quality_children}")
    for name, size in (("data.batch_size", cfg.data.batch_size), ("trainer.bn_images", tr.bn_images)):
        if size < 1 or size % world.size:
            raise ValueError(f"{name} ({size}) must be a positive multiple of the number of processes ({world.size})")
    if tr.warmup_epochs > tr.epochs:
        raise ValueError(f"trainer.warmup_epochs ({tr.warmup_epochs}) exceeds trainer.epochs ({tr.epochs})")
    checkpoint_for(out_dir, cfg.resume, "search")
    torch.manual_seed(cfg.seed)
    space, strategy_cls = build_space(cfg.space), strategy_class(cfg.strategy.name)  # config errors before data
    if tr.strict_fairness and not strategy_cls.samples_children:
        raise ValueError(f"trainer.strict_fairness samples the weight step's children, and {strategy_cls.name} trains "
                         "the mixture of every path instead: use it with a sampling strategy")
    train_set, val_set, info = data or build_search_data(cfg.data, cfg.seed)
    hw = hardware_target(cfg, space, info, strategy_cls)
    strategy = build_strategy(space, cfg.strategy, **(hw.strategy_parts if hw else {}))
    strategy.seed(cfg.seed)
    net = space.supernet(info)
    if world.distributed:
        convert_batchnorm(net, device)
        average_gradients(strategy.parameters())
    net.to(device), strategy.to(device)
    # The weight step goes through DDP; arch steps use the plain module (their gradients reach
    # only the strategy's parameters, averaged by the hooks).
    step_net = DistributedDataParallel(net, find_unused_parameters=True) if world.distributed else net
    w_opt = torch.optim.SGD(net.parameters(), tr.lr, momentum=tr.momentum, weight_decay=tr.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, tr.epochs, eta_min=tr.lr_min)
    history: list[dict[str, list[float]]] = []
    metrics: list[dict[str, float]] = []
    start = 0
    if cfg.resume:
        ck = load_checkpoint(ckpt_path, ("epoch", "config", "net", "strategy", "arch_opt", "w_opt", "sched", "rng"))
        _check_same_search(ck["config"], cfg, ckpt_path)
        net.load_state_dict(ck["net"])
        strategy.load_state_dict(ck["strategy"])
        if strategy.optimizer is not None:
            strategy.optimizer.load_state_dict(ck["arch_opt"])
        w_opt.load_state_dict(ck["w_opt"])
        sched.load_state_dict(ck["sched"])
        torch.set_rng_state(ck["rng"])
        if device.type == "cuda" and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"], device)
        history, metrics, start = ck["history"], ck["metrics"], ck["epoch"]
        if world.is_main:
            log.info(f"resuming {out_dir} after epoch {start}")

    def objective(logits, y):
        ce = F.cross_entropy(logits, y)
        return hw.arch_loss(ce, strategy) if hw else ce

    # The topology warm-up holds every input decision at one child's (drawn from the seed), so
    # the first weight steps train the op modules on one fixed topology before every decision
    # varies (progressive shrinking's order: one network first, then the space).
    seeded = uniform_choice(space, torch.Generator().manual_seed(cfg.seed), allow_none=False)
    topology = {d.name: seeded[d.name] for d in space.decisions if d.kind == "input"}
    for epoch in range(start, tr.epochs):
        t0 = time.perf_counter()
        train_loader, val_loader = (search_loader(d, cfg.data.batch_size, cfg.seed, world, epoch, cfg.data.num_workers)
                                    for d in (train_set, val_set))
        probe = child_probe(net, train_set, val_set, cfg, world, epoch, device)
        search_arch = epoch >= tr.warmup_epochs
        pinned = topology if epoch < min(tr.topology_warmup_epochs, tr.warmup_epochs) else {}
        strategy.on_epoch_start(max(epoch - tr.warmup_epochs, 0), tr.epochs - tr.warmup_epochs)
        sums = {"train_loss": 0.0, "train_acc": 0.0, "arch_loss": 0.0, "arch_acc": 0.0}
        n = n_arch = 0
        net.train()
        bar = tqdm(zip(train_loader, _endless(val_loader)), total=len(train_loader),
                   desc=f"epoch {epoch + 1}/{tr.epochs}" + ("" if search_arch else " (warm-up)"),
                   disable=not (tr.progress and world.is_main), leave=False, dynamic_ncols=True)
        for step, ((x, y), (xv, yv)) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            w_opt.zero_grad(set_to_none=True)
            loss, acc = weight_gradients(step_net, strategy, x, y, pinned, tr.strict_fairness)
            _check_finite(torch.tensor(loss), "weight", epoch, step, ckpt_path)
            sums["train_loss"] += loss
            sums["train_acc"] += acc
            torch.nn.utils.clip_grad_norm_(net.parameters(), tr.grad_clip)
            w_opt.step()
            n += 1
            if search_arch and step % tr.arch_every == 0:
                out = strategy.arch_step(net, xv.to(device), yv.to(device), objective, train=(x, y), w_opt=w_opt)
                _check_finite(torch.tensor(out["arch_loss"]), "arch", epoch, step, ckpt_path)
                n_arch += 1
                for k, v in out.items():
                    sums[k] += v
            bar.set_postfix(loss=f"{sums['train_loss'] / n:.3f}", acc=f"{sums['train_acc'] / n:.3f}",
                            H=f"{strategy.entropy():.3f}",
                            **({"lat_ms": f"{hw.expected(strategy).item():.3f}"} if hw else {}))
        bar.close()
        lr = w_opt.param_groups[0]["lr"]        # the lr this epoch trained with
        sched.step()
        sums = {k: v / world.size for k, v in all_reduce_sum(sums, world).items()}
        strategy.on_epoch_end(probe)
        derived = hw.derive(strategy) if hw else strategy.derive()
        row = {"epoch": epoch + 1, "lr": lr,
               "train_loss": sums["train_loss"] / n, "train_acc": sums["train_acc"] / n}
        if n_arch:
            row.update(arch_loss=sums["arch_loss"] / n_arch, arch_acc=sums["arch_acc"] / n_arch)
        sampled = probe.sampled(space, tr.quality_children, torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
        row.update(val_acc_derived=probe.accuracy(space.choice_of(derived)),
                   **({"val_acc_sampled": sum(sampled) / len(sampled)} if sampled else {}),
                   alpha_entropy=strategy.entropy(), seconds=time.perf_counter() - t0)
        if hw:
            row.update(expected_latency_ms=hw.expected(strategy).item(), derived_latency_ms=hw.of_genotype(derived))
        histogram = derived.op_histogram()
        row.update({f"{cell}/{op}": count for cell, counts in histogram.items() for op, count in counts.items()})
        metrics.append(row)
        history.append({k: p.detach().cpu().tolist() for k, p in strategy.probabilities().items()})
        skips = max(counts.get("skip_connect", 0) for counts in histogram.values())
        stop = bool(tr.stop_at_skips) and skips >= tr.stop_at_skips
        if world.is_main:
            write_csv(metrics, out_dir / "metrics.csv")
            save_checkpoint({"epoch": epoch + 1, "config": config_dict(cfg), "net": net.state_dict(),
                             "strategy": strategy.state_dict(),
                             "arch_opt": strategy.optimizer and strategy.optimizer.state_dict(),
                             "w_opt": w_opt.state_dict(), "sched": sched.state_dict(),
                             "rng": torch.get_rng_state(), "history": history, "metrics": metrics,
                             "info": dataclasses.asdict(info),
                             **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
                            ckpt_path)
            log.info(format_row(row))
            if stop:
                log.info(f"stopping early: a derived cell has {skips} skip_connect (trainer.stop_at_skips="
                      f"{tr.stop_at_skips}), the collapse of differentiable search to parameter-free ops")
        if stop:
            break

    genotype, meta = derive_genotype(cfg, strategy, hw, info, measure=world.is_main)
    probe = child_probe(net, train_set, val_set, cfg, world, len(metrics), device)
    meta["shared_weights"] = trust_figures(probe, space, space.choice_of(genotype), tr.final_quality_children,
                                           torch.Generator().manual_seed(cfg.seed))
    files = {}
    if world.is_main:
        sw = meta["shared_weights"]
        log.info(f"on the shared weights (BN re-estimated per child): derived child {sw['derived_acc']:.3f}, "
              f"{sw['children']} uniformly sampled children {sw['sampled_acc_mean']:.3f} +- {sw['sampled_acc_sd']:.3f}")
        if hw:
            measured = f", {meta['measured_latency_ms']:.3f} ms measured here" if "measured_latency_ms" in meta else ""
            log.info(f"derived genotype: {meta['table_latency_ms']:.3f} ms on {cfg.hardware.name} (table "
                  f"{cfg.hardware.table}, target {hw.target_ms} ms){measured}")
        files = write_outputs(genotype, space, history, metrics, out_dir, epochs=len(metrics), **meta)
    return SearchResult(out_dir, genotype, metrics, files, net, strategy, info)
