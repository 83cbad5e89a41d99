"""What a chapter's text says about its numbers, held to them: a sentence the book prints is checked
against the run that glues its numbers, and a run on which it would be false stops with an error
instead of printing it."""

from __future__ import annotations

from fer_lib.errors import FerError


class ClaimFailed(FerError):
    """A sentence of the book would be false on this run's numbers: the text needs rewriting."""


def hold(true: bool, chapter: str, says: str, found: str) -> None:
    """Unless ``true``, raise ``ClaimFailed`` naming the chapter, what its text says and what was found."""
    if not true:
        raise ClaimFailed(f"{chapter}: the text says {says}, but this run found {found}; rewrite the text.")
