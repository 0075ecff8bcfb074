"""ABS (attention-based selection) and everything only ABS uses: the method (:mod:`.method`), its
crop geometry (:mod:`.geometry`), PIL-exact batched resampling (:mod:`.resampling`), DINO attention
(:mod:`.attention`) and its cost benchmark (:mod:`.bench`, ``zsbench bench --method abs``)."""
from zsbench.methods.abs.method import ABS  # noqa: F401  (registers "abs")
