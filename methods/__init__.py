"""Method adapters, one module per method family; importing the package registers them."""
from . import zero_shot  # noqa: F401
from . import abs, description_baselines  # noqa: F401
from . import coop, gda, zpe  # noqa: F401
