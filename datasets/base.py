"""What a dataset is to the harness: class names, prompt templates and labelled image splits.

A registered dataset factory returns a :class:`Dataset`; it must fail with
:class:`DatasetNotFoundError` (whose message is the exact fix) before any model work when its data
is missing. Splits hand out PIL images one at a time (the evaluation transform turns them into
tensors in a batched DataLoader) and carry a fingerprint that names the exact data, so that the
feature cache can be keyed on it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image, UnidentifiedImageError

from .errors import CorruptImageError
from .traits import Family, FewShotRecipe


#: What Pillow raises for an image over its size limit: ``DecompressionBombError`` above twice
#: ``Image.MAX_IMAGE_PIXELS``, and ``DecompressionBombWarning`` above it where warnings are errors.
#: Neither is an ``OSError``, so they are caught separately.
DECOMPRESSION_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def too_large(where: str, err: Exception) -> CorruptImageError:
    """The error for an image Pillow refuses as a possible decompression bomb."""
    return CorruptImageError(
        f"cannot read image {where}: it is larger than Pillow's limit of Image.MAX_IMAGE_PIXELS = "
        f"{Image.MAX_IMAGE_PIXELS} pixels ({err}). Resize it below that limit or remove it, then run again."
    )


class ImageSplit(torch.utils.data.Dataset):
    """A labelled sequence of images. ``__getitem__`` returns ``(PIL RGB image, label)``.
    ``in_memory``: its images need no reading or decoding (no loader workers are worth starting)."""

    in_memory = False

    def __init__(self, labels: Sequence[int], fingerprint: str, name: str = "test"):
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.fingerprint = fingerprint
        self.name = name
        self.transform: Callable | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Image.Image:
        raise NotImplementedError

    def image_id(self, index: int) -> str:
        """A stable id of image ``index`` (per-image predictions are keyed by it): the same image
        has the same id on every machine and in every evaluation of the split."""
        return f"{self.name}/{index}"

    def image_ids(self) -> list[str]:
        return [self.image_id(i) for i in range(len(self))]

    def __getitem__(self, index: int):
        img = self.image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index])

    def with_transform(self, transform: Callable | None) -> "ImageSplit":
        """A shallow copy whose items go through ``transform`` (for a DataLoader)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.transform = transform
        return clone

    def subset(self, indices: Sequence[int]) -> "ImageSplit":
        return SubsetSplit(self, indices)


class SubsetSplit(ImageSplit):
    """Some items of another split (``--limit``, few-shot subsets), with its own fingerprint."""

    def __init__(self, parent: ImageSplit, indices: Sequence[int]):
        self.parent = parent
        self.indices = [int(i) for i in indices]
        digest = hashlib.sha256(",".join(map(str, self.indices)).encode()).hexdigest()[:16]
        super().__init__(parent.labels[self.indices].tolist(), f"{parent.fingerprint}/subset-{digest}", parent.name)

    @property
    def in_memory(self) -> bool:
        return self.parent.in_memory

    def image(self, index: int) -> Image.Image:
        return self.parent.image(self.indices[index])

    def image_id(self, index: int) -> str:
        return self.parent.image_id(self.indices[index])


class FileSplit(ImageSplit):
    """Images stored as files on disk; an image's id is its path relative to ``root`` (the data
    root), or the whole path when no root is given."""

    def __init__(self, paths: Sequence[Path | str], labels: Sequence[int], fingerprint: str, name: str = "test",
                 root: Path | str | None = None):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        super().__init__(labels, fingerprint, name)
        self.paths = [Path(p) for p in paths]
        self.root = Path(root) if root is not None else None

    def image_id(self, index: int) -> str:
        path = self.paths[index]
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def image(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except DECOMPRESSION_BOMB as err:
            raise too_large(str(path), err) from err
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise CorruptImageError(
                f"cannot read image {path}: {err}. Re-download or delete the file, then run again."
            ) from err


class TensorSplit(ImageSplit):
    """Images held in memory as a uint8 tensor [N, 3, H, W] (the generated toy world); an image's
    id is ``<id_prefix>/<index>``."""

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: Sequence[int], fingerprint: str, name: str = "test",
                 id_prefix: str | None = None):
        super().__init__(labels, fingerprint, name)
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError("TensorSplit needs a uint8 tensor of shape [N, 3, H, W]")
        self.images = images
        self.id_prefix = id_prefix or name

    def image_id(self, index: int) -> str:
        return f"{self.id_prefix}/{index}"

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index].permute(1, 2, 0).numpy(), mode="RGB")


class DecodedSplit(ImageSplit):
    """Images of another split read and decoded once, held as PIL images (what latency is timed
    on, so that decoding is excluded); ids, labels and fingerprint are the source's."""

    in_memory = True

    def __init__(self, images: Sequence[Image.Image], source: ImageSplit, indices: Sequence[int]):
        super().__init__(source.labels[list(indices)].tolist(), f"{source.fingerprint}/decoded", source.name)
        self.images, self._ids = list(images), [source.image_id(i) for i in indices]

    def image(self, index: int) -> Image.Image:
        return self.images[index]

    def image_id(self, index: int) -> str:
        return self._ids[index]


@dataclass(frozen=True)
class DescriptionLoader:
    """A dataset's own answer to a named description source (``cupl``, ``dclip``, ...): ``load``
    returns ``{classname: [sentence, ...]}``, ``origin`` says where they came from in messages."""

    load: Callable[[], dict[str, list[str]]]
    origin: str


@dataclass
class Dataset:
    """A dataset as the harness sees it.

    ``templates`` is the single prompt of the zero-shot ``clip`` baseline; ``ensemble_templates`` the
    prompt ensemble of ``clip-e``. Templates are ``str.format`` strings with one ``{}``.
    ``splits`` maps a split name to a zero-argument loader (loading is deferred so that listing
    datasets stays cheap). ``source`` records where the data came from (local folder, Hub
    revision, generator), because Hub mirrors and local Zhou splits differ.
    ``imagenet_indices``: for a subset of ImageNet's label space (ImageNet-A/-R), the index of each
    class in ImageNet's 1000 classes, so that ImageNet-trained heads can be restricted to it.
    ``descriptions``: a loader for per-class descriptions ``{classname: [sentence, ...]}``.
    ``description_sources``: named description sources the dataset answers itself instead of with
    a public file (the toy world's shapes have no CuPL or DCLIP file).
    ``family``, ``fewshot_templates`` and ``fewshot_recipe`` are what methods ask instead of testing
    the dataset's name.
    """

    name: str
    classnames: list[str]
    templates: list[str]
    ensemble_templates: list[str]
    splits: dict[str, Callable[[], ImageSplit]]
    source: str
    test_split: str = "test"
    train_split: str | None = "train"
    val_split: str | None = "val"
    fewshot_from: str | None = None
    imagenet_indices: list[int] | None = None
    descriptions: Callable[[], dict[str, list[str]]] | None = None
    description_sources: dict[str, DescriptionLoader] = field(default_factory=dict)
    default_model: str | None = None  # the model a run uses when --model is not given
    family: Family | None = None  # see zsbench.datasets.traits
    fewshot_templates: list[str] | None = None  # templates of few-shot text heads (GDA's); None: ``templates``
    fewshot_recipe: FewShotRecipe = "default"  # see zsbench.datasets.traits
    test_size: int | None = None  # test images, where known without reading the split (listings)

    @property
    def n_classes(self) -> int:
        return len(self.classnames)

    def split(self, name: str) -> ImageSplit:
        try:
            loader = self.splits[name]
        except KeyError:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; it has {sorted(self.splits)}") from None
        return loader()
