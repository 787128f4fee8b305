import pytest
import torch

from supernet.ops import OPS, build_op, register_op, search_op, set_skip_dropout
from supernet.spaces.nasnet_cell.config import DARTS_OPS, NASNET_OPS


@pytest.mark.parametrize("name", sorted(set(DARTS_OPS) | set(NASNET_OPS)))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_builds_with_the_right_shape(name, stride):
    x = torch.randn(2, 6, 8, 8)
    for c_out in (6, 8):
        out = build_op(name, 6, c_out, stride, affine=False)(x)
        assert out.shape == (2, c_out, 8 // stride, 8 // stride)
    if name == "none":
        assert out.abs().sum() == 0


def test_op_sets_have_the_published_sizes():
    assert len(NASNET_OPS) == 13 and len(DARTS_OPS) == 8
    assert set(NASNET_OPS) | set(DARTS_OPS) <= set(OPS)


def test_registry_errors():
    with pytest.raises(KeyError, match="registered ops"):
        build_op("conv_9x9", 4, 4, 1)
    with pytest.raises(ValueError, match="already registered"):
        register_op("sep_conv_3x3")(lambda *a: None)


def test_a_search_cells_skip_connect_drops_only_while_training_at_the_rate_set():
    net = torch.nn.Sequential(search_op("skip_connect", 4, 4, 1), search_op("sep_conv_3x3", 4, 4, 1))
    x = torch.ones(2, 4, 8, 8, dtype=torch.float64)
    skip = net[0]
    assert torch.equal(skip(x), x)                                  # p = 0: the identity, no RNG drawn
    set_skip_dropout(net, 0.5)
    assert skip.p == 0.5
    out = skip(x)
    assert set(out.unique().tolist()) == {0.0, 2.0}                 # dropped or scaled by 1 / (1 - p)
    skip.eval()
    assert torch.equal(skip(x), x)
