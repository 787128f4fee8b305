"""The multirun summary: every run listed (failed and unfinished too), one picture."""
import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

from supernet import summary
from supernet.files import RecordWriteError
from supernet.summary import collect_runs, summarize

ROOT = Path(__file__).resolve().parents[1]
FAST = ["trainer.epochs=1", "trainer.warmup_epochs=0", "data.limit=120", "data.image_size=8",
        "space.layers=3", "space.init_channels=4", "trainer.progress=false"]


def _fake_run(root: Path, name: str, hardware: str, latency: float | None, acc: float, epochs=2, done=2,
              target="5.0", completed=False):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        f"seed: 0\nhardware: {{name: {hardware}, target_ms: 4.0}}\nlatency: {{target_ms: {target}}}\n"
        f"strategy: {{name: proxyless}}\ntrainer: {{epochs: {epochs}}}\n")
    with (run / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, ["epoch", "val_acc_derived", "seconds"])
        w.writeheader()
        w.writerows({"epoch": e + 1, "val_acc_derived": acc, "seconds": 1.5} for e in range(done))
    if done == epochs or completed:
        meta = {"table_latency_ms": latency, "measured_latency_ms": latency and latency + 0.5,
                "cost": {"setting": "cifar", "params": 1_500_000, "multiply_adds": 250_000_000}}
        (run / "genotype.json").write_text(json.dumps({"meta": meta}))
    if completed:
        (run / "status.json").write_text(json.dumps({"status": "completed"}))


def test_summary_of_hand_made_runs(tmp_path):
    _fake_run(tmp_path, "0", "cpu", 4.0, 0.80)
    _fake_run(tmp_path, "1", "cpu", 6.0, 0.85)
    _fake_run(tmp_path, "2", "cpu", 7.0, 0.84)     # dominated by run 1
    _fake_run(tmp_path, "3", "gpu", 2.0, 0.70)
    _fake_run(tmp_path, "4", "cpu", None, 0.5, epochs=3, done=1)   # killed after one epoch
    _fake_run(tmp_path, "5", "cpu", 5.0, 0.6, epochs=3, done=2, target="null", completed=True)   # stopped early
    _fake_run(tmp_path, "6", "cpu", 5.0, 0.6, completed=True)
    (tmp_path / "6" / "status.json").write_text("")      # what a full disk used to leave
    _fake_run(tmp_path, "7", "cpu", 5.0, 0.6, epochs=3, done=1)
    failed = {"status": "failed", "error": "ValueError: a | b\n  line 2"}
    (tmp_path / "7" / "status.json").write_text(json.dumps(failed))
    rows, files = summarize(tmp_path)
    md = files["markdown"].read_text().splitlines()
    assert len(md) == 2 + 8 and all(line.count("|") == md[0].count("|") for line in md)   # one row per run
    assert "a / b line 2" in md[-1]
    rows = rows[:7]
    assert [r["status"] for r in rows] == ["finished"] * 4 + ["unfinished", "finished", "broken"]
    assert "unreadable record: JSONDecodeError" in rows[6]["error"]
    assert rows[1]["table_latency_ms"] == 6.0 and rows[1]["val_acc"] == 0.85
    assert rows[1]["measured_latency_ms"] == 6.5 and rows[1]["params_M"] == 1.5 and rows[1]["madds_M"] == 250.0
    assert rows[0]["search_s"] == 3.0 and rows[3]["hardware"] == "gpu"
    assert rows[1]["target_ms"] == 5.0 and rows[5]["target_ms"] == 4.0   # the hardware's target when unset
    table = files["markdown"].read_text()
    assert table.count("\n") == 2 + 8 and "unfinished" in table and "broken" in table
    assert files["plot"].stat().st_size > 5000


def test_parallel_multirun_with_a_failed_run_is_summarized(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "search.py"), "-m", *FAST,
                          "space.nodes=1,0", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                          f"hydra.sweep.dir={tmp_path}"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert res.returncode != 0                       # hydra reports the failed job...
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "summarize.py"), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = collect_runs(tmp_path)                    # ...and the summary lists both runs
    assert sorted(r["status"] for r in rows) == ["failed", "finished"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert "space.nodes" in failed["error"]
    assert "1 of 2 runs did not finish" in res.stdout


def test_a_full_disk_never_leaves_a_status_that_lies(tmp_path, monkeypatch, caplog):
    """The old record goes when the new one cannot be written: its block then holds the new one,
    or, when the disk stays full, the folder has none (summarize judges the run by its files)."""
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"status": "completed"}))
    real = summary.write_text_atomic

    def full_while_the_old_record_exists(target, text):
        if target.exists():
            raise RecordWriteError(errno.ENOSPC, f"could not write {target}: the disk is full")
        return real(target, text)
    monkeypatch.setattr(summary, "write_text_atomic", full_while_the_old_record_exists)
    summary.record_status(path, {"status": "failed", "error": "OSError: No space left on device"})
    assert json.loads(path.read_text())["status"] == "failed"

    def full(target, text):
        raise RecordWriteError(errno.ENOSPC, f"could not write {target}: the disk is full")
    monkeypatch.setattr(summary, "write_text_atomic", full)
    summary.record_status(path, {"status": "completed"})
    assert not path.exists() and "summarize judges the run by its files" in caplog.text
