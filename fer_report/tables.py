"""How the book's tables show their cells: a truth value as a word ("yes", "no"), never Python's
``True`` and ``False``. A chapter module passes a table through :func:`readable` before it styles or
shows it (a Styler's ``format`` with a dict of column formats resets the other columns to pandas' own
display, so a global display option would not reach them)."""

from __future__ import annotations

from typing import Any

import numpy as np

WORDS = {True: "yes", False: "no"}


def is_truth_value(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy bool (not an int that happens to be 0 or 1)."""
    return isinstance(value, (bool, np.bool_))


def readable(frame: Any) -> Any:
    """A copy of a DataFrame with every truth value written as a word (other cells untouched)."""
    return frame.map(lambda v: WORDS[bool(v)] if is_truth_value(v) else v)
