"""The errors a dataset raises when its data is missing, malformed or unreadable. Kept apart from
``base`` (which imports torch and Pillow) so that the layouts and records that raise or name them
stay cheap to import."""
from __future__ import annotations

from zsbench.harness.core.errors import UserError


class DatasetNotFoundError(UserError, FileNotFoundError):
    """The data for a dataset is not where it is looked for; the message says how to fix it."""


class CorruptImageError(UserError, RuntimeError):
    """An image file that cannot be decoded; the message names the file."""


class DatasetFormatError(UserError, ValueError):
    """A dataset's index file (split file, image list, class list) or Hub mirror is malformed; the
    message names the file (and the item or line) and how to get a good copy. A ``ValueError`` too,
    so that callers that caught malformed files as ``ValueError`` keep working."""
