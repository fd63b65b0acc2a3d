"""Image datasets held in memory as uint8 tensors, and augmentation on batches.

Nothing is ever downloaded: a missing dataset raises :class:`FileNotFoundError` saying where to
put it. Images are 32x32 (EA-HAS-Bench Section 3.1 trains both datasets at that size).
Augmentation follows pycls's CIFAR pipeline (normalise, zero-pad by 4, random 32x32 crop,
horizontal flip) plus EA-HAS-Bench's cutout, in torch operations on whole batches, so that it
runs on the GPU beside the model.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
import io
import os
from pathlib import Path
import pickle

import numpy as np
from PIL import Image
import torch

_SIZE = 32
_PAD = 4
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# pycls's CIFAR-10 statistics (pycls/datasets/cifar10.py) and the ImageNet ones for
# TinyImageNet (pycls/datasets/imagenet.py, in RGB order), on the 0-255 scale.
_STATS = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "tinyimagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
}
_CLASSES = {"cifar10": 10, "tinyimagenet": 200}
_WHERE = {
    "cifar10": (
        "the python batches (a 'cifar-10-batches-py' folder, as distributed at "
        "https://www.cs.toronto.edu/~kriz/cifar.html), 'cifar10-jpeg.npz', or an image-folder "
        "tree 'train/<class>/*.png' and 'test/<class>/*.png'"
    ),
    "tinyimagenet": (
        "the 'tiny-imagenet-200' folder (wnids.txt, train/, val/ as distributed at "
        "http://cs231n.stanford.edu/tiny-imagenet-200.zip, unzipped), or an image-folder tree "
        "'train/<class>/*.jpg' and 'test/<class>/*.jpg'"
    ),
}


@dataclass(frozen=True)
class _Split:
    """The labels of a training or test set, and a reader of the images at given indices."""

    labels: np.ndarray
    read: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImageDataset:
    """A classification dataset in memory.

    Attributes:
        name: ``"cifar10"`` or ``"tinyimagenet"``.
        train_images: ``uint8`` tensor of shape ``(n, 3, 32, 32)``.
        train_labels: ``int64`` tensor of shape ``(n,)``.
        test_images: Test (for TinyImageNet: validation) images, as ``train_images``.
        test_labels: As ``train_labels``.
        data_fraction: The fraction of the full training set that ``train_images`` holds.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    data_fraction: float = 1.0

    @property
    def mean(self) -> tuple[float, float, float]:
        return _STATS[self.name][0]

    @property
    def std(self) -> tuple[float, float, float]:
        return _STATS[self.name][1]

    def subset(self, fraction: float, *, seed: int = 0) -> ImageDataset:
        """Keep ``fraction`` of the training images, class-stratified; of a dataset loaded
        whole, the ones :func:`load_dataset` keeps for the same ``subset`` and ``seed``. The
        test set is kept whole."""
        n = len(self.train_labels)
        keep = torch.from_numpy(_stratified(self.train_labels.numpy(), _count(fraction, n), seed))
        return replace(
            self,
            train_images=self.train_images[keep],
            train_labels=self.train_labels[keep],
            data_fraction=self.data_fraction * len(keep) / n,
        )

    def limit(self, *, train: int | None = None, test: int | None = None) -> ImageDataset:
        """Keep at most ``train`` training and ``test`` test images, class-stratified (for
        quick checks; ``data_fraction`` follows the training images kept)."""
        data = self
        if train is not None and train < len(self.train_labels):
            data = data.subset(train / len(self.train_labels))
        if test is not None and test < len(self.test_labels):
            keep = torch.from_numpy(_stratified(self.test_labels.numpy(), test, 0))
            data = replace(
                data, test_images=data.test_images[keep], test_labels=data.test_labels[keep]
            )
        return data


def load_dataset(
    dataset: str, root: str | os.PathLike[str], *, subset: float = 1.0, seed: int = 0
) -> ImageDataset:
    """Load CIFAR-10 or TinyImageNet from ``root`` into memory.

    ``root`` may hold (or be) any of these, tried in this order:

    * CIFAR-10: ``cifar10-jpeg.npz`` (this project's JPEG bytes: ``train_jpeg``,
      ``train_offsets``, ``train_labels`` and the same for ``test``); the python batches,
      ``cifar-10-batches-py/``; an image-folder tree.
    * TinyImageNet: ``tiny-imagenet-200/`` (its validation set serves as the test set); an
      image-folder tree.

    An image-folder tree is ``train/<class>/*.{jpg,jpeg,png}`` and ``test/<class>/...``, classes
    in sorted order. Images of another size are resized to 32x32 with box (area) filtering, as
    for downsampled ImageNet (Chrabaszcz et al., 2017).

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        root: The folder (or the ``.npz`` file).
        subset: Fraction of the training images to keep, class-stratified and deterministic for
            ``seed`` (reduced-fidelity runs); only the kept images are decoded.
        seed: Seeds the choice of the subset.

    Raises:
        FileNotFoundError: if no dataset is found, saying what to put where.
    """
    if dataset not in _CLASSES:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {list(_CLASSES)}.")
    root = Path(root)
    if dataset == "cifar10":
        npz = root if root.suffix == ".npz" else root / "cifar10-jpeg.npz"
        found = (
            _npz(npz)
            or _python_batches(root / "cifar-10-batches-py")
            or _python_batches(root)
            or _image_folder(root)
        )
    else:
        found = _tiny_imagenet(root / "tiny-imagenet-200") or _tiny_imagenet(root)
        found = found or _image_folder(root)
    if found is None:
        raise FileNotFoundError(
            f"No {dataset} data in {os.fspath(root)}: put {_WHERE[dataset]} there. Nothing is "
            "downloaded."
        )
    train, test = found
    classes = _CLASSES[dataset]
    if max(int(train.labels.max()), int(test.labels.max())) >= classes:
        raise ValueError(f"{os.fspath(root)}: more than the {classes} classes of {dataset}.")
    keep = _stratified(train.labels, _count(subset, len(train.labels)), seed)
    everything = np.arange(len(test.labels))
    return ImageDataset(
        name=dataset,
        train_images=torch.from_numpy(train.read(keep)),
        train_labels=torch.from_numpy(train.labels[keep].astype(np.int64)),
        test_images=torch.from_numpy(test.read(everything)),
        test_labels=torch.from_numpy(test.labels.astype(np.int64)),
        data_fraction=len(keep) / len(train.labels),
    )


def _count(fraction: float, n: int) -> int:
    if not 0 < fraction <= 1:
        raise ValueError(f"The data fraction must be in (0, 1], got {fraction}.")
    return max(1, round(fraction * n))


def _stratified(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of ``count`` items, each class represented in proportion.

    Each class is shuffled and its members ranked by their position within the class
    (0 to 1); the ``count`` lowest ranks are kept.
    """
    if count >= len(labels):
        return np.arange(len(labels))
    order = np.random.default_rng(seed).permutation(len(labels))
    rank = np.empty(len(labels))
    for label in np.unique(labels):
        members = order[labels[order] == label]
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(np.argsort(rank, kind="stable")[:count])


def _npz(path: Path) -> tuple[_Split, _Split] | None:
    """This project's shared CIFAR-10 archive: the JPEG bytes of each image, concatenated."""
    if not path.is_file():
        return None
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}

    def split(prefix: str) -> _Split:
        data, offsets = arrays[f"{prefix}_jpeg"], arrays[f"{prefix}_offsets"]

        def read(indices: np.ndarray) -> np.ndarray:
            return _stack(data[offsets[i] : offsets[i + 1]].tobytes() for i in indices)

        return _Split(arrays[f"{prefix}_labels"], read)

    return split("train"), split("test")


def _python_batches(path: Path) -> tuple[_Split, _Split] | None:
    """The python version of CIFAR-10: pickled dicts with ``b"data"`` (rows of 1024 red, 1024
    green, then 1024 blue bytes) and ``b"labels"``.

    Unpickling is this module's one exception to the project's no-pickle rule: it is the
    dataset's own distribution format (decoded with ``encoding="bytes"``, as its authors
    document). Only trust batches from the official archive.
    """
    names = [f"data_batch_{i}" for i in range(1, 6)]
    if not all((path / name).is_file() for name in [*names, "test_batch"]):
        return None

    def split(files: list[str]) -> _Split:
        batches = []
        for name in files:
            with open(path / name, "rb") as file:
                batches.append(pickle.load(file, encoding="bytes"))
        images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
        images = images.reshape(-1, 3, _SIZE, _SIZE)
        labels = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])
        return _Split(labels, lambda indices: images[indices])

    return split(names), split(["test_batch"])


def _image_folder(path: Path) -> tuple[_Split, _Split] | None:
    if not (path / "train").is_dir() or not (path / "test").is_dir():
        return None
    classes = sorted(entry.name for entry in (path / "train").iterdir() if entry.is_dir())
    index = {name: i for i, name in enumerate(classes)}

    def split(folder: Path) -> _Split:
        files, labels = [], []
        for entry in sorted(folder.iterdir()):
            if not entry.is_dir():
                continue
            if entry.name not in index:
                raise ValueError(
                    f"{entry}: class {entry.name!r} is not among the training classes."
                )
            images = _images_in(entry)
            files += images
            labels += [index[entry.name]] * len(images)
        if not files:
            raise FileNotFoundError(f"No images (.jpg, .jpeg, .png) under {folder}/<class>/.")
        return _files_split(files, labels)

    return split(path / "train"), split(path / "test")


def _tiny_imagenet(path: Path) -> tuple[_Split, _Split] | None:
    """TinyImageNet as distributed: ``train/<wnid>/images/*.JPEG`` and ``val/images`` with
    ``val/val_annotations.txt``; classes are the sorted ``wnids.txt``."""
    if not (path / "wnids.txt").is_file():
        return None
    wnids = sorted((path / "wnids.txt").read_text().split())
    index = {wnid: i for i, wnid in enumerate(wnids)}
    files, labels = [], []
    for wnid in wnids:
        images = _images_in(path / "train" / wnid / "images")
        files += images
        labels += [index[wnid]] * len(images)
    val_files, val_labels = [], []
    for line in (path / "val" / "val_annotations.txt").read_text().splitlines():
        if line.strip():
            name, wnid = line.split("\t")[:2]
            val_files.append(path / "val" / "images" / name)
            val_labels.append(index[wnid])
    return _files_split(files, labels), _files_split(val_files, val_labels)


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"Missing image folder {folder}.")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def _files_split(files: list[Path], labels: list[int]) -> _Split:
    return _Split(
        np.asarray(labels, dtype=np.int64),
        lambda indices: _stack(files[i].read_bytes() for i in indices),
    )


def _stack(encoded: Iterable[bytes]) -> np.ndarray:
    """Decode images with Pillow into a ``(n, 3, 32, 32)`` uint8 array."""
    arrays = []
    for data in encoded:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            if image.size != (_SIZE, _SIZE):
                image = image.resize((_SIZE, _SIZE), Image.Resampling.BOX)
            arrays.append(np.asarray(image).transpose(2, 0, 1))
    if not arrays:
        return np.zeros((0, 3, _SIZE, _SIZE), dtype=np.uint8)
    return np.ascontiguousarray(np.stack(arrays))


def normalize(images: torch.Tensor, data: ImageDataset) -> torch.Tensor:
    """uint8 images to float32, normalised with the dataset's channel statistics (pycls)."""
    mean = torch.tensor(data.mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(data.std, device=images.device).view(1, 3, 1, 1)
    return (images.float() - mean) / std


def augment(
    images: torch.Tensor,
    data: ImageDataset,
    *,
    cutout: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training augmentation of a uint8 batch, on its device.

    As pycls's CIFAR pipeline: normalise, zero-pad by 4 (zero is the mean colour after
    normalising), crop a random 32x32 window, flip horizontally with probability 1/2. Then,
    for ``cutout`` > 0, zero a ``cutout`` x ``cutout`` square whose centre is uniform over the
    image, clipped at the border (DeVries and Taylor, 2017; EA-HAS-Bench's ``cutout``).
    """
    n = images.shape[0]
    device = images.device
    x = torch.nn.functional.pad(normalize(images, data), (_PAD,) * 4)

    def uniform(high: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), device=device, generator=generator)

    steps = torch.arange(_SIZE, device=device)
    rows = (uniform(2 * _PAD + 1)[:, None] + steps)[:, None, :, None]
    cols = (uniform(2 * _PAD + 1)[:, None] + steps)[:, None, None, :]
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(3, device=device)[None, :, None, None]
    x = x[batch, channel, rows, cols]
    flip = uniform(2).bool()[:, None, None, None]
    x = torch.where(flip, x.flip(3), x)
    if cutout > 0:
        centre_y = uniform(_SIZE)[:, None, None, None]
        centre_x = uniform(_SIZE)[:, None, None, None]
        half = cutout // 2
        inside_y = (steps[None, None, :, None] >= centre_y - half) & (
            steps[None, None, :, None] < centre_y - half + cutout
        )
        inside_x = (steps[None, None, None, :] >= centre_x - half) & (
            steps[None, None, None, :] < centre_x - half + cutout
        )
        x = x.masked_fill(inside_y & inside_x, 0.0)
    return x
