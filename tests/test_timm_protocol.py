"""Every registered supernet timm entry keeps timm's model protocol, checked as timm's own
tests/test_models.py checks its models: forward and backward at the registered input size, the
pretrained config (pool size, first conv, classifier, data config), no classifier or no pooling
(`num_classes=0`, `reset_classifier(0, '')`), timm's train.py arguments, `features_only`,
`forward_intermediates`, fx tracing and gradient checkpointing."""
import pytest
import timm
import torch
from timm.data import resolve_data_config
from timm.models import get_pretrained_cfg_value
from timm.models._features_fx import create_feature_extractor, get_graph_node_names

import supernet  # noqa: F401  (registers the entries)
from supernet.data import CIFAR_STATS
from supernet.spaces.timm_protocol import TimmNetwork

SMALL = {"supernet_cifar": {"layers": 5, "init_channels": 8}, "supernet_mobile": {"layers": 5, "init_channels": 8},
         "supernet_nasbench201": {"init_channels": 8, "cells_per_stage": 1}, "supernet_chain": {}}
ENTRIES = timm.list_models("supernet_*")


def _model(name, **kwargs):
    torch.manual_seed(0)
    return timm.create_model(name, **SMALL[name], **kwargs)


def _input(name, batch=2):
    return torch.randn(batch, *get_pretrained_cfg_value(name, "input_size"), generator=torch.Generator().manual_seed(1))


def test_every_entry_is_covered():
    assert sorted(ENTRIES) == sorted(SMALL)


@pytest.mark.parametrize("name", ENTRIES)
def test_forward_backward_and_the_pretrained_config(name):
    model = _model(name, num_classes=42, drop_rate=0.0, drop_path_rate=0.1)     # what timm's train.py passes
    model.train()
    out = model(_input(name))
    out.mean().backward()
    assert out.shape == (2, 42) and not out.isnan().any()
    assert all(p.grad is not None for p in model.parameters()), "every parameter gets a gradient"
    cfg, state = model.pretrained_cfg, model.state_dict()
    assert cfg["num_classes"] == 42
    assert cfg["classifier"] + ".weight" in state and cfg["first_conv"] + ".weight" in state
    model.eval()
    x = _input(name, 1)
    features = model.forward_features(x)
    assert features.shape[-2:] == cfg["pool_size"]
    model.reset_classifier(0)
    assert model(x).shape == (1, model.num_features) == (1, model.head_hidden_size)
    model.reset_classifier(0, "")
    assert model(x).shape == features.shape                                   # the feature map, unpooled
    model.reset_classifier(7, "avg")
    assert model(x).shape == (1, 7)


@pytest.mark.parametrize("name", ENTRIES)
def test_no_classifier_at_creation_gives_the_features(name):
    x = _input(name, 1)
    embed = _model(name, num_classes=0).eval()
    assert embed(x).shape == (1, embed.num_features)
    full = _model(name).eval()
    pre_logits = full.forward_head(full.forward_features(x), pre_logits=True)
    full.reset_classifier(0)
    torch.testing.assert_close(full(x), pre_logits)
    unpooled = _model(name, num_classes=0, global_pool="").eval()
    assert unpooled(x).shape == full.forward_features(x).shape
    if isinstance(full, TimmNetwork):       # ours say so (timm's EfficientNet leaves it to the caller)
        with pytest.raises(ValueError, match="takes num_classes=0"):
            _model(name, global_pool="")
    wide = _model(name, num_classes=0, global_pool="catavgmax").eval()
    assert wide(x).shape == (1, 2 * full.num_features)


@pytest.mark.parametrize("name", ENTRIES)
def test_the_registered_config_and_the_overlay(name):
    overlay = _model(name, pretrained_cfg_overlay={"mean": (0.5, 0.5, 0.5)})
    assert overlay.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)
    assert _model(name, in_chans=1).pretrained_cfg["input_size"][0] == 1
    config = resolve_data_config({}, model=_model(name))
    if get_pretrained_cfg_value(name, "input_size")[-1] == 32:     # evaluated as the project does: no resize
        assert config["mean"] == tuple(CIFAR_STATS["cifar10"][0]) and config["crop_pct"] == 1.0
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model(name, pretrained=True)


@pytest.mark.parametrize("name", ENTRIES)
def test_features_only_and_intermediates(name):
    x = _input(name, 1)
    extractor = _model(name, features_only=True).eval()
    maps = extractor(x)
    assert [m.shape[1] for m in maps] == extractor.feature_info.channels()
    assert [x.shape[-1] // m.shape[-1] for m in maps] == extractor.feature_info.reduction()
    assert len(maps) >= 3 and extractor.feature_info.reduction()[-1] == x.shape[-1] // maps[-1].shape[-1]
    model = _model(name).eval()
    final, intermediates = model.forward_intermediates(x, indices=2)
    torch.testing.assert_close(final, model.forward_features(x))
    assert len(intermediates) == 2 and intermediates[-1].shape[1] == model.feature_info[-1]["num_chs"]
    if isinstance(model, TimmNetwork):          # every cell's entry says what its output is
        _, every = model.forward_intermediates(x)
        assert [(m.shape[1], x.shape[-1] // m.shape[-1]) for m in every] == \
            [(f["num_chs"], f["reduction"]) for f in model.feature_info]
        kept = model.prune_intermediate_layers([1])
        assert kept == [1] and len(model.cells) == 2
        assert model(x).shape == every[1].shape                 # pruned: the second cell's map, unpooled


@pytest.mark.parametrize("name", ENTRIES)
def test_fx_traces_the_whole_network(name):
    model = _model(name).eval()
    _, eval_nodes = get_graph_node_names(model)
    traced = create_feature_extractor(model, return_nodes=[eval_nodes[-1]])
    x = _input(name, 1)
    torch.testing.assert_close(next(iter(traced(x).values())), model(x))


@pytest.mark.parametrize("name", ENTRIES)
def test_gradient_checkpointing_gives_the_same_gradients(name):
    grads = []
    for checkpointing in (False, True):
        model = _model(name).double().train()
        model.set_grad_checkpointing(checkpointing)
        torch.manual_seed(2)
        model(_input(name).double()).square().mean().backward()
        grads.append([p.grad for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
