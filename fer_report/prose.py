"""Small text helpers the chapters share."""

from __future__ import annotations

import re

# a full stop that ends one of these does not end a sentence
_ABBREVIATIONS = ("e.g.", "i.e.", "al.", "vs.", "cf.", "etc.")


def first_sentence(text: str) -> str:
    """The first sentence of ``text``: up to the first '.', '!' or '?' followed by white space and
    more text, skipping abbreviations and decimal points (a decimal point is never followed by a
    space). The whole text when it is one sentence."""
    for match in re.finditer(r"[.!?](?=\s+\S)", text):
        head = text[: match.end()]
        if not head.endswith(_ABBREVIATIONS):
            return head.strip()
    return text.strip()
