"""The one base class of every error a user can fix.

Whatever raises a :class:`UserError` (a bad flag, a missing or malformed file, an unknown name)
has a message that names the flag, file or dataset and says what to do; the CLI prints exactly
these as one line and exits 2. Any other exception is a bug in zsbench and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole message (what is wrong and the fix)."""


class RunError(UserError, ValueError):
    """A run that cannot start as asked (a flag, a model a method cannot use); the message names
    the flag and the fix."""
