"""Method adapters, one module per method family; importing the package registers them."""
from . import zero_shot  # noqa: F401
