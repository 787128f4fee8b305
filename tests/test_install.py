"""The package installs: a wheel of the project, installed without dependencies (this
environment's serve) into a folder of its own, runs its commands from any folder with the
configs and latency tables it ships."""
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_installed_elsewhere_runs_a_search_from_any_folder(tmp_path):
    source = tmp_path / "source"            # a copy: building in the checkout would write into it
    source.mkdir()
    shutil.copy(ROOT / "setup.py", source / "setup.py")
    shutil.copytree(ROOT / "supernet", source / "supernet", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", source],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "wheel").glob("supernet-*.whl"))
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], check=True,
                   capture_output=True, timeout=300)
    # -S: no .pth files, so the checkout's editable install stays out; the dependencies come from
    # this environment's site-packages, the project from the wheel
    env = {"PYTHONPATH": f"{site}:{sysconfig.get_paths()['purelib']}:{sysconfig.get_paths()['platlib']}",
           "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = [sys.executable, "-S"]
    where = subprocess.run([*python, "-c", "import supernet; print(supernet.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    res = subprocess.run([*python, site / "bin" / "supernet-search", "trainer.epochs=1", "trainer.warmup_epochs=0",
                          "data.limit=60", "trainer.progress=false", "hardware=cpu_2core", "hydra.run.dir=run"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ms on cpu_2core" in res.stdout + res.stderr and (elsewhere / "run" / "genotype.json").is_file()
