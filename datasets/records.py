"""The real datasets, one record each: where the data is and how to get it, its Hub mirror and that
mirror's naming rule, its prompt templates, what few-shot methods use, and its public description
files per description source. :mod:`~zsbench.datasets.catalog` builds a :class:`Dataset` from a
record; the suites, ``data status``, ``data pin`` and the description sources read the records.

Importing this module is cheap (no torch, Pillow, open_clip or Hugging Face libraries): OpenAI's 80
ImageNet templates are read from open_clip when a dataset is built, not here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

from . import naming
from .description_files import RemoteFile, abs_file, cupl_base, cupl_file, cupl_full
from .hub_entry import HubEntry
from .local_layouts import COOP_DATASETS_MD, AircraftLists, CubLists, ImageNetFolders, Layout, PlacesLists, ZhouSplit
from .traits import Family, FewShotRecipe
from .templates import (
    CALTECH101_ENSEMBLE,
    DTD_ENSEMBLE,
    EUROSAT_ENSEMBLE,
    FGVC_AIRCRAFT_ENSEMBLE,
    IMAGENET_TEMPLATES_SELECT,
    STANFORD_CARS_ENSEMBLE,
    SUN397_ENSEMBLE,
    UCF101_ENSEMBLE,
    openai_imagenet_templates,
)

#: A prompt ensemble: the list itself, a function that reads it on first use (a list kept in a
#: heavy package), or ``None`` where no list is published (the zero-shot template alone).
Ensemble = Union[tuple[str, ...], Callable[[], tuple[str, ...]], None]


@dataclass(frozen=True)
class DatasetRecord:
    """Everything zsbench declares about one real dataset.

    ``folder``: under the data root, read by ``layout``; ``get``: how to obtain it (quoted in the
    fix text); ``template``: the zero-shot prompt; ``ensemble``: the prompt ensemble (see
    :data:`Ensemble`); ``description_files``: description source (``cupl``, ``dclip``, ...) -> the
    public file for this dataset; ``hub``: its Hugging Face mirror; ``hub_names``: CoOp's naming
    rule for the mirror's raw class names; ``fewshot_from``: the dataset few-shot methods train on
    instead (ImageNet for its variants); ``family``, ``fewshot_templates``, ``fewshot_recipe``: as
    :class:`~zsbench.datasets.base.Dataset` has them."""

    name: str
    folder: str
    layout: Layout
    get: str
    template: str
    ensemble: Ensemble
    description_files: Mapping[str, RemoteFile] = field(default_factory=dict, hash=False)
    hub: HubEntry | None = None
    hub_names: naming.NameRule = naming.spaced
    fewshot_from: str | None = None
    family: Family | None = None  # see zsbench.datasets.traits
    fewshot_templates: tuple[str, ...] | None = None  # few-shot text heads' templates; None: ``template``
    fewshot_recipe: FewShotRecipe = "default"

    def zero_shot_templates(self) -> list[str]:
        """``Dataset.templates``: the zero-shot prompt, as a one-element list."""
        return [self.template]

    def ensemble_templates(self) -> list[str]:
        """``Dataset.ensemble_templates`` (reads a lazily kept list)."""
        if self.ensemble is None:
            return [self.template]
        return list(self.ensemble() if callable(self.ensemble) else self.ensemble)


def _zhou_md(anchor: str, what: str) -> str:
    return f"{what}; put the Zhou split file from {COOP_DATASETS_MD}#{anchor} next to it"


def _zhou(images: str, split_file: str, anchor: str) -> ZhouSplit:
    """A Zhou split layout that quotes its DATASETS.md section when the split file is malformed."""
    return ZhouSplit(images, split_file, f"{COOP_DATASETS_MD}#{anchor}")


def _cupl(base: RemoteFile, full: RemoteFile, cupl: RemoteFile | None = None, **more: RemoteFile) -> dict[str, RemoteFile]:
    """The files of a dataset CuPL has prompt sets for. ``cupl`` (CuPL's sentences as ABS uses them)
    is ABS's own ``cupl.json`` where ABS ships one (for Food101 CuPL's food full file, for Pets CuPL's
    pet base file, byte for byte), else CuPL's full set; ``more``: other sources (``dclip``)."""
    return {"cupl": cupl or full, "cupl-base": base, "cupl-full": full, **more}


# The files' sha256s were computed from the public copies in ../shared/reference (whose git blob ids
# equal the pinned trees'); the two ImageNet files marked git-blob are not in any local clone, so
# they are checked against the blob id their pinned tree lists. DCLIP's descriptors are ABS's
# clip-d.json files ({class: [descriptor, ...]}, used as "{c}, which is/has {d}").

# CoOp's EuroSAT names -> the keys of ABS's EuroSAT files (which use CuPL's descriptive names)
EUROSAT_ALIASES = (
    ("Herbaceous Vegetation Land", "brushland or shrubland"),
    ("Industrial Buildings", "industrial buildings or commercial buildings"),
    ("Residential Buildings", "residential buildings or homes or apartments"),
    ("Sea or Lake", "lake or sea"),
)

# CoOp's Caltech101 names -> the keys of CuPL's Caltech101 files (CLIP's descriptive names; CoOp's
# "face" is the Faces folder, CLIP's "off-center face"; Faces_easy, "centered face", CoOp drops)
CALTECH_ALIASES = (
    ("face", "off-center face"),
    ("car side", "side of a car"),
    ("cougar body", "body of a cougar cat"),
    ("cougar face", "face of a cougar cat"),
    ("crocodile head", "head of a crocodile"),
    ("flamingo head", "head of a flamingo"),
    ("snoopy", "snoopy (cartoon beagle)"),
    ("yin yang", "yin and yang symbol"),
)

# What the five ImageNet-family datasets share: CuPL's image prompts for ``cupl`` (the file ABS's
# prompts/imagenet*/cupl.json are, the same blob, and the one CuPL's classify_imagenet.py loads), and
# ABS's clip-d.json for ``dclip`` (its five ImageNet-family copies are byte-identical).
IMAGENET_FAMILY_TRAITS = dict(
    template="a photo of a {}.",
    ensemble=openai_imagenet_templates,
    family="imagenet",
    fewshot_templates=IMAGENET_TEMPLATES_SELECT,
    description_files=_cupl(
        cupl_base("imagenet", "f8962ec2a4c4355406eb1b2cf695179f7269c512e130b623444b1a3eb4e3fe2c"),
        cupl_full("imagenet", "git-blob:3eca90382a18a1c54586f719cb58e27329063259"),
        cupl_file("imagenet_prompts/CuPL_image_prompts.json", "git-blob:b5796c20e12c7448a9d78147fc9869b421d908d7"),
        dclip=abs_file("imagenet", "clip-d.json", "0c478db8b74046ca185488f252c908420bcea585198c7bceb4e42386cc1f7d3a"),
    ),
)

_RECORDS = (
    DatasetRecord(
        "imagenet", "imagenet",
        ImageNetFolders((("test", "images/val"), ("train", "images/train"))),
        "download ILSVRC2012 from https://image-net.org/download.php and extract val (sorted into n*/ class folders) "
        "to imagenet/images/val/ and train to imagenet/images/train/ (train is needed for few-shot training only)",
        hub=HubEntry("clip-benchmark/wds_imagenet1k", "b24c7a5a3ef12df09089055d1795e2ce7c7e7397", "test", "jpg", "cls", "imagenet-1k"),
        fewshot_recipe="imagenet",
        **IMAGENET_FAMILY_TRAITS,
    ),
    DatasetRecord(
        "imagenet-v2", "imagenetv2",
        ImageNetFolders((("test", "imagenetv2-matched-frequency-format-val"),), folder_names="index"),
        "download https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz "
        "and extract it into imagenetv2/ (folders 0..999)",
        hub=HubEntry("clip-benchmark/wds_imagenetv2", None, "test", "webp", "cls", "imagenet-1k"),
        fewshot_from="imagenet",
        **IMAGENET_FAMILY_TRAITS,
    ),
    DatasetRecord(
        "imagenet-sketch", "imagenet-sketch",
        ImageNetFolders((("test", "images"),)),
        "download ImageNet-Sketch (https://github.com/HaohanWang/ImageNet-Sketch) and extract it so that "
        "the n* class folders are in imagenet-sketch/images/",
        hub=HubEntry("clip-benchmark/wds_imagenet_sketch", None, "test", "jpg", "cls", "imagenet-1k"),
        fewshot_from="imagenet",
        **IMAGENET_FAMILY_TRAITS,
    ),
    DatasetRecord(
        "imagenet-a", "imagenet-adversarial",
        ImageNetFolders((("test", "imagenet-a"),), space="imagenet-a"),
        "download https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar and extract it into imagenet-adversarial/",
        hub=HubEntry("clip-benchmark/wds_imagenet-a", None, "test", "jpg", "cls", "imagenet-a"),
        fewshot_from="imagenet",
        **IMAGENET_FAMILY_TRAITS,
    ),
    DatasetRecord(
        "imagenet-r", "imagenet-rendition",
        ImageNetFolders((("test", "imagenet-r"),), space="imagenet-r"),
        "download https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar and extract it into imagenet-rendition/",
        hub=HubEntry("axiong/imagenet-r", None, "test", "image", "wnid", "imagenet-r"),
        fewshot_from="imagenet",
        **IMAGENET_FAMILY_TRAITS,
    ),
    DatasetRecord(
        "caltech101", "caltech-101",
        _zhou("101_ObjectCategories", "split_zhou_Caltech101.json", "caltech101"),
        _zhou_md("caltech101", "extract 101_ObjectCategories.tar.gz (https://data.caltech.edu/records/mzrjq-6wc02) into caltech-101/"),
        template="a photo of a {}.",
        ensemble=CALTECH101_ENSEMBLE,
        description_files=_cupl(
            cupl_base("cal", "99aeac054495d5564340b6f8ac922b4dc64156e6aa0429a29c9acca30ba38208", aliases=CALTECH_ALIASES),
            cupl_full("cal", "sha256:f0995df6482ae36ec969d7bbdc01fd37ec8724430d6d2369e0043eee1f542834", aliases=CALTECH_ALIASES),
        ),
        hub=HubEntry("mteb/Caltech101", "011e51e5fb01f0c820824734edb7a539ab8e6650", "test", "image", "label"),
        hub_names=naming.caltech,
    ),
    DatasetRecord(
        "oxford-pets", "oxford_pets",
        _zhou("images", "split_zhou_OxfordPets.json", "oxfordpets"),
        _zhou_md("oxfordpets", "extract https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz into oxford_pets/"),
        template="a photo of a {}, a type of pet.",
        ensemble=("a photo of a {}, a type of pet.",),
        description_files=_cupl(
            cupl_base("pet", "a4c136a8adaf85646d6fc0a1cb7cfd75c12b6da33ef235ad55dd1247138a7e08"),
            cupl_full("pets", "sha256:b53cbe7f37e807c13a3f02e511c6058e6a50bafea3f8c4363cb85bf32920c6c6"),
            abs_file("oxford_pet", "cupl.json", "a4c136a8adaf85646d6fc0a1cb7cfd75c12b6da33ef235ad55dd1247138a7e08"),
            dclip=abs_file("oxford_pet", "clip-d.json", "70621f48ae4d823624732d26d8f125c4c6d848507878515cff96e935fe872208"),
        ),
        hub=HubEntry("isaacchung/OxfordPets", "557b480fae8d69247be74d9503b378a09425096f", "test", "image", "label"),
    ),
    DatasetRecord(
        "stanford-cars", "stanford_cars",
        _zhou("", "split_zhou_StanfordCars.json", "stanfordcars"),
        _zhou_md("stanfordcars", "put the Stanford Cars cars_train/ and cars_test/ image folders in stanford_cars/"),
        template="a photo of a {}.",
        ensemble=STANFORD_CARS_ENSEMBLE,
        description_files=_cupl(
            cupl_base("cars", "cd0854d7e784a48c93e5e2f3ea910e43f105d2b1270db7394cd86858a3f5ac86"),
            cupl_full("cars", "sha256:10c77fcbd845283b59148e9bf714ec521971a34f0c9e691d46f65c8371d9e52d"),
        ),
        hub=HubEntry("mteb/StanfordCars", "09ffe9bc7864d3f1e851529e5c4b7e05601a04fb", "test", "image", "label"),
        hub_names=naming.car,
    ),
    DatasetRecord(
        "flowers102", "oxford_flowers",
        _zhou("jpg", "split_zhou_OxfordFlowers.json", "flowers102"),
        _zhou_md("flowers102", "extract https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz into oxford_flowers/ (giving jpg/)"),
        template="a photo of a {}, a type of flower.",
        ensemble=("a photo of a {}, a type of flower.",),
        description_files=_cupl(
            cupl_base("flower", "4d98c313eae511a74a0973a7350062970291c69a709fe21bdb9df3f45757ec7d"),
            cupl_full("flower", "sha256:439e88a1ac5f7058da59d0bcdc4fa848283e4e8f29fc8711ebac4274137a2bbf"),
        ),
        hub=HubEntry("nelorth/oxford-flowers", "a37b1891609c0376fa81eced756e7863e1bd873b", "test", "image", "label"),
    ),
    DatasetRecord(
        "food101", "food-101",
        _zhou("images", "split_zhou_Food101.json", "food101"),
        _zhou_md("food101", "extract https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/static/food-101.tar.gz into the data root (giving food-101/images/)"),
        template="a photo of {}, a type of food.",
        ensemble=("a photo of {}, a type of food.",),
        description_files=_cupl(
            cupl_base("food", "b75a42ae975592bfd5e5a35af8c4f0dfa0f0f2f7d3cf31b474b95f67260fca1e"),
            cupl_full("food", "sha256:67cb17f323b7f0726e4b152224365fda289658ff92b0d14ee264910a16af96dc"),
            abs_file("food101", "cupl.json", "67cb17f323b7f0726e4b152224365fda289658ff92b0d14ee264910a16af96dc"),
            dclip=abs_file("food101", "clip-d.json", "1556bae208439f373fc6a966f43b163f2d1698811ff7f84861635010499a0166"),
        ),
        hub=HubEntry("mteb/food101", "7cca05bfde8fdad4a9b39ed14a881c800cc1dca2", "validation", "image", "label"),
    ),
    DatasetRecord(
        "fgvc-aircraft", "fgvc_aircraft",
        AircraftLists(),
        "extract https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz, "
        f"keep its data/ folder and rename it to fgvc_aircraft/ (the official splits; see {COOP_DATASETS_MD}#fgvcaircraft)",
        template="a photo of a {}, a type of aircraft.",
        ensemble=FGVC_AIRCRAFT_ENSEMBLE,
        description_files=_cupl(
            cupl_base("airplane", "1b7e08f68b57627a0e0658c0af9856bef531fe8134248f57c5f16aabccbeb523"),
            cupl_full("airplane", "sha256:d86833c2483c1d12907abeb6198412f1d0a020bd12999a3f170967a7f549e3b8"),
        ),
        hub=HubEntry("mteb/FGVCAircraft", "2d33d00400099b87bfec8b04f2876fb10ca07487", "test", "image", "variant"),
    ),
    DatasetRecord(
        "sun397", "sun397",
        _zhou("SUN397", "split_zhou_SUN397.json", "sun397"),
        _zhou_md("sun397", "extract http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz into sun397/"),
        template="a photo of a {}.",
        ensemble=SUN397_ENSEMBLE,
        description_files=_cupl(
            cupl_base("sun", "9700c0ebfe122bf0972d1707a22307aa6153df50c414e3b675633d465aefca59"),
            cupl_full("sun", "sha256:e6b1a95febe8e9420799fcf3be6647a73dc1aa9a6a9ac100d264c3ff78faf011"),
        ),
        hub=HubEntry("mteb/sun397", "c684cff33166060e2ae05525a5c4abdf5e6d7bce", "test", "image", "label"),
        hub_names=naming.scene,
    ),
    DatasetRecord(
        "dtd", "dtd",
        _zhou("images", "split_zhou_DescribableTextures.json", "dtd"),
        _zhou_md("dtd", "extract https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz into the data root (giving dtd/images/)"),
        template="{} texture.",
        ensemble=DTD_ENSEMBLE,
        description_files=_cupl(
            cupl_base("texture", "7d55451f1c038a9b4b80a5d339e3c5f7dcd7194a8a51b5608f343b5079b76ea8"),
            cupl_full("texture", "sha256:dabdcafded7babd67046d0f90abeb510b648bdaaf397b884f265f3460a7942a9"),
            abs_file("dtd", "cupl.json", "764191c34e52dabdb1517824a48004172478329b04aa3950104b6f39e3b74cc4"),
            dclip=abs_file("dtd", "clip-d.json", "3bb97a62ef38ab3daaee15afdd1cacf1ad8706d7c8a92e35c127a9fca9aa1ce4"),
        ),
        hub=HubEntry("tanganke/dtd", "d2afa97d9f335b1a6b3b09c637aef667f98f966e", "test", "image", "label"),
    ),
    DatasetRecord(
        "eurosat", "eurosat",
        _zhou("2750", "split_zhou_EuroSAT.json", "eurosat"),
        _zhou_md("eurosat", "extract EuroSAT.zip (RGB, https://github.com/phelber/EuroSAT) into eurosat/ (giving 2750/)"),
        template="a centered satellite photo of {}.",
        ensemble=EUROSAT_ENSEMBLE,
        description_files={  # CuPL has no EuroSAT prompt sets of its own
            "cupl": abs_file("eurosat", "cupl.json", "cc6eae59c3fa62222299ac457e916f4bdf30714d56ff2eedf7b62dc4b3ae7268", aliases=EUROSAT_ALIASES),
            "dclip": abs_file("eurosat", "clip-d.json", "1298f7a9f47e634120d67fbc4eb3c1fbc7c61a4103ad2861d72ed707ef46a867", aliases=EUROSAT_ALIASES),
        },
        hub=HubEntry("timm/eurosat-rgb", "b4e28552cd5f3932b6abc37eb20d3e84901ad728", "test", "image", "label"),
        hub_names=naming.eurosat,
    ),
    DatasetRecord(
        "ucf101", "ucf101",
        _zhou("UCF-101-midframes", "split_zhou_UCF101.json", "ucf101"),
        _zhou_md("ucf101", f"extract UCF-101-midframes.zip (the middle frames, linked from {COOP_DATASETS_MD}#ucf101) into ucf101/"),
        template="a photo of a person doing {}.",
        ensemble=UCF101_ENSEMBLE,
        description_files=_cupl(
            cupl_base("ucf", "5cf5ff16e0ff37305c9fbf078170ab7e165437936ed54297fad5a309cef72f12"),
            cupl_full("ucf", "sha256:8f2b130ee0c7573c3f0d4a6353c9bdda64ea63b771155207befa579f2a35c985"),
        ),
        hub=HubEntry("mteb/ucf101", "e0618988874f6ffbf90af69fa6dccecb9be3deb3", "test", "image", "label"),
        hub_names=naming.ucf,
    ),
    DatasetRecord(  # not in CoOp: the template is our choice
        "cub", "CUB_200_2011",
        CubLists(),
        "extract CUB_200_2011.tgz (https://data.caltech.edu/records/65de6-vp158) into the data root "
        "(giving CUB_200_2011/images/, classes.txt, images.txt, train_test_split.txt)",
        template="a photo of a {}, a type of bird.",
        ensemble=None,
        description_files=_cupl(  # CuPL's bird base and full files are one blob
            cupl_base("bird", "830d654a8ad729b7aa211dcf7d6a4dc33b6e0ff68bcb848115faf7c3d12d93b5"),
            cupl_full("bird", "sha256:830d654a8ad729b7aa211dcf7d6a4dc33b6e0ff68bcb848115faf7c3d12d93b5"),
            abs_file("cub", "cupl.json", "7f2a595332e80720be68ee64e9f32b242dd8acd7d590096903f9fa41bf6f3287"),
            dclip=abs_file("cub", "clip-d.json", "983966040fd8747d89ee9b0f311eeab3b5f4b318e062dd0529c9bb57e2282597"),
        ),
    ),
    DatasetRecord(  # not in CoOp: the template is our choice
        "places365", "places365",
        PlacesLists(),
        "extract http://data.csail.mit.edu/places/places365/val_256.tar into places365/ and put places365_val.txt "
        "and categories_places365.txt from http://data.csail.mit.edu/places/places365/filelist_places365-standard.tar next to it",
        template="a photo of a {}.",
        ensemble=None,
        description_files={  # CuPL has no Places365 prompt sets of its own
            "cupl": abs_file("place365", "cupl.json", "8bab6f1daa8a39ba53c5243f1e910cb3559e27e92a700df3dfdc270fd5c9f02f", qualified_names=True),
            "dclip": abs_file("place365", "clip-d.json", "aa35beea77718ef7e9afecf66a0c49b23fcbd4064f3027dc29d6701649c6efd6", qualified_names=True),
        },
    ),
)

#: name -> record, in catalogue order (the order of the suite ``all`` and of ``data status``)
RECORDS: dict[str, DatasetRecord] = {record.name: record for record in _RECORDS}

# (classes, test images) of each test split as zsbench reads it, as published: Zhou et al.'s
# split_zhou_*.json for the CoOp datasets, the official evaluation sets otherwise (ImageNet's and
# Places365's validation sets, CUB-200-2011's test list). `zsbench list datasets` shows them until
# the data is here, then the counts read from it.
PUBLISHED_SIZES: dict[str, tuple[int, int]] = {
    "imagenet": (1000, 50_000), "imagenet-v2": (1000, 10_000), "imagenet-sketch": (1000, 50_889),
    "imagenet-a": (200, 7_500), "imagenet-r": (200, 30_000), "caltech101": (100, 2_465),
    "oxford-pets": (37, 3_669), "stanford-cars": (196, 8_041), "flowers102": (102, 2_463), "food101": (101, 30_300),
    "fgvc-aircraft": (100, 3_333), "sun397": (397, 19_850), "dtd": (47, 1_692), "eurosat": (10, 8_100),
    "ucf101": (101, 3_783), "cub": (200, 5_794), "places365": (365, 36_500),
}
IMAGENET_FAMILY = tuple(name for name, record in RECORDS.items() if record.family == "imagenet")
