"""The README and docs stay true: every command in their code blocks names a script that exists,
a hydra app's overrides compose (each group and option exists), every docs page they link exists."""
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from supernet.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the hydra apps and their config; every other script parses its own arguments
APPS = {"experiments/search.py": "search", "experiments/derive.py": "derive", "experiments/retrain.py": "retrain",
        "experiments/profile_latency.py": "profile", "experiments/validate_latency.py": "validate"}


def script_at(words: list[str]) -> int | None:
    """Where a command names its script: a ``.py`` file, or a benchmark module run with ``-m``."""
    for i, w in enumerate(words):
        if w.endswith(".py") or (i and words[i - 1] == "-m" and w.startswith("benchmarks.")):
            return i
    return None


def script_file(words: list[str]) -> str:
    w = words[script_at(words)]
    return w if w.endswith(".py") else w.replace(".", "/") + ".py"


def commands():
    """(file, command line) of every script call in a bash block, continuation lines joined."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if script_at(words) is not None:
                    found.append((doc.name, words))
    return found


def overrides(words: list[str]) -> list[str]:
    """The overrides a compose can check: placeholders, hydra's own settings and a sweep's other
    values left out."""
    kept = []
    for w in words[script_at(words) + 1:]:
        if "=" not in w or w.startswith(("hydra", "-")) or "<" in w or "..." in w:
            continue
        key, value = w.split("=", 1)
        kept.append(f"{key}={value if value.startswith('[') else value.split(',')[0]}")
    return kept


def composes(app: str, given: list[str]) -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "supernet" / "conf"), version_base="1.3"):
        compose(app, given)


def test_the_docs_hold_commands_and_a_wrong_one_would_fail():
    assert {doc for doc, _ in commands()} >= {"README.md", "usage.md", "latency.md", "nasbench201.md", "results.md",
                                              "devices.md"}
    assert script_file(["python", "-m", "benchmarks.nasbench201", "--seeds", "0"]) == "benchmarks/nasbench201.py"
    linked = {name for doc in DOCS for name in re.findall(r"docs/([\w-]+\.md)", doc.read_text())}
    assert linked and all((ROOT / "docs" / name).is_file() for name in linked), linked
    for wrong in ("strategy=gdass", "trainer.epoch=3", "trainer.epochs=ten"):
        with pytest.raises((HydraException, OmegaConfBaseException)):
            composes("search", [wrong])


@pytest.mark.parametrize("doc, words", commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v)[:60])
def test_every_command_names_a_script_and_settings_that_exist(doc, words):
    script = script_file(words)
    assert (ROOT / script).is_file(), f"{doc}: {script} does not exist"
    if script in APPS:
        composes(APPS[script], overrides(words))
