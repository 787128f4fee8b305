"""Data sets, the search split and reproducible loaders.

``digits`` (scikit-learn's bundled 8x8 digits) is the default because it needs no network and
fits in memory, so a whole search runs in minutes on a CPU.  CIFAR and image folders use
torchvision; when their files are missing we raise :class:`DatasetNotFoundError` naming the exact
folder, because torchvision's own message does not say where it looked.  ``cifar10_folder`` is
CIFAR-10 as an image folder of JPEGs, decoded once into memory and cached outside the folder.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from torchvision import datasets
from torchvision import transforms as T
from torchvision.datasets.folder import IMG_EXTENSIONS

from .distributed import World
from .files import write_atomic

log = logging.getLogger(__name__)
DATASETS = ("digits", "cifar10", "cifar100", "imagefolder", "cifar10_folder")
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
        with torch.random.fork_rng(devices=[]):     # the CPU generator alone: torch.manual_seed would also queue
            # a seed for every accelerator with a stack trace each time, half an epoch of a small search on a CPU
            torch.default_generator.manual_seed(((self.seed * 1_000_003 + self.epoch) * 10_000_019 + i) % 2 ** 63)
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
    images = torch.tensor(raw.images, dtype=torch.get_default_dtype()).unsqueeze(1) / 16.0
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


class CropFlip:
    """``T.RandomCrop(<its size>, padding)`` then ``T.RandomHorizontalFlip()`` on a uint8 CxHxW tensor,
    without a PIL round trip; drawn from torch's RNG, so :class:`PerSampleAugment` replays it."""

    def __init__(self, padding: int):
        self.padding = padding

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        p, (h, w) = self.padding, img.shape[-2:]
        y, x = torch.randint(2 * p + 1, (2,)).tolist()
        out = F.pad(img, (p, p, p, p))[..., y:y + h, x:x + w]
        return out.flip(-1) if torch.rand(()) < 0.5 else out


class ToNormalizedFloat:
    """uint8 CxHxW -> float ``(x / 255 - mean) / std``: what ``T.ToTensor`` + ``T.Normalize`` do."""

    def __init__(self, mean, std):
        self.mean, self.std = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return img.float().div_(255).sub_(self.mean).div_(self.std)


def cache_dir(cfg) -> Path:
    """Where decoded image folders are kept: ``data.cache_dir``, else the user's cache folder
    (XDG); never the data folder, which may be read-only or shared."""
    if getattr(cfg, "cache_dir", ""):
        return Path(cfg.cache_dir).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supernet"


def _class_folders(folder: str) -> list[str]:
    """The sorted class folder names of one split: their order is the class index, as in ImageFolder."""
    if not os.path.isdir(folder):
        raise DatasetNotFoundError(
            f"cifar10_folder: no folder {folder}. Put the images at {folder}/<class>/*.jpg, "
            f"or set data.root=<folder that contains train/ and val/>.")
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    if not classes:
        raise DatasetNotFoundError(f"cifar10_folder: {folder} has no class folders; put the images at "
                                   f"{folder}/<class>/*.jpg, or set data.root=<folder that contains train/ and val/>.")
    return classes


def _shared_classes(root: str) -> list[str]:
    """The class names, which train/ and val/ must share: an index has to mean one class in both."""
    train, val = (_class_folders(os.path.join(root, split)) for split in ("train", "val"))
    if train != val:
        raise ValueError(
            f"cifar10_folder: the class folders of {root}/train and {root}/val differ: only in train "
            f"{sorted(set(train) - set(val))}, only in val {sorted(set(val) - set(train))}. "
            f"Give both splits the same class folders.")
    return train


def _list_images(folder: str, classes: list[str]) -> list[tuple[str, int, int, int]]:
    """(path relative to ``folder``, class index, size, mtime in ns) of each image, class by class."""
    entries = []
    for label, cls in enumerate(classes):
        files = sorted((e for e in os.scandir(os.path.join(folder, cls))
                        if e.is_file() and e.name.lower().endswith(IMG_EXTENSIONS)), key=lambda e: e.name)
        if not files:
            raise DatasetNotFoundError(f"cifar10_folder: the class folder {os.path.join(folder, cls)} has no images "
                                       f"({', '.join(IMG_EXTENSIONS)}); add some or remove the folder "
                                       f"(from train/ and val/ both).")
        for e in files:
            st = e.stat()
            entries.append((f"{cls}/{e.name}", label, st.st_size, st.st_mtime_ns))
    return entries


def _listing_key(entries) -> str:
    """A hash of the sorted relative paths, sizes and mtimes: any added, removed, renamed or
    rewritten image gives another key, hence a fresh decode instead of a stale cache."""
    digest = hashlib.sha256(b"cifar10_folder v1\n")   # bump when the decoded format changes
    for rel, _, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:24]


def read_image(path: str) -> np.ndarray:
    """One 32x32 image as HxWx3 uint8 RGB; a file PIL cannot decode, or of another size, is an
    error naming it."""
    try:
        with Image.open(path) as img:
            img.load()              # decode now: a truncated file fails here, not as grey pixels later
            rgb = img.convert("RGB")
    except (OSError, SyntaxError) as err:   # UnidentifiedImageError, "image file is truncated", broken PNG
        raise ValueError(f"cifar10_folder: cannot decode {path} ({err}); the file is corrupt or truncated: "
                         f"replace it or delete it.") from err
    if rgb.size != (32, 32):
        raise ValueError(f"cifar10_folder: {path} is {rgb.size[0]}x{rgb.size[1]}, not 32x32; this data set "
                         f"holds CIFAR's 32x32 images (data=imagefolder resizes images of any size).")
    return np.asarray(rgb)


def decode_images(folder: str, relpaths: list[str]) -> torch.Tensor:
    """The images as one N x 3 x 32 x 32 uint8 tensor, in ``relpaths`` order."""
    out = np.empty((len(relpaths), 32, 32, 3), dtype=np.uint8)
    for i, rel in enumerate(relpaths):
        out[i] = read_image(os.path.join(folder, rel))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _load_cache(path: Path, labels: torch.Tensor) -> torch.Tensor | None:
    """The cached images, or None when absent; an unreadable or mismatched file is ignored with a
    warning (it is rebuilt), since a cache must never stop a run."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images = blob["images"]
        if images.dtype != torch.uint8 or images.shape != (len(labels), 3, 32, 32) \
                or not torch.equal(blob["labels"], labels):
            raise ValueError(f"holds {images.dtype} {tuple(images.shape)}, not this folder's images")
    except Exception as err:    # truncated (RuntimeError, EOFError), not a dict, another content
        warnings.warn(f"ignoring the unreadable image cache {path} ({type(err).__name__}: {err}); decoding again")
        return None
    return images


def _save_cache(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    try:
        write_atomic(path, lambda tmp: torch.save({"images": images, "labels": labels}, tmp))
    except OSError as err:      # a read-only or full cache folder costs a decode next time, not the run
        warnings.warn(f"could not cache the decoded images ({err}); set data.cache_dir=<a writable folder>")


def _decoded_split(cfg, folder: str, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's images and labels: from the cache when the folder's listing is unchanged, else
    decoded (seconds for CIFAR-10's 60,000 files) and cached."""
    entries = _list_images(folder, classes)
    labels = torch.tensor([label for _, label, _, _ in entries], dtype=torch.long)
    path = cache_dir(cfg) / f"cifar10_folder-{os.path.basename(folder)}-{_listing_key(entries)}.pt"
    images = _load_cache(path, labels)
    if images is not None:
        log.info(f"{folder}: {len(labels)} images from the cache {path}")
        return images, labels
    start = time.perf_counter()
    images = decode_images(folder, [rel for rel, _, _, _ in entries])
    log.info(f"{folder}: decoded {len(labels)} images in {time.perf_counter() - start:.1f} s; caching them in {path}")
    _save_cache(path, images, labels)
    return images, labels


def _cifar10_folder(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """CIFAR-10 as ``<root>/{train,val}/<class>/*.jpg`` with CIFAR's transforms and statistics (not
    the ImageNet crops of ``imagefolder``), held in memory as uint8 and augmented as tensors."""
    root = os.path.abspath(cfg.root)
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"cifar10_folder: no folder {root}; set data.root=<folder that contains "
                                   f"train/<class>/*.jpg and val/<class>/*.jpg>.")
    classes = _shared_classes(root)
    images, labels = _decoded_split(cfg, os.path.join(root, "train" if train else "val"), classes)
    ops = [CropFlip(4)] if augment else []
    ops.append(ToNormalizedFloat(*CIFAR_STATS["cifar10"]))
    if augment and cfg.cutout > 0:
        ops.append(Cutout(cfg.cutout))
    ds = TensorImageDataset(images, labels, T.Compose(ops))
    ds.classes = classes    # as ImageFolder's: class index -> folder name
    return ds, DataInfo(3, len(classes), 32)


def balanced_indices(labels: torch.Tensor, num_classes: int, limit: int, seed: int = 0) -> list[int]:
    """A seeded draw of ``limit // num_classes`` images per class, one more for each of the first
    ``limit % num_classes`` classes (all of a class that has fewer), sorted: a small subset keeps
    every class in equal shares, so accuracy on it is not skewed by a draw's chance imbalance."""
    gen, keep = torch.Generator().manual_seed(seed), []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        take = limit // num_classes + (c < limit % num_classes)
        keep += members[torch.randperm(len(members), generator=gen)[:take]].tolist()
    return sorted(keep)


def build_dataset(cfg, train: bool, augment: bool) -> tuple[Dataset, DataInfo]:
    """The train or test set named by ``cfg.name``; ``cfg.limit`` keeps that many training images,
    a seeded draw (an image folder lists its images class by class, so its first N would be one
    class); ``cifar10_folder`` draws them class-balanced (:func:`balanced_indices`)."""
    builders = {"digits": _digits, "cifar10": _cifar, "cifar100": _cifar,
                "imagefolder": _imagefolder, "cifar10_folder": _cifar10_folder}
    if cfg.name not in builders:
        raise ValueError(f"unknown data set {cfg.name!r}; known: {', '.join(DATASETS)}")
    if cfg.limit < 0:
        raise ValueError(f"data.limit={cfg.limit}: give the number of training images to keep, or 0 for all")
    ds, info = builders[cfg.name](cfg, train, augment)
    if train and cfg.limit > 0:
        if cfg.name == "cifar10_folder":
            keep = balanced_indices(ds.labels, info.num_classes, cfg.limit)
        else:
            keep = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:cfg.limit].tolist()
        ds = Subset(ds, keep)
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


def search_loader(dataset: Dataset, batch_size: int, seed: int, world: World, epoch: int,
                  num_workers: int = 0) -> DataLoader:
    """This rank's share of every global batch of ``batch_size`` (divisible by the number of
    processes): the same permutation on every rank (seeded by seed and epoch), so N processes
    see what one process sees."""
    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size // world.size, sampler=sampler, num_workers=num_workers)
