"""The search loop: weight steps on the train split, arch steps on the val split, a
checkpoint after every epoch, then derive.

Resume is exact: the checkpoint holds weights, alphas, both optimizers, the schedule, the
RNG states and the history, and the loaders reshuffle from ``(seed, epoch)``.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import SearchConfig, space_config
from .data import DataInfo, build_search_data
from .decisions import SearchSpace
from .derive import derive_genotype, write_outputs
from .distributed import World, all_reduce_sum, average_gradients, convert_batchnorm, init_world
from .evaluate import evaluate
from .gates import child_gates
from .latency.target import hardware_target
from .runlog import format_row, write_csv
from .spaces import build_space
from .strategies import Strategy, build_strategy, strategy_config


class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class SearchResult:
    out_dir: Path
    genotype: Any                    # a cell Genotype or a ChainGenotype
    metrics: list[dict[str, float]]
    files: dict[str, Path]           # empty on ranks other than 0
    net: torch.nn.Module
    strategy: Strategy


def config_dict(cfg: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def config_from_dict(d: dict[str, Any]) -> SearchConfig:
    """A checkpoint's config, typed again: the space and strategy configs by their names."""
    d = dict(d)
    space, strategy = space_config(d.pop("space")), d.pop("strategy")
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SearchConfig), d))
    cfg.space = space
    cfg.strategy = strategy_config(strategy["name"], **{k: v for k, v in strategy.items() if k != "name"})
    return cfg


def build_space_and_strategy(cfg: SearchConfig) -> tuple[SearchSpace, Strategy]:
    space = build_space(cfg.space)
    return space, build_strategy(space, cfg.strategy)


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
        kept = f"the last good checkpoint {ckpt} is kept" if ckpt.exists() else "no epoch had finished yet"
        raise NonFiniteLossError(
            f"{what} loss is {loss.item()} at epoch {epoch + 1}, step {step}; {kept}. Lower "
            "trainer.lr or strategy.arch_lr, or tighten trainer.grad_clip, then run again with resume=true")


def _endless(loader):
    """Batches of ``loader`` again and again (itertools.cycle would keep every batch in memory)."""
    while True:
        yield from loader


def search_loader(dataset: Dataset, cfg: SearchConfig, world: World, epoch: int) -> DataLoader:
    """This rank's share of every global batch of ``data.batch_size``: the same permutation on
    every rank (seeded by seed and epoch), so N processes see what one process sees."""
    if cfg.data.batch_size % world.size:
        raise ValueError(f"data.batch_size ({cfg.data.batch_size}) must be divisible by the number "
                         f"of processes ({world.size})")
    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=True, seed=cfg.seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=cfg.data.batch_size // world.size, sampler=sampler,
                      num_workers=cfg.data.num_workers, persistent_workers=cfg.data.num_workers > 0)


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
    if tr.warmup_epochs > tr.epochs:
        raise ValueError(f"trainer.warmup_epochs ({tr.warmup_epochs}) exceeds trainer.epochs ({tr.epochs})")
    if ckpt_path.exists() and not cfg.resume:
        raise FileExistsError(f"{out_dir} already holds a search checkpoint; pass resume=true to continue "
                              "it, or choose another output folder (hydra.run.dir=...)")
    if cfg.resume and not ckpt_path.exists():
        raise FileNotFoundError(f"resume=true but {ckpt_path} does not exist; point hydra.run.dir at "
                                "the folder of the run to continue")
    torch.manual_seed(cfg.seed)
    space, strategy = build_space_and_strategy(cfg)  # config errors before any data loading
    train_set, val_set, info = data or build_search_data(cfg.data, cfg.seed)
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
        strategy.optimizer.load_state_dict(ck["arch_opt"])
        w_opt.load_state_dict(ck["w_opt"])
        sched.load_state_dict(ck["sched"])
        torch.set_rng_state(ck["rng"])
        if device.type == "cuda" and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"], device)
        history, metrics, start = ck["history"], ck["metrics"], ck["epoch"]
        if world.is_main:
            print(f"resuming {out_dir} after epoch {start}")

    hw = hardware_target(cfg, space, info, strategy)

    def objective(logits, y):
        ce = F.cross_entropy(logits, y)
        return hw.arch_loss(ce, strategy) if hw else ce

    for epoch in range(start, tr.epochs):
        t0 = time.perf_counter()
        train_loader = search_loader(train_set, cfg, world, epoch)
        val_loader = search_loader(val_set, cfg, world, epoch)
        search_arch = epoch >= tr.warmup_epochs
        strategy.on_epoch_start(epoch, tr.epochs)
        sums = {"train_loss": 0.0, "train_acc": 0.0, "arch_loss": 0.0, "arch_acc": 0.0}
        n = n_arch = 0
        net.train()
        bar = tqdm(zip(train_loader, _endless(val_loader)), total=len(train_loader),
                   desc=f"epoch {epoch + 1}/{tr.epochs}" + ("" if search_arch else " (warm-up)"),
                   disable=not (tr.progress and world.is_main), leave=False, dynamic_ncols=True)
        for step, ((x, y), (xv, yv)) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            logits = strategy.weight_forward(step_net, x)
            loss = F.cross_entropy(logits, y)
            _check_finite(loss, "weight", epoch, step, ckpt_path)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), tr.grad_clip)
            w_opt.step()
            n += 1
            sums["train_loss"] += loss.item()
            sums["train_acc"] += (logits.argmax(1) == y).float().mean().item()
            if search_arch and step % tr.arch_every == 0:
                out = strategy.arch_step(net, xv.to(device), yv.to(device), objective, train=(x, y))
                _check_finite(torch.tensor(out["arch_loss"]), "arch", epoch, step, ckpt_path)
                n_arch += 1
                for k, v in out.items():
                    sums[k] += v
            bar.set_postfix(loss=f"{sums['train_loss'] / n:.3f}", acc=f"{sums['train_acc'] / n:.3f}",
                            H=f"{strategy.entropy():.3f}",
                            **({"lat_ms": f"{hw.expected(strategy).item():.3f}"} if hw else {}))
        bar.close()
        sched.step()
        sums = {k: v / world.size for k, v in all_reduce_sum(sums, world).items()}
        strategy.on_epoch_end(net, train_loader, val_loader, device, world)
        derived = hw.derive(strategy) if hw else strategy.derive()
        derived_gates = child_gates(space.choice_of(derived))
        row = {"epoch": epoch + 1, "lr": w_opt.param_groups[0]["lr"],
               "train_loss": sums["train_loss"] / n, "train_acc": sums["train_acc"] / n}
        if n_arch:
            row.update(arch_loss=sums["arch_loss"] / n_arch, arch_acc=sums["arch_acc"] / n_arch)
        row.update(val_acc_derived=evaluate(net, val_loader, derived_gates, device, world),
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
                             "strategy": strategy.state_dict(), "arch_opt": strategy.optimizer.state_dict(),
                             "w_opt": w_opt.state_dict(), "sched": sched.state_dict(),
                             "rng": torch.get_rng_state(), "history": history, "metrics": metrics,
                             "info": dataclasses.asdict(info),
                             **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
                            ckpt_path)
            print(format_row(row))
            if stop:
                print(f"stopping early: a derived cell has {skips} skip_connect (trainer.stop_at_skips="
                      f"{tr.stop_at_skips}), the collapse of differentiable search to parameter-free ops")
        if stop:
            break

    genotype, meta = derive_genotype(cfg, strategy, hw, info, measure=world.is_main)
    files = {}
    if world.is_main:
        if hw:
            measured = f", {meta['measured_latency_ms']:.3f} ms measured here" if "measured_latency_ms" in meta else ""
            print(f"derived genotype: {meta['table_latency_ms']:.3f} ms on {cfg.hardware.name} (table "
                  f"{cfg.hardware.table}, target {hw.target_ms} ms){measured}")
        files = write_outputs(genotype, space, history, metrics, out_dir, epochs=len(metrics), **meta)
    return SearchResult(out_dir, genotype, metrics, files, net, strategy)
