"""The search loop: it finds a clearly best op, resumes exactly, derives from checkpoints, and
fails loudly (without losing work) on bad input."""
import json
import math

import pytest
import torch
import yaml
from conftest import blobs, tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import TensorDataset

from benchmarks.synthetic import PLANTED_OPS
from supernet import search, tensorboard_log
from supernet.data import DataInfo, TensorImageDataset
from supernet.derive import derive_run
from supernet.genotype_json import load_genotype
from supernet.run import NonFiniteLossError, OtherRunError, RunBusyError, RunFolder
from supernet.run.checkpoint import CheckpointError, load_checkpoint
from supernet.search import run_search
from supernet.spaces import build_space
from supernet.strategies.proxyless import Proxyless


@pytest.mark.parametrize("mode", ["two", "full"])
def test_search_derives_the_clearly_best_op(tmp_path, mode, noise_ops):
    cfg = tiny_config(**{"space.ops": PLANTED_OPS,
                         "trainer.epochs": 8, "strategy.mode": mode, "strategy.arch_lr": 0.1})
    data = blobs(192, seed=0), blobs(192, seed=1), DataInfo(1, 3, 8)
    result = run_search(cfg, tmp_path, data=data)
    ops = [op for cell in result.genotype.cells().values() for node in cell.nodes for op, _ in node]
    assert ops.count("skip_connect") >= len(ops) - 1, ops
    assert result.metrics[-1]["val_acc_derived"] > 0.9


def _final_state(out_dir):
    ck = load_checkpoint(out_dir / "checkpoint.pt")
    return ck["strategy"], ck["net"], ck["epoch"]


def test_resume_after_an_interrupted_epoch_matches_an_uninterrupted_run(tmp_path, tiny_data, monkeypatch):
    cfg = tiny_config(**{"trainer.epochs": 3})
    run_search(cfg, tmp_path / "straight", data=tiny_data)

    calls = {"n": 0}
    original = Proxyless.arch_step

    def dying(self, *args, **kwargs):  # killed mid-way through epoch 3
        calls["n"] += 1
        if calls["n"] == 6 + 2:  # epoch 1 is warm-up, epoch 2 has 6 arch steps (96 / 16); die in epoch 3
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Proxyless, "arch_step", dying)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, tmp_path / "killed", data=tiny_data)
    assert _final_state(tmp_path / "killed")[2] == 2
    monkeypatch.setattr(Proxyless, "arch_step", original)
    cfg.resume = True
    run_search(cfg, tmp_path / "killed", data=tiny_data)

    a_strategy, a_net, a_epoch = _final_state(tmp_path / "straight")
    b_strategy, b_net, b_epoch = _final_state(tmp_path / "killed")
    assert a_epoch == b_epoch == 3
    for k in a_strategy:
        if k.startswith("alphas."):
            assert torch.equal(a_strategy[k], b_strategy[k]), k
    for k in a_net:
        assert torch.allclose(a_net[k].float(), b_net[k].float(), atol=1e-6), k


def test_metrics_csv_never_lists_an_epoch_the_checkpoint_does_not_hold(tmp_path, tiny_data, monkeypatch):
    from supernet.run import folder as run
    saves = {"n": 0}
    original = run.save_checkpoint

    def full_disk_at_epoch_2(state, path):
        saves["n"] += 1
        if saves["n"] == 2:
            raise OSError(28, "No space left on device")
        return original(state, path)

    monkeypatch.setattr(run, "save_checkpoint", full_disk_at_epoch_2)
    with pytest.raises(OSError, match="No space left"):
        run_search(tiny_config(**{"trainer.epochs": 3}), tmp_path / "run", data=tiny_data)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) - 1 == _final_state(tmp_path / "run")[2] == 1


def test_arch_step_after_every_nth_weight_step(tmp_path, tiny_data, monkeypatch):
    calls = []
    original = Proxyless.arch_step
    monkeypatch.setattr(Proxyless, "arch_step", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    result = run_search(tiny_config(**{"trainer.epochs": 2, "trainer.warmup_epochs": 0, "trainer.arch_every": 4}),
                        tmp_path, data=tiny_data)
    assert len(calls) == 2 * (6 // 4)   # 6 weight steps an epoch: one arch step, after the 4th (ProxylessNAS)
    assert "arch_loss" in result.metrics[-1]


def test_resuming_a_finished_search_writes_the_figures_it_wrote(tmp_path, tiny_data):
    """A finished run resumed with its settings derives and measures again, with the same
    figures: the final measurement's BN crops follow the run's epoch, not the last one loaded."""
    x, y = tiny_data[0].tensors
    noisy = TensorImageDataset(x, y, transform=lambda image: image + torch.randn_like(image))
    data = noisy, tiny_data[1], tiny_data[2]
    cfg = tiny_config(**{"trainer.epochs": 2})
    run_search(cfg, tmp_path, data=data)
    wrote = json.loads((tmp_path / "genotype.json").read_text())
    cfg.resume = True
    run_search(cfg, tmp_path, data=data)
    assert json.loads((tmp_path / "genotype.json").read_text()) == wrote


def test_resume_refuses_the_checkpoint_of_another_search(tmp_path, tiny_data):
    run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0}), tmp_path, data=tiny_data)
    other = tiny_config(**{"trainer.epochs": 2, "trainer.warmup_epochs": 0, "space.nodes": 3})
    other.resume = True
    with pytest.raises(CheckpointError, match="belongs to another search.*space.nodes: 2 -> 3"):
        run_search(other, tmp_path, data=tiny_data)
    longer = tiny_config(**{"trainer.epochs": 2, "trainer.warmup_epochs": 0})   # the same search, more epochs
    longer.resume = True
    assert len(run_search(longer, tmp_path, data=tiny_data).metrics) == 2


def test_derive_from_checkpoint_writes_a_valid_genotype(tmp_path, tiny_data):
    cfg = tiny_config(**{"trainer.epochs": 2})
    result = run_search(cfg, tmp_path / "run", data=tiny_data)
    genotype, files = derive_run(tmp_path / "run" / "checkpoint.pt", tmp_path / "derived")
    assert genotype == result.genotype
    loaded = load_genotype(files["genotype"])
    assert loaded == genotype
    for cell in loaded.cells().values():
        assert cell.num_nodes == cfg.space.nodes
        for i, node in enumerate(cell.nodes):
            assert len(node) == 2
            assert all(0 <= src < i + 2 and op != "none" for op, src in node)
    # a run of an older version, whose strategy had an option that no longer exists, still derives
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    state["config"]["strategy"]["unrolled_lr"] = 0.01
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    with pytest.warns(UserWarning, match=r"\['unrolled_lr'\] no longer exist"):
        assert derive_run(tmp_path / "run", tmp_path / "old")[0] == genotype
    for key in ("cells", "alphas", "curves"):
        assert files[key].stat().st_size > 1000


def test_existing_checkpoint_is_never_overwritten_without_resume(tmp_path, tiny_data):
    cfg = tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0})
    run_search(cfg, tmp_path, data=tiny_data)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=true"):
        run_search(cfg, tmp_path, data=tiny_data)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_derive_warns_when_alpha_was_never_trained(tmp_path, tiny_data):
    cfg = tiny_config(**{"trainer.epochs": 3, "trainer.warmup_epochs": 3})
    run_search(cfg, tmp_path, data=tiny_data)
    with pytest.warns(UserWarning, match="within its 3 warm-up epochs: alpha has not been trained"):
        derive_run(tmp_path, tmp_path / "again")


def test_corrupted_checkpoint_gives_a_clear_error(tmp_path, tiny_data):
    cfg = tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0})
    run_search(cfg, tmp_path, data=tiny_data)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupted"):
        derive_run(tmp_path)
    cfg.resume = True
    with pytest.raises(CheckpointError, match="corrupted"):
        run_search(cfg, tmp_path, data=tiny_data)
    assert (tmp_path / "genotype.json").exists()  # what the run had written is untouched


def test_nan_loss_stops_with_a_clear_error(tmp_path, tiny_data):
    train, val, info = tiny_data
    x, y = train.tensors
    bad = TensorDataset(torch.full_like(x, float("nan")), y)
    with pytest.raises(NonFiniteLossError, match="weight loss is nan at epoch 1.*no epoch had finished"):
        run_search(tiny_config(), tmp_path, data=(bad, val, info))


def test_the_non_finite_loss_advice_works_when_followed(tmp_path, tiny_data):
    """trainer.lr=1e9 diverges; the error says to start a new run with a lower lr, and that run
    finishes (resume=true would continue with the old settings, and said so before it failed)."""
    cfg = tiny_config(**{"trainer.epochs": 2, "trainer.lr": 1e9, "trainer.grad_clip": 1e9})
    with pytest.raises(NonFiniteLossError, match=r"Start a new run \(another hydra.run.dir\) with a lower trainer.lr"):
        run_search(cfg, tmp_path / "first", data=tiny_data)
    cfg.trainer.lr, cfg.trainer.grad_clip = 0.05, 5.0
    assert len(run_search(cfg, tmp_path / "second", data=tiny_data).metrics) == 2


def test_bad_values_fail_before_training(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="unknown op"):
        run_search(tiny_config(**{"space.ops": ["sep_conv_3x3", "conv_9x9"]}), tmp_path, data=tiny_data)
    with pytest.raises(ValueError, match="strategy.mode"):
        run_search(tiny_config(**{"strategy.mode": "three"}), tmp_path, data=tiny_data)
    with pytest.raises(ValueError, match="warmup_epochs"):
        run_search(tiny_config(**{"trainer.warmup_epochs": 9}), tmp_path, data=tiny_data)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_resume_runs_the_search_it_continues(tmp_path, tiny_data):
    """Changed settings are refused by name (the saved record untouched); more epochs re-plan the
    cosine schedule from the lr the run is at down to lr_min; config.yaml records what ran."""
    cfg = tiny_config(**{"trainer.epochs": 3})
    run_search(cfg, tmp_path, data=tiny_data)
    record = (tmp_path / "config.yaml").read_text()
    cfg.resume = True
    for key, value in (("trainer.lr", 0.1), ("trainer.arch_every", 2), ("seed", 1)):
        changed = tiny_config(**{"trainer.epochs": 3, key: value, "resume": True})
        with pytest.raises(OtherRunError, match=f"{key}: .* -> {value}"):
            run_search(changed, tmp_path, data=tiny_data)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    del saved["config"]["latency"]["derive_floor"]      # a run from before the setting existed resumes
    torch.save(saved, tmp_path / "checkpoint.pt")
    with pytest.raises(OtherRunError, match="trained 3 epochs already"):
        run_search(tiny_config(**{"trainer.epochs": 2, "resume": True}), tmp_path, data=tiny_data)
    assert (tmp_path / "config.yaml").read_text() == record
    longer = tiny_config(**{"trainer.epochs": 6, "resume": True})
    lrs = [row["lr"] for row in run_search(longer, tmp_path, data=tiny_data).metrics]
    assert len(lrs) == 6 and lrs[3] == pytest.approx(cfg.trainer.lr_min)   # the lr it was at: the end of 3
    assert all(a >= b - 1e-12 for a, b in zip(lrs, lrs[1:]))               # never rises again
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["trainer"]["epochs"] == 6


def test_channels_last_is_how_a_search_computes_not_what_it_searches(tmp_path, tiny_data):
    """The supernet's convolutions run channels-last by default; the format may change on resume."""
    result = run_search(tiny_config(**{"trainer.epochs": 2}), tmp_path, data=tiny_data)
    def strides(net, fmt):     # size-1 dims make both formats "contiguous": compare the strides themselves
        return [(p.stride(), p.contiguous(memory_format=fmt).stride()) for p in net.parameters() if p.dim() == 4]

    assert all(a == b for a, b in strides(result.net, torch.channels_last))
    longer = tiny_config(**{"trainer.epochs": 3, "trainer.channels_last": False, "resume": True})
    result = run_search(longer, tmp_path, data=tiny_data)
    assert len(result.metrics) == 3 and all(a == b for a, b in strides(result.net, torch.contiguous_format))


def _rows(result):
    """A search's metrics rows, seconds aside, as JSON (nan == nan)."""
    return [json.dumps({k: v for k, v in row.items() if k != "seconds"}) for row in result.metrics]


def test_a_search_from_its_own_shared_warmup_is_the_search_it_would_have_run(tmp_path, tiny_data):
    """trainer.init_from a run stopped after the same warm-up: with the same strategy every figure
    equals the uninterrupted search's, and with another skip cap (which only derive reads) every
    loss too; another strategy starts from the warmed-up weights and the warm-up rows; a run of
    another space or warm-up is refused."""
    base = dict(**{"trainer.epochs": 3, "trainer.warmup_epochs": 2})
    whole = run_search(tiny_config(**base), tmp_path / "whole", data=tiny_data)
    warm = run_search(tiny_config(**base, **{"trainer.stop_after_warmup": True}), tmp_path / "warm", data=tiny_data)
    assert len(warm.metrics) == 2
    again = run_search(tiny_config(**base, **{"trainer.init_from": str(tmp_path / "warm")}), tmp_path / "again",
                       data=tiny_data)
    assert _rows(again) == _rows(whole)
    assert again.genotype == whole.genotype
    other = run_search(tiny_config(**base, **{"strategy.name": "gdas", "trainer.init_from": str(tmp_path / "warm")}),
                       tmp_path / "gdas", data=tiny_data)
    assert _rows(other)[:2] == _rows(warm) and len(other.metrics) == 3
    capped = run_search(tiny_config(**base, **{"strategy.max_skip": 0, "trainer.init_from": str(tmp_path / "warm")}),
                        tmp_path / "capped", data=tiny_data)     # a derive-only setting trains the same
    assert [r["train_loss"] for r in capped.metrics] == [r["train_loss"] for r in whole.metrics]
    with pytest.raises(OtherRunError, match="warmed up another supernet.*space.init_channels"):
        run_search(tiny_config(**base, **{"trainer.init_from": str(tmp_path / "warm"), "space.init_channels": 6}),
                   tmp_path / "wide", data=tiny_data)
    with pytest.raises(OtherRunError, match=r"warmed up another supernet.*trainer.epochs: 3 -> 5"):
        run_search(tiny_config(**{**base, "trainer.epochs": 5, "trainer.init_from": str(tmp_path / "warm")}),
                   tmp_path / "longer", data=tiny_data)        # one cosine spans the epochs: another warm-up
    with pytest.raises(OtherRunError, match="not after the 1 warm-up epochs"):
        run_search(tiny_config(**{"trainer.epochs": 3, "trainer.warmup_epochs": 1,
                                  "trainer.init_from": str(tmp_path / "warm")}), tmp_path / "short", data=tiny_data)


def test_two_cosines_restart_the_lr_after_the_warmup_and_share_a_warmup_across_lengths(tmp_path, tiny_data):
    """trainer.cosines=2: the warm-up's cosine ends at lr_min and the search's starts at lr again
    (ProxylessNAS); a search from that warm-up equals the uninterrupted one, and the warm-up
    serves a longer search; one cosine refuses that."""
    two = {"trainer.epochs": 4, "trainer.warmup_epochs": 2, "trainer.cosines": 2}
    whole = run_search(tiny_config(**two), tmp_path / "whole", data=tiny_data)
    lr, lr_min = tiny_config().trainer.lr, tiny_config().trainer.lr_min
    assert [row["lr"] for row in whole.metrics] == pytest.approx([lr, (lr + lr_min) / 2] * 2)
    warm = tiny_config(**two, **{"trainer.stop_after_warmup": True})
    run_search(warm, tmp_path / "warm", data=tiny_data)
    again = run_search(tiny_config(**two, **{"trainer.init_from": str(tmp_path / "warm")}), tmp_path / "again",
                       data=tiny_data)
    assert _rows(again) == _rows(whole) and again.genotype == whole.genotype
    longer = run_search(tiny_config(**{**two, "trainer.epochs": 6, "trainer.init_from": str(tmp_path / "warm")}),
                        tmp_path / "longer", data=tiny_data)
    assert [row["lr"] for row in longer.metrics[1:3]] == pytest.approx([(lr + lr_min) / 2, lr])
    with pytest.raises(OtherRunError, match="warmed up another supernet.*trainer.cosines"):
        run_search(tiny_config(**{"trainer.epochs": 4, "trainer.warmup_epochs": 2,
                                  "trainer.init_from": str(tmp_path / "warm")}), tmp_path / "one", data=tiny_data)
    with pytest.raises(ValueError, match="trainer.cosines must be 1"):
        run_search(tiny_config(**{"trainer.cosines": 3}), tmp_path / "three", data=tiny_data)


def test_tensorboard_holds_the_rows_and_alpha_of_every_epoch_once(tmp_path, tiny_data, monkeypatch):
    """trainer.tensorboard=true: metrics.csv's figures and every candidate's probability as
    scalars, each epoch once across a resume; without the package it refuses at start."""
    cfg = tiny_config(**{"trainer.epochs": 2, "trainer.tensorboard": True})
    run_search(cfg, tmp_path, data=tiny_data)
    cfg.trainer.epochs, cfg.resume = 3, True
    result = run_search(cfg, tmp_path, data=tiny_data)
    board = EventAccumulator(str(tmp_path / "tensorboard"))
    board.Reload()
    logged = [(e.step, e.value) for e in board.Scalars("train_loss")]
    assert logged == [(row["epoch"], pytest.approx(row["train_loss"])) for row in result.metrics]
    alpha = [t for t in board.Tags()["scalars"] if t.startswith("alpha/")]
    assert len(alpha) == sum(len(d.candidates) for d in build_space(cfg.space).decisions)
    monkeypatch.setattr(tensorboard_log.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"needs the tensorboard package"):
        run_search(tiny_config(**{"trainer.tensorboard": True}), tmp_path / "none", data=tiny_data)
    assert not (tmp_path / "none").exists()


def test_metrics_csv_keeps_the_columns_it_starts_with(tmp_path, tiny_data):
    """A file written during the warm-up has the arch columns already (nan), in the same order."""
    run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 1}), tmp_path / "a", data=tiny_data)
    run_search(tiny_config(**{"trainer.epochs": 2, "trainer.warmup_epochs": 1}), tmp_path / "b", data=tiny_data)
    headers = [(tmp_path / run / "metrics.csv").read_text().splitlines()[0] for run in ("a", "b")]
    assert headers[0] == headers[1] and "arch_loss" in headers[0]
    warm = (tmp_path / "a" / "metrics.csv").read_text().splitlines()[1].split(",")
    assert warm[headers[0].split(",").index("arch_loss")] == "nan"


def test_a_second_run_into_a_folder_another_run_writes_is_refused(tmp_path, tiny_data):
    """The folder is locked while a run writes it; the lock goes with the run (also on errors)."""
    busy = RunFolder(tmp_path / "run", False, "search")
    busy.claim()                                   # another run, still writing
    with pytest.raises(RunBusyError, match="being written by another running search"):
        run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0}), tmp_path / "run", data=tiny_data)
    assert not (tmp_path / "run" / "config.yaml").exists()
    busy.release()
    with pytest.raises(ValueError):               # a run that fails after claiming lets go of the folder
        run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0, "hardware.table": "absent.yaml",
                                  "hardware.name": "x", "latency.target_ms": 1.0}), tmp_path / "run", data=tiny_data)
    result = run_search(tiny_config(**{"trainer.epochs": 1, "trainer.warmup_epochs": 0}), tmp_path / "run",
                        data=tiny_data)
    assert result.metrics and RunFolder(tmp_path / "run", True, "search").claim() is None   # released at the end


def test_skip_dropout_spares_the_warmup_and_damps_the_skips_of_the_search(tmp_path, tiny_data, monkeypatch):
    """trainer.skip_dropout: no dropout in the warm-up (shared by every search), P-DARTS's
    decaying rate from the first arch epoch on; a rate outside [0, 1) is refused."""
    rates = []
    real = search.set_skip_dropout
    monkeypatch.setattr(search, "set_skip_dropout", lambda net, p: (rates.append(p), real(net, p)))
    base = {"trainer.epochs": 4, "trainer.warmup_epochs": 2}
    plain = run_search(tiny_config(**base), tmp_path / "plain", data=tiny_data)
    dropped = run_search(tiny_config(**base, **{"trainer.skip_dropout": 0.6}), tmp_path / "dropped", data=tiny_data)
    assert rates[4:] == [0.0, 0.0, 0.6, 0.6 * math.exp(-1.5)]
    assert _rows(dropped)[:2] == _rows(plain)[:2] and dropped.metrics[2]["train_loss"] != plain.metrics[2]["train_loss"]
    with pytest.raises(ValueError, match=r"trainer.skip_dropout .* in \[0, 1\), got 1.0"):
        run_search(tiny_config(**{"trainer.skip_dropout": 1.0}), tmp_path / "bad", data=tiny_data)


def test_settings_that_cannot_work_say_which(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="space.init_channels.*must be >= 1"):
        run_search(tiny_config(**{"space.init_channels": 0}), tmp_path / "a", data=tiny_data)
    with pytest.raises(ValueError, match="strategy.arch_lr must be > 0"):
        run_search(tiny_config(**{"strategy.arch_lr": -1.0}), tmp_path / "b", data=tiny_data)


def test_a_checkpoint_holding_code_is_refused_without_advice_to_run_it(tmp_path):
    """torch's message suggests weights_only=False, which would run the file's pickle: never passed on."""
    torch.save({"format": "supernet.checkpoint/v1", "f": print},
               tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert "objects other than tensors" in str(err.value) and "weights_only" not in str(err.value)
