"""Hand a chapter's values to its text: each is glued under its name for ``{glue:}`` roles and directives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def publish(values: Mapping[str, Any]) -> None:
    """Glue every value (text, Markdown, a table, an image) under its name, without showing it here."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)
