"""Every page of the built book, rendered in headless Chromium at 1280 px and at a phone's 390 px
(scripts/check_pages.py): no text cut off by its container or running past the screen, no figure text
under 9 px, and the checks the book test already makes. The checker is first tried on small hand-made
pages whose right answer is known. One browser serves all the pages of a run."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import pytest

from fer_report.figures import record_font

from .conftest import REPO

SPEC = importlib.util.spec_from_file_location("check_pages", REPO / "scripts" / "check_pages.py")
checker = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = checker  # its dataclass looks its module up while it is built
SPEC.loader.exec_module(checker)

pytestmark = pytest.mark.skipif(
    checker.find_chromium() is None,
    reason="Chromium is not installed: `apt-get install chromium` (Debian; .ci/run installs it)",
)

# Problems already known and owned elsewhere, each with why it stays: (start of the line, text in it).
KNOWN: dict[tuple[str, str], str] = {}


def image(width: int, font_px: float | None, jpeg: bool = False) -> bytes:
    """A plain gray image ``width`` px wide, its smallest font size recorded as figures record it."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, 40), 200).save(buf, format="JPEG" if jpeg else "PNG")
    return record_font(buf.getvalue(), font_px) if font_px else buf.getvalue()


PAGE = '<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1"><body>{}</body>'
LONG = "a sentence long enough to need several lines in a narrow cell of a table " * 3
CELL, NOWRAP = "max-width:120px;overflow:hidden", "white-space:nowrap"
HANDMADE = {
    "clipped.html": f'<table><tr><td style="{CELL};white-space:nowrap">{LONG}</td></tr></table>',
    "wrapped.html": f'<table><tr><td style="{CELL}">{LONG}</td></tr></table>',
    "scroller.html": f'<div style="width:300px;overflow-x:auto"><p style="{NOWRAP}">{LONG}</p></div>',
    "offscreen.html": f'<p style="{NOWRAP}">{LONG}</p>',
    "figures.html": '<img src="small.png" style="width:150px"><img src="fits.png"><img src="small.jpg" '
    'style="width:100px"><img src="bare.png">',
}


@pytest.fixture(scope="module")
def handmade(tmp_path_factory) -> dict[str, list[str]]:
    """The checker's problems on each hand-made page (one browser for all of them), and the unrecorded."""
    site = tmp_path_factory.mktemp("handmade")
    for name, body in HANDMADE.items():
        (site / name).write_text(PAGE.format(body))
    (site / "small.png").write_bytes(image(600, 10.0))  # 10 px shown at a quarter: 2.5 px
    (site / "fits.png").write_bytes(image(300, 12.0))  # shown at its natural size: 12 px
    (site / "small.jpg").write_bytes(image(400, 16.0, jpeg=True))  # shown at a quarter: 4 px
    (site / "bare.png").write_bytes(image(200, None))
    report = checker.check_pages(sorted(site.glob("*.html")), root=site)
    found = {name: [p for p in report.problems if p.startswith(name)] for name in HANDMADE}
    found["unrecorded"] = report.unrecorded.get("figures.html", [])
    return found


def test_a_cell_that_clips_its_text_fails_and_a_wrapping_one_passes(handmade):
    assert handmade["clipped.html"] and all("text cut off by" in p for p in handmade["clipped.html"])
    assert {p.split(" at ")[1][:7] for p in handmade["clipped.html"]} == {"1280 px", "390 px:"}
    assert handmade["wrapped.html"] == []


def test_a_sideways_scroller_passes_on_a_phone_but_not_at_desktop_width(handmade):
    assert handmade["scroller.html"] and all(
        p.startswith("scroller.html at 1280 px") for p in handmade["scroller.html"]
    )


def test_text_running_past_the_screen_fails(handmade):
    assert any("runs past the screen" in p or "page is" in p for p in handmade["offscreen.html"])


def test_figure_text_shown_under_9_px_fails(handmade):
    problems = handmade["figures.html"]
    assert any("figure text 2.5 px in small.png" in p for p in problems), problems
    assert any("figure text 4.0 px in small.jpg" in p for p in problems), problems
    assert not any("fits.png" in p for p in problems)
    assert handmade["unrecorded"] == ["bare.png"]


def test_recorded_font_sizes_read_back_from_png_and_jpeg():
    assert checker.recorded_font_px(image(50, 10.4)) == 10.4
    assert checker.recorded_font_px(image(50, 7.25, jpeg=True)) == 7.25
    assert checker.recorded_font_px(image(50, None)) is None
    from PIL import Image

    for data in (image(50, 10.4), image(50, 10.4, jpeg=True)):
        assert Image.open(io.BytesIO(data)).size == (50, 40)  # the record leaves a valid image


# --------------------------------------------------------------------------- the book


def sources() -> list[Path]:
    book = REPO / "book"
    return [
        *book.glob("*.ipynb"),
        *book.glob("*.md"),
        *book.glob("*.bib"),
        *(book / "_static").iterdir(),
        REPO / "_config.yml",
        REPO / "_toc.yml",
    ]


@pytest.fixture(scope="module")
def book_html(tmp_path_factory) -> Path:
    """The built book: book/_build/html where `make book` built it from the current sources, else a build
    of the committed notebooks in a temporary folder."""
    html = REPO / "book" / "_build" / "html"
    built = html / "intro.html"
    if not built.exists() or built.stat().st_mtime < max(p.stat().st_mtime for p in sources()):
        from fer_report.runner import toc_notebooks

        from .test_book import build_book

        html = build_book(toc_notebooks(), tmp_path_factory.mktemp("site"))
    return html


@pytest.fixture(scope="module")
def book_report(book_html):
    """The checker's report on every page of the book, one browser for all of them."""
    return checker.check_pages(checker.site_pages(book_html), root=book_html)


def test_the_book_checks_hold_on_the_pages_checked(book_html):
    from .test_book import check_html

    check_html(book_html)


def test_no_page_cuts_text_or_runs_past_the_screen_and_figure_text_is_legible(book_report):
    assert book_report.pages >= 11
    known = [p for p in book_report.problems if any(p.startswith(a) and b in p for a, b in KNOWN)]
    new = [p for p in book_report.problems if p not in known]
    assert not new, "\n".join(new)


def test_every_figure_records_its_font_size(book_report):
    if book_report.unrecorded:
        pytest.skip(
            "figures made before figures recorded their smallest font size carry none (re-execute their "
            "chapters): "
            + "; ".join(f"{page}: {len(names)}" for page, names in sorted(book_report.unrecorded.items()))
        )
