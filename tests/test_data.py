"""Tests for supernet.data: offline digits, the search split, loaders and the torchvision paths
(CIFAR and image folders are faked with tiny files in tmp_path)."""
import os
import pickle

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from PIL import Image

from supernet.config import DataConfig
from supernet.data import (
    Cutout,
    DataInfo,
    DatasetNotFoundError,
    build_dataset,
    build_search_data,
    make_loader,
    search_split,
)


def test_digits_shapes_and_normalization():
    cfg = DataConfig(name="digits", image_size=16)
    train, info = build_dataset(cfg, train=True, augment=False)
    test, _ = build_dataset(cfg, train=False, augment=False)
    assert info == DataInfo(in_channels=1, num_classes=10, image_size=16)
    assert len(train) + len(test) == 1797 and len(train) == int(0.8 * 1797)
    x, y = train[0]
    assert x.shape == (1, 16, 16) and x.dtype == torch.float32 and isinstance(y, int)
    assert abs(train.images.mean().item()) < 1e-4 and abs(train.images.std().item() - 1) < 1e-4
    assert set(train.labels.tolist()) == set(range(10))
    again, _ = build_dataset(cfg, train=True, augment=False)
    assert torch.equal(again.images, train.images)  # fixed split


def test_digits_augment_cutout_and_limit():
    cfg = DataConfig(name="digits", image_size=12, cutout=4, limit=50)
    ds, info = build_dataset(cfg, train=True, augment=True)
    assert len(ds) == 50 and info.image_size == 12
    assert ds[3][0].shape == (1, 12, 12)


def test_search_split_deterministic_disjoint_sizes():
    ds, _ = build_dataset(DataConfig(limit=100), train=True, augment=False)
    a_train, a_val = search_split(ds, 0.3, seed=7)
    b_train, b_val = search_split(ds, 0.3, seed=7)
    c_train, _ = search_split(ds, 0.3, seed=8)
    assert a_train.indices == b_train.indices and a_val.indices == b_val.indices
    assert a_train.indices != c_train.indices
    assert len(a_train) == 30 and len(a_val) == 70
    assert set(a_train.indices).isdisjoint(a_val.indices)
    assert set(a_train.indices) | set(a_val.indices) == set(range(100))
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError):
            search_split(ds, bad, seed=0)


def test_build_search_data():
    cfg = DataConfig(limit=40, train_portion=0.5)
    weights, arch, info = build_search_data(cfg, seed=0)
    assert len(weights) == 20 and len(arch) == 20 and info.num_classes == 10
    assert weights[0][0].shape == arch[0][0].shape == (1, 16, 16)


def test_loader_order_reproducible():
    ds, _ = build_dataset(DataConfig(limit=64), train=True, augment=False)

    def labels(seed):
        loader = make_loader(ds, 16, shuffle=True, generator=torch.Generator().manual_seed(seed))
        return torch.cat([y for _, y in loader]).tolist()

    assert labels(3) == labels(3)
    assert labels(3) != labels(4)
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    first = [y.tolist() for _, y in make_loader(ds, 16, True, gen)]
    gen.set_state(state)  # what resume does
    assert [y.tolist() for _, y in make_loader(ds, 16, True, gen)] == first


def test_cifar_missing_names_folder(tmp_path):
    cfg = DataConfig(name="cifar10", root=str(tmp_path), download=False)
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset(cfg, train=True, augment=False)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data.download=true" in msg and "data.root=" in msg


def _fake_cifar10(root, n=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    # the real files are Python 2 pickles whose str keys torchvision reads back as str
    # (encoding="latin1"), so the keys here are "data"/"labels", not b"data"/b"labels"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


def test_cifar_loads_fake_files(tmp_path, monkeypatch):
    _fake_cifar10(tmp_path)
    # torchvision md5-checks every batch (CIFAR10._check_integrity) and the meta file
    # (_load_meta), both through the module-level check_integrity: accept any existing file
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity",
                        lambda fpath, md5=None: os.path.isfile(fpath))
    cfg = DataConfig(name="cifar10", root=str(tmp_path), cutout=8)
    train, info = build_dataset(cfg, train=True, augment=True)
    test, _ = build_dataset(cfg, train=False, augment=False)
    assert info == DataInfo(3, 10, 32)
    assert len(train) == 30 and len(test) == 6
    x, y = train[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 10


def test_imagefolder(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (20, 24), (i * 40, 40, 200)).save(tmp_path / split / cls / f"{i}.png")
    cfg = DataConfig(name="imagefolder", root=str(tmp_path), image_size=16)
    train, info = build_dataset(cfg, train=True, augment=True)
    val, _ = build_dataset(cfg, train=False, augment=False)
    assert info == DataInfo(3, 2, 16) and len(train) == len(val) == 12
    assert train[0][0].shape == val[0][0].shape == (3, 16, 16)
    limited, _ = build_dataset(DataConfig(name="imagefolder", root=str(tmp_path), limit=6), train=True, augment=False)
    assert len(limited) == 6 and {y for _, y in limited} == {0, 1}   # not the folder's first class only


def test_imagefolder_missing(tmp_path):
    cfg = DataConfig(name="imagefolder", root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=os.path.join(str(tmp_path), "train")):
        build_dataset(cfg, train=True, augment=False)
    (tmp_path / "train").mkdir()  # present but empty
    with pytest.raises(DatasetNotFoundError):
        build_dataset(cfg, train=True, augment=False)


def test_unknown_name_lists_known():
    with pytest.raises(ValueError) as err:
        build_dataset(DataConfig(name="mnist"), train=True, augment=False)
    for name in ("digits", "cifar10", "cifar100", "imagefolder"):
        assert name in str(err.value)


def test_cutout_zeros_a_square():
    img = torch.ones(3, 16, 16)
    torch.manual_seed(0)
    out = Cutout(6)(img)
    assert torch.equal(img, torch.ones(3, 16, 16))  # input untouched
    zero = out == 0
    assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
    rows, cols = zero[0].any(1).nonzero(), zero[0].any(0).nonzero()
    box = zero[0][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert box.all() and 1 <= box.shape[0] <= 6 and 1 <= box.shape[1] <= 6
    torch.manual_seed(0)
    assert torch.equal(Cutout(6)(img), out)  # seedable
    sizes = {int((Cutout(6)(torch.ones(1, 64, 64)) == 0).sum()) for _ in range(20)}
    assert 36 in sizes  # a full square away from the border
