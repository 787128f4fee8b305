import numpy as np
import pytest

from supernet.plots import plot_accuracy_latency, plot_alpha_history, plot_genotype, plot_metrics
from supernet.spaces import build_space
from supernet.spaces.nasnet_cell.genotype import CellGenotype, Genotype
from supernet.spaces.nasnet_cell.space import CellSpace
from supernet.spaces.proxyless_chain.config import ChainSpaceConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OPS = ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"]


def assert_png(path, min_bytes=1000):
    assert path.exists()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > min_bytes
    assert not list(path.parent.glob("*.tmp.png"))   # the atomic write left nothing behind


def genotype(num_nodes):
    """A chain plus skips: exercises shared inputs (both slots from one state) and deep layers."""
    nodes = tuple(((OPS[(i + 1) % 4], i + 1), (OPS[(i + 2) % 4], 0 if i % 2 else i + 1)) for i in range(num_nodes))
    cell = CellGenotype(nodes=nodes, concat=tuple(range(2, num_nodes + 2)))
    reduce = CellGenotype(nodes=tuple(((OPS[3], 0), (OPS[3], 1)) for _ in range(num_nodes)),
                          concat=(1,) + tuple(range(2, num_nodes + 2)))
    return Genotype(cell, reduce)


@pytest.mark.parametrize("num_nodes", [2, 4])
def test_plot_genotype(tmp_path, num_nodes):
    out = plot_genotype(genotype(num_nodes), tmp_path / "deep" / "dir" / "g.png", title="test")
    assert out == tmp_path / "deep" / "dir" / "g.png"
    assert_png(out, min_bytes=10_000)


def history_and_decisions(epochs, space=None):
    space = space or CellSpace(2, OPS)
    rng = np.random.default_rng(0)
    history = [{d.name: (p := rng.random(len(d.candidates))) / p.sum() for d in space.decisions} for _ in range(epochs)]
    return history, space.decisions


@pytest.mark.parametrize("epochs", [1, 5])
def test_plot_alpha_history(tmp_path, epochs):
    history, decisions = history_and_decisions(epochs)
    assert_png(plot_alpha_history(history, decisions, tmp_path / "a.png", title="alphas"))


def test_alpha_history_of_a_chain_in_rows(tmp_path):
    history, decisions = history_and_decisions(3, build_space(ChainSpaceConfig()))   # 21 layers: rows of 8
    assert_png(plot_alpha_history(history, decisions, tmp_path / "a.png"))


def test_alpha_history_missing_decision_is_a_gap(tmp_path):
    history, decisions = history_and_decisions(4)
    del history[0]["normal_n1_s0_op"]
    del history[2]["reduce_n0_s1_input"]
    assert_png(plot_alpha_history(history, decisions, tmp_path / "a.png"))


def test_alpha_history_inconsistent_inputs_raise(tmp_path):
    history, decisions = history_and_decisions(2)
    history[1]["normal_n0_s0_op"] = [0.5, 0.5]
    with pytest.raises(ValueError, match=r"epoch 1, 'normal_n0_s0_op' has 2 probabilities but 4 candidates"):
        plot_alpha_history(history, decisions, tmp_path / "a.png")
    history, decisions = history_and_decisions(2)
    with pytest.raises(ValueError, match="'reduce_n1_s1_op' is not one of the space's decisions"):
        plot_alpha_history(history, [d for d in decisions if d.name != "reduce_n1_s1_op"], tmp_path / "a.png")
    with pytest.raises(ValueError, match="empty history"):
        plot_alpha_history([], decisions, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


def test_plot_metrics(tmp_path):
    rows = [{"epoch": e, "train_loss": 1 / (e + 1), "val_acc": e / 10} for e in range(6)]
    rows[3].pop("val_acc")
    assert_png(plot_metrics(rows, tmp_path / "m.png", ["train_loss", "val_acc", "not_logged"]))
    assert_png(plot_metrics(rows, tmp_path / "none.png", ["not_logged"]))


def test_plot_accuracy_latency(tmp_path):
    points = [{"latency_ms": 1.0 + i, "accuracy": 0.5 + 0.04 * (i % 5), "group": "search" if i % 2 else "random",
               "label": f"a{i}"} for i in range(10)]
    assert_png(plot_accuracy_latency(points, tmp_path / "p.png", front=[0, 1, 2, 3, 4]))
    plain = [{"latency_ms": 2.0, "accuracy": 0.7}, {"latency_ms": 3.0, "accuracy": 0.8}]
    assert_png(plot_accuracy_latency(plain, tmp_path / "q.png"))
    assert_png(plot_accuracy_latency(points, tmp_path / "c.png", curves=True))


def test_overwrite_existing(tmp_path):
    path = tmp_path / "m.png"
    path.write_bytes(b"stale")
    assert_png(plot_metrics([{"loss": 1.0}], path, ["loss"]))
