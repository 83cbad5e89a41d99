"""A table as Markdown, so that the book can number and caption it.

Sphinx numbers a table that a ``{table}`` directive holds, and that directive takes a Markdown table,
not the HTML a code cell shows. A chapter turns its table into Markdown here, glues it, and pastes it
with ``{glue:md}`` (``:format: myst``) inside a ``{table}`` directive with a caption and a ``:name:``;
the text refers to it with ``{numref}``. Cells are MyST, so math (``$...$``) and roles work in them.
"""

from __future__ import annotations

import re
from typing import Any

from .tables import WORDS, is_truth_value

_NUMBER = re.compile(r"^[−+-]?[\d,]*\.?\d+%?$")
# a range (0.635–0.667) or a mean and spread (0.6499 ± 0.0020) is one number to a reader: browsers may
# break a line after a dash or at a space, so the dash is followed by a word joiner and the spaces
# around ± are no-break spaces
_RANGE = re.compile(r"(?<=\d)([–-])(?=\d)")
_SPREAD = re.compile(r"(?<=\d) ± (?=\d)")


def _cell(value: Any) -> str:
    """One cell's text: a truth value as a word, no line breaks, a pipe escaped."""
    if is_truth_value(value):
        value = WORDS[bool(value)]
    text = str(value).replace("\n", " ").replace("|", r"\|")
    return _SPREAD.sub("\u00a0±\u00a0", _RANGE.sub("\\1\u2060", text))


def pipe_table(frame: Any, index: str | None = None) -> str:
    """``frame`` as a Markdown pipe table, its index as the first column (headed ``index``, else the
    index's name), columns whose every cell is a number aligned right. Format the numbers first."""
    head = [index if index is not None else str(frame.index.name or ""), *map(str, frame.columns)]
    rows = [
        [_cell(i), *(_cell(v) for v in row)] for i, row in zip(frame.index, frame.itertuples(index=False))
    ]
    numeric = [bool(rows) and all(_NUMBER.match(r[k]) for r in rows) for k in range(len(head))]
    rule = ["---:" if n else "---" for n in numeric]
    return "\n".join("| " + " | ".join(r) + " |" for r in [[_cell(h) for h in head], rule, *rows]) + "\n"
