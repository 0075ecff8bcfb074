"""What methods may ask a dataset instead of testing its name, as closed sets of values declared once
(the dataset records, :class:`~zsbench.datasets.base.Dataset` and the record tests read them)."""
from __future__ import annotations

from typing import Literal, get_args

#: ``"imagenet"``: ImageNet, its variants and the toy domains that mirror them (ZPE's selection
#: threshold, GDA's templates); ``None`` for every other dataset.
Family = Literal["imagenet"]
#: The few-shot training recipe the references use: ``"imagenet"`` (CoOp's 50 epochs, GDA's
#: ImageNet crop scale) or ``"default"``.
FewShotRecipe = Literal["default", "imagenet"]

FAMILIES: tuple[str, ...] = get_args(Family)
FEWSHOT_RECIPES: tuple[str, ...] = get_args(FewShotRecipe)
