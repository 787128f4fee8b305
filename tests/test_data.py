"""Tests for supernet.data: offline digits, the search split, loaders and the torchvision paths
(CIFAR and image folders are faked with tiny files in tmp_path)."""
import logging
import os
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from PIL import Image

import supernet.data
from supernet.config import DataConfig
from supernet.data import (
    Cutout,
    DataInfo,
    DatasetNotFoundError,
    PerSampleAugment,
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
    for name in ("digits", "cifar10", "cifar100", "imagefolder", "cifar10_folder"):
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


CLASSES = ("ship", "cat", "frog")   # not in sorted order: the index must follow the sorted names


def _cifar_folder(root, per_class=4, ext="png"):
    """A tiny ``cifar10_folder`` tree: per class and split, 32x32 images of one colour per file."""
    for split in ("train", "val"):
        for c, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                colour = (60 * c + 10 * i, 255 - 40 * i, 30 + 70 * c)
                Image.new("RGB", (32, 32), colour).save(root / split / cls / f"{i:04d}.{ext}")
    return root


def _folder_cfg(tmp_path, **kw):
    return DataConfig(name="cifar10_folder", root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), **kw)


def test_cifar10_folder_classes_pixels_and_cache(tmp_path, monkeypatch, caplog):
    root = _cifar_folder(tmp_path / "data")
    (root / "train" / "cat" / "0001.png").unlink()
    # a JPEG with texture, so its decode is not one flat colour
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "train" / "cat" / "0001.jpg", quality=90)
    cfg = _folder_cfg(tmp_path)
    with caplog.at_level(logging.INFO, logger="supernet.data"):
        train, info = build_dataset(cfg, train=True, augment=False)
    assert "decoded 12 images" in caplog.text
    assert info == DataInfo(3, 3, 32) and len(train) == 12
    assert train.classes == ["cat", "frog", "ship"] and train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert train.images.dtype == torch.uint8 and train.images.shape == (12, 3, 32, 32)
    for i, rel in [(1, "cat/0001.jpg"), (5, "frog/0001.png"), (11, "ship/0003.png")]:
        with Image.open(root / "train" / rel) as img:
            expected = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)
        assert torch.equal(train.images[i], expected), rel
    x, y = train[5]
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in supernet.data.CIFAR_STATS["cifar10"])
    assert x.dtype == torch.float32 and y == 1
    assert torch.allclose(x, (train.images[5] / 255 - mean) / std)     # CIFAR's statistics, no crop
    caches = list((tmp_path / "cache").iterdir())
    assert len(caches) == 1 and caches[0].suffix == ".pt"
    assert not [p for p in root.rglob("*") if p.suffix not in (".png", ".jpg") and p.is_file()]

    def no_decode(*args):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(supernet.data, "decode_images", no_decode)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="supernet.data"):
        again, _ = build_dataset(cfg, train=True, augment=False)
    assert "from the cache" in caplog.text and torch.equal(again.images, train.images)
    # a changed listing (one image rewritten) is another key: a fresh decode, not the stale cache
    Image.new("RGB", (32, 32), (1, 2, 3)).save(root / "train" / "frog" / "0001.png")
    with pytest.raises(AssertionError, match="decoded again"):
        build_dataset(cfg, train=True, augment=False)


def test_cifar10_folder_corrupt_cache_is_rebuilt(tmp_path):
    _cifar_folder(tmp_path / "data", per_class=2)
    cfg = _folder_cfg(tmp_path)
    first, _ = build_dataset(cfg, train=False, augment=False)
    (cache,) = (tmp_path / "cache").iterdir()
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring the unreadable image cache"):
        again, _ = build_dataset(cfg, train=False, augment=False)
    assert torch.equal(again.images, first.images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_dataset(cfg, train=False, augment=False)   # the cache was rewritten: no warning
    assert torch.load(cache, weights_only=True)["images"].shape == (6, 3, 32, 32)


def test_cifar10_folder_limit_is_class_balanced(tmp_path):
    _cifar_folder(tmp_path / "data", per_class=6)
    for limit, counts in [(9, [3, 3, 3]), (7, [3, 2, 2]), (5, [2, 2, 1])]:
        ds, _ = build_dataset(_folder_cfg(tmp_path, limit=limit), train=True, augment=False)
        labels = [y for _, y in ds]
        assert len(ds) == limit and [labels.count(c) for c in range(3)] == counts
    again, _ = build_dataset(_folder_cfg(tmp_path, limit=5), train=True, augment=False)
    assert again.indices == ds.indices                          # seeded
    val, _ = build_dataset(_folder_cfg(tmp_path, limit=5), train=False, augment=False)
    assert len(val) == 18                                       # the test set is never cut


def test_cifar10_folder_augment_reproducible(tmp_path):
    _cifar_folder(tmp_path / "data", per_class=2)
    ds, _ = build_dataset(_folder_cfg(tmp_path, cutout=8), train=True, augment=True)
    plain, _ = build_dataset(_folder_cfg(tmp_path), train=True, augment=False)

    def draw(seed):
        torch.manual_seed(seed)
        return torch.stack([ds[i][0] for i in range(len(ds))])

    x = draw(0)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x, draw(0)) and not torch.equal(x, draw(1))
    assert not torch.equal(x, torch.stack([plain[i][0] for i in range(6)]))   # padding, cutout
    per_sample = PerSampleAugment(ds, seed=3)
    assert torch.equal(per_sample[4][0], per_sample[4][0])


def test_cifar10_folder_crop_flip_matches_torchvision():
    """The tensor crop is T.RandomCrop(32, padding=4) + flip: zero borders of at most 4 pixels."""
    img = torch.randint(1, 256, (3, 32, 32), dtype=torch.uint8)   # no zeros of its own
    for seed in range(20):
        torch.manual_seed(seed)
        out = supernet.data.CropFlip(4)(img)
        rows, cols = (out != 0).any(0).any(1).nonzero(), (out != 0).any(0).any(0).nonzero()
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert out.shape == img.shape and h >= 28 and w >= 28
        inner = out[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert any(torch.equal(inner, part[:, i:i + h, j:j + w]) for part in (img, img.flip(-1))
                   for i in range(33 - h) for j in range(33 - w))


def test_cifar10_folder_missing_and_empty(tmp_path):
    cfg = _folder_cfg(tmp_path)
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(root))):
        build_dataset(cfg, train=True, augment=False)
    root.mkdir()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(root / "train"))):
        build_dataset(cfg, train=True, augment=False)
    (root / "train").mkdir()
    with pytest.raises(DatasetNotFoundError, match=re.escape(f"{root / 'train'} has no class folders")):
        build_dataset(cfg, train=True, augment=False)
    (root / "train" / "cat").mkdir()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(root / "val"))):
        build_dataset(cfg, train=True, augment=False)
    (root / "val" / "cat").mkdir(parents=True)
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(root / "train" / "cat"))):
        build_dataset(cfg, train=True, augment=False)


def test_cifar10_folder_class_mismatch(tmp_path):
    root = _cifar_folder(tmp_path / "data", per_class=1)
    (root / "val" / "frog").rename(root / "val" / "toad")
    with pytest.raises(ValueError) as err:
        build_dataset(_folder_cfg(tmp_path), train=False, augment=False)
    msg = str(err.value)
    assert str(root / "train") in msg and str(root / "val") in msg and "'frog'" in msg and "'toad'" in msg


def test_cifar10_folder_bad_images(tmp_path):
    root = _cifar_folder(tmp_path / "data", per_class=2, ext="jpg")
    bad = root / "train" / "frog" / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])      # truncated
    with pytest.raises(ValueError, match=re.escape(f"cannot decode {bad}")):
        build_dataset(_folder_cfg(tmp_path), train=True, augment=False)
    bad.write_bytes(b"not a jpeg at all")                                # unidentifiable
    with pytest.raises(ValueError, match=re.escape(f"cannot decode {bad}")):
        build_dataset(_folder_cfg(tmp_path), train=True, augment=False)
    Image.new("RGB", (32, 30)).save(bad)                                 # not CIFAR's size
    with pytest.raises(ValueError, match=re.escape(f"{bad} is 32x30, not 32x32")):
        build_dataset(_folder_cfg(tmp_path), train=True, augment=False)
    assert not (tmp_path / "cache").exists()                             # nothing half-built is cached


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="data.limit=-5: give the number of training images to keep, or 0"):
        build_dataset(DataConfig(limit=-5), train=True, augment=False)
