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


def apply_to(data: object) -> bool:
    """Whether the text's claims are about ``data``: the FER2013 the shipped models were measured on
    (the same data hash as their cards). On generated faces (a smoke run) the chapters still run and
    glue every value, but their sentences are not about those faces, so they are not held to them."""
    from fer_lib.pretrained import pretrained_info

    card = pretrained_info("report_cnn")
    return card is not None and card.get("data_hash") == data.data_hash()  # type: ignore[attr-defined]
