"""Checks of what a user hands in (numbers, output paths), each failing with one ConfigError sentence.

The trainer's settings, the CLI's output files and run folders are all checked here, so that a
mistake reads the same wherever it is made. Nothing here imports torch.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError


def number(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """``value`` as a finite number within [low, high] (an end is left out with low_open/high_open)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}.") from None
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or below or above:
        lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
        hi = "" if high is None else (f"< {high:g}" if high_open else f"<= {high:g}")
        want = " and ".join(x for x in (lo, hi) if x) or "finite"
        raise ConfigError(f"{name} must be {want}, got {value}{'; ' + hint if hint else ''}.")
    return v


def integer(name: str, value: int, low: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"{name} must be a whole number >= {low}, got {value}{'; ' + hint if hint else ''}."
        )
    return value


def output_dir(path: str | os.PathLike, what: str = "the output folder") -> Path:
    """A folder to write into, created if missing; a file in its place, or one that cannot be made, is an
    error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p} is a file, not a folder; choose a folder name.")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create the folder {p} ({e.strerror or e}); choose {what} where you can write."
        ) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot write into {p} (read-only or not yours); choose {what} where you can write."
        )
    return p


def output_file(
    path: str | os.PathLike,
    suffixes: Sequence[str],
    what: str = "the output file",
    *,
    force: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
) -> Path:
    """A file to write: its folder must exist, it must not be a folder, and it must end in one of
    ``suffixes``; then ``new_file``'s checks (no input, no existing file without ``force``)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a folder; give a file name ending in {' or '.join(suffixes)}.")
    if not any(p.name.lower().endswith(s) for s in suffixes):
        raise ConfigError(f"{what} {p} must end in {' or '.join(suffixes)}.")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{parent} is a file, not a folder; write {what} elsewhere.")
    if not parent.is_dir():
        raise ConfigError(f"the folder {parent} does not exist; create it first or write {what} elsewhere.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into {parent} (read-only or not yours); write {what} elsewhere.")
    return new_file(p, what, force=force, inputs=inputs)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one existing file (through links, or two spellings of one path)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def new_file(
    path: str | os.PathLike, what: str, *, force: bool = False, inputs: Sequence[str | os.PathLike] = ()
) -> Path:
    """``path`` as a file a command may write: never one of its ``inputs``, and a file (or link) already
    there only with ``force``."""
    p = Path(path)
    source = next((i for i in inputs if same_file(p, i)), None)
    if source is not None:
        raise ConfigError(
            f"{what} {p} is also what this command reads ({source}); an input is never its own output, so "
            "write to another file."
        )
    if p.exists() or p.is_symlink():
        if not force:
            raise ConfigError(
                f"{what} {p} already exists; pass --force to replace it, or choose another name."
            )
    return p


def plain_name(name: str, what: str) -> str:
    """A name that becomes a file name in a folder the caller chose: letters, digits, '_', '-' and '.', no
    folder parts."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or "") or ".." in name:
        raise ConfigError(
            f"{what} '{printable(name)}' is not a plain name (letters, digits, '_', '-' and '.', starting "
            "with a letter or digit, no folders); it becomes a file name inside the destination folder."
        )
    return name


def printable(text: str | bytes, limit: int = 80) -> str:
    """``text`` safe to show on one line of a terminal: control characters escaped, cut after ``limit``
    characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[:limit] + "..."
