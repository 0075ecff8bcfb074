"""The method plug-in contract.

A method is a class registered with ``@register_method("name")``. It declares what it ``needs``;
the runner prepares exactly that (cached global image features, raw images and the model,
few-shot training data, class descriptions) into :class:`MethodInputs`, calls :meth:`Method.fit`
once (timed as setup), then asks for logits. The harness, not the method, computes metrics.

Hyperparameters live in the nested ``Config`` dataclass: defaults there (choices as ``Literal[...]``
types, numeric ranges declared with ``zsbench.harness.core.config.param``), overrides from
``--set key=value``, and the whole config is written into every results row.

Every hook the runner uses is declared here with its default:

- :meth:`Method.load_descriptions` and :meth:`Method.resolve_inputs` run before any model work, so
  a bad input file fails in seconds, and what they return (descriptions, content hashes of the
  files read) is part of the evaluation's identity in the results store;
- :meth:`Method.fit` (one-time work, timed as setup), then one logits path;
- after ``fit``: ``class_subset`` (base-to-new: the evaluated labels, in order; the runner scores
  only the test images of those classes, relabelled ``0..len-1``), ``classes`` (the row's name for
  them) and ``extra_results`` (method-specific outputs, recorded in the row under the ``out_`` prefix).

Work worth keeping between runs (a fitted head, learned prompts) goes through
:meth:`MethodInputs.memoise`, which keys it by the model as well, and long loops report through
:meth:`MethodInputs.progress_bar`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

if TYPE_CHECKING:
    from zsbench.datasets.base import Dataset, ImageSplit
    from zsbench.datasets.fewshot import FewShotSubset
    from zsbench.harness.core.feature_cache import FeatureCache
    from zsbench.harness.models.loading import LoadedModel
    from zsbench.harness.models.text_encoding import TextEncoder


class Need(str, enum.Enum):
    IMAGE_FEATURES = "image_features"  # cached global features of the evaluated split
    IMAGES = "images"  # the raw images of the evaluated split (with the model)
    FEWSHOT = "fewshot"  # a K-shot training subset (``--shots``)
    DESCRIPTIONS = "descriptions"  # per-class descriptions {classname: [sentence, ...]}


@dataclass
class FewShotData:
    """The K-shot data a few-shot method learns from. ``source`` is the evaluated dataset itself, or
    the dataset its suite trains on (ImageNet for the ImageNet variants, ``toy`` for the toy
    domains); ``target_classes[c]`` is the index in ``source.classnames`` of evaluated class ``c``
    (ImageNet-A/-R evaluate 200 of ImageNet's 1000 classes). Every few-shot method gets the same
    images for the same (dataset, K, seed)."""

    source: "Dataset"
    subset: "FewShotSubset"
    target_classes: list[int]

    @property
    def train(self) -> "ImageSplit":
        return self.subset.train

    @property
    def val(self) -> "ImageSplit | None":
        return self.subset.val


@dataclass
class MethodInputs:
    """What the runner hands a method. Fields a method did not ask for are ``None``."""

    dataset: "Dataset"
    model: "LoadedModel"
    text: "TextEncoder"
    seed: int
    shots: int
    image_features: torch.Tensor | None = None  # [N, D], L2-normalised
    images: "ImageSplit | None" = None
    fewshot: FewShotData | None = None
    descriptions: dict[str, list[str]] | None = None
    # encode_images(split, view, transform) -> [N, D] normalised features, cached like the test
    # features; ``view`` names what ``transform`` does (e.g. "aug10:rrc0.5-1:flip:seed1").
    encode_images: Callable[..., torch.Tensor] | None = None
    cache: "FeatureCache | None" = None  # the run's feature cache; None computes everything afresh
    # progress(description, total) -> advance(n=1, status=None): the run's progress reporter, or None
    progress: Callable[..., Callable[..., None]] | None = None

    @property
    def classnames(self) -> list[str]:
        return self.dataset.classnames

    def memoise(self, kind: str, compute: Callable[[], dict], **parts: Any) -> dict:
        """``compute()`` (a dict of tensors and JSON-able values), cached under ``kind`` and ``parts``
        plus the model's identity and precision, so that a result is reused only with the model that
        produced it; without a cache it is computed every time."""
        if self.cache is None:
            return compute()
        key = self.cache.key(kind=kind, model=self.model.identity, precision=self.model.precision, **parts)
        return self.cache.get_or_compute(key, compute)

    def search_features(self, on_test: bool = False) -> tuple[str, torch.Tensor, torch.Tensor]:
        """(split name, features, labels) a few-shot method searches its hyperparameters on: the
        few-shot validation subset (the training subset when there is none), or with ``on_test``
        the references' choice, the source's whole validation split (its test split when it has no
        validation split)."""
        fs = self.fewshot
        if on_test:
            source = fs.source
            split = source.split(source.val_split or source.test_split)
            return ("val" if source.val_split else "test"), self.encode_images(split), split.labels
        if fs.val is not None:
            return "fewshot-val", self.encode_images(fs.val), fs.val.labels
        return "fewshot-train", self.encode_images(fs.train), fs.train.labels

    def progress_bar(self, description: str, total: int) -> Callable[..., None]:
        """``advance(n=1, status=None)`` for a loop of ``total`` steps: the run's reporter, or a
        no-op without one."""
        if self.progress is None:
            return lambda n=1, status=None: None
        return self.progress(description, total)


class Method:
    """Base class. Subclasses set ``needs`` and ``Config`` and implement ``fit`` + one logits path."""

    #: The registered name (``@register_method``), used in messages.
    name: ClassVar[str] = ""
    #: What the runner prepares into :class:`MethodInputs`; ``IMAGE_FEATURES`` selects the
    #: ``logits_from_features`` path, anything else ``logits_from_images``.
    needs: ClassVar[frozenset[Need]] = frozenset({Need.IMAGE_FEATURES})
    #: True: the result depends on ``--seeds`` (evaluated once per seed); False: deterministic,
    #: evaluated once with the seed recorded as 0. Few-shot methods are evaluated per seed anyway.
    uses_seed: ClassVar[bool] = False

    @dataclass
    class Config:
        """The hyperparameters (see the module docstring); hashed into every row."""

    def __init__(self, config: "Method.Config | None" = None):
        self.config = config if config is not None else self.Config()
        #: Base-to-new: the evaluated labels, in order (set by ``fit``); None evaluates every class.
        self.class_subset: list[int] | None = None
        #: Method-specific outputs (set by ``fit``), recorded in the row as ``out_<key>``.
        self.extra_results: dict = {}

    @property
    def classes(self) -> str:
        """Which classes the evaluation covers: ``all``, or the base-to-new half (``base``/``new``)
        a method with a ``class_subset`` names in its ``subsample`` setting."""
        return "all" if self.class_subset is None else str(getattr(self.config, "subsample", "subset"))

    def load_descriptions(self, dataset: "Dataset") -> dict[str, list[str]]:
        """The class descriptions of ``dataset`` this method uses (methods that need descriptions);
        called before any model work. Default: the dataset's own."""
        from zsbench.datasets.errors import DatasetNotFoundError

        if dataset.descriptions is None:
            raise DatasetNotFoundError(f"method {self.name!r} needs class descriptions and dataset {dataset.name!r} has none")
        return dataset.descriptions()

    def resolve_inputs(self, dataset: "Dataset") -> dict:
        """Load and check every input this method reads for ``dataset`` besides the data and its
        descriptions (template files, prompt pools, feature banks); called before any model work.
        Returns a JSON-able content identity of them (hashes), part of the evaluation's identity."""
        return {}

    def fit(self, inputs: MethodInputs) -> None:
        """One-time work before inference (text classifiers, few-shot fitting)."""

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """[N, D] normalised global image features -> [N, C] logits (feature methods)."""
        raise NotImplementedError(f"method {self.name!r} does not work from global features")

    def logits_from_images(self, images: "ImageSplit", inputs: MethodInputs) -> torch.Tensor:
        """Raw images -> [N, C] logits (methods that need the model on each image, e.g. ABS)."""
        raise NotImplementedError(f"method {self.name!r} does not work from raw images")
