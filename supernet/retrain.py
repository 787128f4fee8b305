"""Retrain a genotype from scratch with the recipe of the NASNet/DARTS papers: ScheduledDropPath,
cutout (``data.cutout``), the auxiliary loss, label smoothing (ImageNet), a cosine schedule,
gradient clipping, weight decay, optionally an EMA of the weights; channels_last, and bf16
autocast on a GPU.  Optimizer, schedule and EMA are timm's.

Resume is exact, as in search: the checkpoint after every epoch holds weights, optimizer,
schedule, EMA and the RNG state, and the loader reshuffles from ``(seed, epoch)``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .config import RetrainConfig, config_dict
from .cost import count_parameters, multiply_adds
from .data import DataInfo, PerSampleAugment, build_dataset, make_loader
from .files import write_atomic, write_text_atomic
from .genotype_json import save_genotype
from .genotypes import resolve_genotype
from .plots import plot_metrics
from .run import OtherRunError, RunFolder, restore_rng
from .spaces.base import family_of

log = logging.getLogger(__name__)

RESULT_SCHEMA = "supernet.retrain/v1"


@dataclass
class RetrainResult:
    out_dir: Path
    summary: dict[str, Any]
    metrics: list[dict[str, float]]
    files: dict[str, Path]


class ScheduledDropPath:
    """NASNet's ScheduledDropPath: the drop probability grows linearly from 0 at the first epoch
    to ``final_prob`` at the end of training (DARTS: ``p * epoch / epochs``)."""

    def __init__(self, final_prob: float, epochs: int):
        self.final_prob, self.epochs = final_prob, epochs

    def __call__(self, epoch: int) -> float:
        return self.final_prob * epoch / self.epochs


def build_model(cfg: RetrainConfig, genotype: Any, info: DataInfo) -> nn.Module:
    """The network ``genotype``'s family retrains it in: a cell genotype in the configured macro
    network (model.form, layers, channels, auxiliary head), a chain genotype as itself."""
    return family_of(genotype).retrain_network(genotype, cfg.model, info)


@torch.no_grad()
def loss_and_accuracy(net: torch.nn.Module, loader, device: torch.device, autocast) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in eval mode (running BN statistics, no drop path)."""
    net.eval()
    loss = correct = total = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with autocast():
            logits = net(x).float()
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    return loss / max(total, 1), correct / max(total, 1)


# what may change when a retrain is resumed (where and how it runs; the genotype's name, as long
# as it names the genotype the run trains)
FREE_ON_RESUME = ("resume", "genotype", "data.root", "data.download", "data.num_workers", "trainer.device",
                  "trainer.threads", "trainer.progress")


class RetrainRun:
    """One retrain: everything it holds while it runs, and its steps (set up, restore, one
    epoch, its row, save, finish)."""

    def __init__(self, cfg: RetrainConfig, out_dir: str | os.PathLike, data=None):
        tr = cfg.trainer
        self.cfg, self.folder = cfg, RunFolder(out_dir, cfg.resume, "retrain")
        if tr.threads:
            torch.set_num_threads(tr.threads)
        self.genotype = resolve_genotype(cfg.genotype)  # a bad name or file fails before any data or file
        self.folder.claim_for(lambda: self._build(data))

    def _build(self, data) -> None:
        """Everything a claimed run holds: data, network, optimizer, schedule, EMA."""
        cfg, tr = self.cfg, self.cfg.trainer
        self.device = torch.device(tr.device)
        torch.manual_seed(cfg.seed)
        if data is None:
            train_set, self.info = build_dataset(cfg.data, train=True, augment=True)
            self.test_set, _ = build_dataset(cfg.data, train=False, augment=False)
        else:
            train_set, self.test_set, self.info = data
        self.train_set = PerSampleAugment(train_set, cfg.seed)
        self.memory_format = torch.channels_last if tr.channels_last else torch.contiguous_format
        self.net = build_model(cfg, self.genotype, self.info).to(self.device).to(memory_format=self.memory_format)
        self.amp = self.device.type == "cuda" and tr.amp
        # DARTS decays every weight (BN and biases too), hence no timm bias/BN filtering.
        self.opt = create_optimizer_v2(self.net, opt=tr.optimizer, lr=tr.lr, weight_decay=tr.weight_decay,
                                       momentum=tr.momentum, filter_bias_and_bn=False)
        self.sched, _ = create_scheduler_v2(self.opt, sched=tr.sched, num_epochs=tr.epochs, min_lr=tr.lr_min,
                                            warmup_epochs=tr.warmup_epochs, decay_epochs=tr.decay_epochs,
                                            decay_rate=tr.decay_rate)
        self.ema = ModelEmaV3(self.net, decay=tr.ema_decay) if tr.ema else None
        self.drop_schedule = ScheduledDropPath(cfg.model.drop_path_prob, tr.epochs)
        self.test_loader = make_loader(self.test_set, cfg.data.batch_size, False, None, cfg.data.num_workers)
        self.metrics: list[dict[str, float]] = []
        self.start = 0

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def restore(self) -> None:
        """Continue from the checkpoint: the same genotype and settings (FREE_ON_RESUME aside)."""
        ck = self.folder.load(("epoch", "config", "genotype", "net", "opt", "sched", "rng", "metrics")
                              + (("ema",) if self.ema is not None else ()))
        self.folder.refuse_changes(ck["config"], config_dict(self.cfg), FREE_ON_RESUME)
        if ck["genotype"] != self.genotype.to_dict():
            raise OtherRunError(f"{self.folder.checkpoint} trains another genotype than {self.cfg.genotype!r}; "
                                "resume=true continues a run with the genotype it started with. Start a new run "
                                "folder for this one")
        self.net.load_state_dict(ck["net"])
        self.opt.load_state_dict(ck["opt"])
        self.sched.load_state_dict(ck["sched"])
        if self.ema is not None:
            self.ema.load_state_dict(ck["ema"])
        restore_rng(ck, self.device)
        self.metrics, self.start = ck["metrics"], ck["epoch"]
        log.info(f"resuming {self.folder.dir} after epoch {self.start}")

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, tr, net = self.cfg, self.cfg.trainer, self.net
        loader_gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        self.train_set.set_epoch(epoch)
        # drop_last: a trailing batch of one image would break BatchNorm in training.
        train_loader = make_loader(self.train_set, cfg.data.batch_size, True, loader_gen, cfg.data.num_workers,
                                   drop_last=True)
        net.drop_path_prob = self.drop_schedule(epoch)
        net.train()
        loss_sum = acc_sum = 0.0
        n = 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{tr.epochs}", disable=not tr.progress, leave=False,
                   dynamic_ncols=True)
        for step, (x, y) in enumerate(bar):
            x, y = x.to(self.device, memory_format=self.memory_format), y.to(self.device)
            with self.autocast():
                logits, aux = net.forward_with_aux(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=tr.label_smoothing)
                if aux is not None:
                    loss = loss + cfg.model.auxiliary_weight * F.cross_entropy(
                        aux.float(), y, label_smoothing=tr.label_smoothing)
            self.folder.check_finite(loss.item(), "training", epoch, step, "trainer.lr or a tighter trainer.grad_clip")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), tr.grad_clip)
            self.opt.step()
            if self.ema is not None:
                self.ema.update(net)
            n += 1
            loss_sum += loss.item()
            acc_sum += (logits.argmax(1) == y).float().mean().item()
            bar.set_postfix(loss=f"{loss_sum / n:.3f}", acc=f"{acc_sum / n:.3f}")
        bar.close()
        return {"epoch": epoch + 1, "lr": self.opt.param_groups[0]["lr"], "drop_path_prob": net.drop_path_prob,
                "train_loss": loss_sum / max(n, 1), "train_acc": acc_sum / max(n, 1)}

    def test(self, row: dict[str, float]) -> None:
        """The epoch's test figures (and its EMA's) into ``row``."""
        for prefix, net in (("", self.net), ("ema_", self.ema and self.ema.module)):
            if net is not None:
                row[f"{prefix}test_loss"], row[f"{prefix}test_acc"] = loss_and_accuracy(net, self.test_loader,
                                                                                      self.device, self.autocast)

    def save(self, epoch: int) -> None:
        self.folder.save_epoch({"epoch": epoch + 1, "config": config_dict(self.cfg),
                                "genotype": self.genotype.to_dict(), "net": self.net.state_dict(),
                                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                                **({"ema": self.ema.state_dict()} if self.ema is not None else {})},
                               self.metrics, self.device)

    def run(self) -> RetrainResult:
        try:
            return self._run()
        finally:
            self.folder.release()

    def _run(self) -> RetrainResult:
        if self.cfg.resume:
            self.restore()
        self.folder.record_config(config_dict(self.cfg))
        for epoch in range(self.start, self.cfg.trainer.epochs):
            t0 = time.perf_counter()
            row = self.train_epoch(epoch)
            self.sched.step(epoch + 1)
            self.test(row)
            row["seconds"] = time.perf_counter() - t0
            self.metrics.append(row)
            self.save(epoch)
        return self.finish()

    def finish(self) -> RetrainResult:
        """model.pt, genotype.json (with the network it trained), curves.png, result.json."""
        cfg, genotype, info, out_dir, metrics = self.cfg, self.genotype, self.info, self.folder.dir, self.metrics
        shape = (1, info.in_channels, info.image_size, info.image_size)
        network = family_of(genotype).network_record(genotype, cfg.model, info)
        summary = {"schema": RESULT_SCHEMA, "genotype": str(cfg.genotype), "form": network["form"],
                   "layers": network["layers"], "init_channels": network["init_channels"], "epochs": len(metrics),
                   "test_acc": metrics[-1]["test_acc"] if metrics else None,
                   "ema_test_acc": metrics[-1].get("ema_test_acc") if metrics else None,
                   "params": count_parameters(self.net), "multiply_adds": multiply_adds(self.net, shape),
                   "input_shape": list(shape), "network": network}
        files = {"metrics": out_dir / "metrics.csv", "checkpoint": self.folder.checkpoint,
                 "model": _save_weights(self.net, out_dir / "model.pt"),
                 "genotype": save_genotype(genotype, out_dir / "genotype.json", source=str(cfg.genotype),
                                           network=summary["network"]),
                 "curves": plot_metrics(metrics, out_dir / "curves.png",
                                        ["train_loss", "test_loss", "train_acc", "test_acc", "ema_test_acc"])}
        files["result"] = write_text_atomic(out_dir / "result.json", json.dumps(summary, indent=2) + "\n")
        return RetrainResult(out_dir, summary, metrics, files)


def run_retrain(cfg: RetrainConfig, out_dir: str | os.PathLike,
                data: tuple[Dataset, Dataset, DataInfo] | None = None) -> RetrainResult:
    """Train ``cfg.genotype`` from scratch; ``data`` = (train set, test set, info) replaces the
    configured data set.  Writes config.yaml, metrics.csv, checkpoint.pt (every epoch), model.pt
    (final weights, loadable by ``timm.create_model(..., checkpoint_path=...)``), genotype.json,
    curves.png and result.json (accuracy, parameters, multiply-adds)."""
    return RetrainRun(cfg, out_dir, data).run()


def _save_weights(net: torch.nn.Module, path: Path) -> Path:
    """The inference network's bare state dict (contiguous CPU tensors, no auxiliary head): what
    ``timm.create_model(..., checkpoint_path=...)`` loads into a model built without the head."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()
             if not k.startswith("auxiliary_head.")}
    return write_atomic(path, lambda tmp: torch.save(state, tmp))
