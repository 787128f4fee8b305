"""Data sets, the search split and reproducible loaders.

``digits`` (scikit-learn's bundled 8x8 digits) is the default because it needs no network and
fits in memory, so a whole search runs in minutes on a CPU.  CIFAR and image folders use
torchvision; when their files are missing we raise :class:`DatasetNotFoundError` naming the exact
folder, because torchvision's own message does not say where it looked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets
from torchvision import transforms as T

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")
CIFAR_STATS = {  # per-channel mean, std of the training images
    "cifar10": ([0.49139968, 0.48215827, 0.44653124], [0.24703233, 0.24348505, 0.26158768]),
    "cifar100": ([0.50707516, 0.48654887, 0.44091784], [0.26733429, 0.25643846, 0.27615047]),
}
IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


@dataclass(frozen=True)
class DataInfo:
    """What the network needs to know about the data: stem input, classifier output, input size."""
    in_channels: int
    num_classes: int
    image_size: int


class DatasetNotFoundError(RuntimeError):
    """The data set files are absent and could not be downloaded (offline or download off)."""


class Cutout:
    """Zero a ``length`` x ``length`` square (clipped at the border, as in DARTS) of a CxHxW tensor.

    The centre is drawn with torch's RNG so that seeding torch makes augmentation reproducible.
    """

    def __init__(self, length: int):
        self.length = length

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        y, x = torch.randint(h, ()).item(), torch.randint(w, ()).item()
        top, left = y - self.length // 2, x - self.length // 2
        img = img.clone()
        img[..., max(top, 0):max(top + self.length, 0), max(left, 0):max(left + self.length, 0)] = 0
        return img


class PerSampleAugment(Dataset):
    """Augmentation as a function of (seed, epoch, sample index): each item is loaded under
    torch's RNG seeded by the three, so a sample's crop does not depend on which process or
    worker loads it or what was loaded before: N processes compute what one process computes,
    and a resumed run replays its epochs.  The loop calls :meth:`set_epoch`."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(((self.seed * 1_000_003 + self.epoch) * 10_000_019 + i) % 2 ** 63)
            return self.dataset[i]


class TensorImageDataset(Dataset):
    """Images already in memory as one tensor; ``transform`` (if any) is applied per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i]
        return (self.transform(img) if self.transform else img), int(self.labels[i])


def _digits(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """Fixed 80/20 split (seed 0), bilinear upsampling, normalisation with the train statistics."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=cfg.image_size, mode="bilinear", align_corners=False)
    labels = torch.tensor(raw.target, dtype=torch.long)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    n_train = int(0.8 * len(labels))
    idx = perm[:n_train] if train else perm[n_train:]
    mean, std = images[perm[:n_train]].mean(), images[perm[:n_train]].std()
    ops = [T.RandomCrop(cfg.image_size, padding=1)] if augment else []  # shift by <= 1 pixel
    if augment and cfg.cutout > 0:
        ops.append(Cutout(cfg.cutout))
    ds = TensorImageDataset((images[idx] - mean) / std, labels[idx], T.Compose(ops) if ops else None)
    return ds, DataInfo(1, 10, cfg.image_size)


def _cifar(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """torchvision CIFAR with the DARTS transforms; any load or download failure names the folder."""
    cls, num_classes = (datasets.CIFAR10, 10) if cfg.name == "cifar10" else (datasets.CIFAR100, 100)
    mean, std = CIFAR_STATS[cfg.name]
    ops = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
    ops += [T.ToTensor(), T.Normalize(mean, std)]
    if augment and cfg.cutout > 0:
        ops.append(Cutout(cfg.cutout))
    try:
        ds = cls(root=cfg.root, train=train, download=cfg.download, transform=T.Compose(ops))
    except (RuntimeError, OSError) as err:  # "Dataset not found", URLError, corrupt archive
        folder = os.path.join(os.path.abspath(cfg.root), cls.base_folder)
        raise DatasetNotFoundError(
            f"{cfg.name}: could not load the python-version batches from {folder} ({err}). "
            f"Put the extracted files there, or set data.download=true when online, "
            f"or data.root=<folder that contains {cls.base_folder}>.") from err
    return ds, DataInfo(3, num_classes, 32)


def _imagefolder(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """ImageNet-style ``<root>/{train,val}/<class>/*.jpg`` with the usual crop transforms."""
    size = cfg.image_size
    if augment:
        ops = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        ops = [T.Resize(int(size / 0.875)), T.CenterCrop(size)]
    ops += [T.ToTensor(), T.Normalize(*IMAGENET_STATS)]
    if augment and cfg.cutout > 0:
        ops.append(Cutout(cfg.cutout))
    folder = os.path.join(os.path.abspath(cfg.root), "train" if train else "val")
    try:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no folder {folder}")
        ds = datasets.ImageFolder(folder, transform=T.Compose(ops))
    except FileNotFoundError as err:  # missing folder, or no class folders / images in it
        raise DatasetNotFoundError(
            f"imagefolder: no images found ({err}). Put them at {folder}/<class>/*.jpg, "
            f"or set data.root=<folder that contains train/ and val/>.") from err
    return ds, DataInfo(3, len(ds.classes), size)


def build_dataset(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """The train or test set named by ``cfg.name``; ``cfg.limit`` keeps that many training images,
    a seeded draw (an image folder lists its images class by class, so its first N would be one
    class)."""
    builders = {"digits": _digits, "cifar10": _cifar, "cifar100": _cifar,
                "imagefolder": _imagefolder}
    if cfg.name not in builders:
        raise ValueError(f"unknown data set {cfg.name!r}; known: {', '.join(DATASETS)}")
    ds, info = builders[cfg.name](cfg, train, augment)
    if train and cfg.limit > 0:
        ds = Subset(ds, torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:cfg.limit].tolist())
    return ds, info


def search_split(dataset: Dataset, portion: float, seed: int) -> tuple[Subset, Subset]:
    """Seeded split into the weight-training part (``portion``) and the architecture-validation
    part, so a resumed or repeated search sees exactly the same two halves."""
    if not 0.0 < portion < 1.0:
        raise ValueError(f"train_portion must be in (0, 1), got {portion}")
    n = len(dataset)
    if n < 2:
        raise ValueError(f"cannot split a data set of {n} item(s) into two non-empty parts")
    n_train = min(max(int(portion * n), 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, perm[:n_train]), Subset(dataset, perm[n_train:])


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool,
                generator: torch.Generator | None, num_workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling comes from ``generator``: saving and restoring its state is
    what lets a resumed search replay the same batch order."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0)


def build_search_data(cfg, seed: int) -> tuple[Dataset, Dataset, DataInfo]:
    """The training set split for search.  The weight part is augmented (as in DARTS, against
    overfitting the weights); the architecture part is left clean so the validation loss that
    drives alpha is less noisy.  The set is built twice (with and without augmentation) and both
    copies are indexed by the same split."""
    plain, info = build_dataset(cfg, train=True, augment=False)
    augmented, _ = build_dataset(cfg, train=True, augment=True)
    weight_part, arch_part = search_split(plain, cfg.train_portion, seed)
    return Subset(augmented, weight_part.indices), arch_part, info
