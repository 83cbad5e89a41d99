"""The bibliography: every key the chapters cite is in book/references.bib, every entry says where to find
it, and the References page is a page of the book that the runner does not try to execute."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fer_report.runner import toc_notebooks

from .conftest import REPO

BIB = REPO / "book" / "references.bib"
CITE = re.compile(r"\{cite:[pt]\}`([^`]+)`")


def bib_entries(text: str) -> dict[str, dict[str, str]]:
    """Each entry of a BibTeX file by key: its type and the names of its fields (values unparsed)."""
    entries = {}
    for m in re.finditer(r"@(\w+)\{([^,\s]+),(.*?)\n\}", text, flags=re.S):
        fields = dict.fromkeys(re.findall(r"^\s*(\w+)\s*=", m.group(3), flags=re.M), "")
        entries[m.group(2)] = {"type": m.group(1).lower(), **fields}
    return entries


def cited_keys(markdown: str) -> list[str]:
    """The keys of every {cite:p} and {cite:t} role in a markdown text (a role may cite several)."""
    return [k.strip() for group in CITE.findall(markdown) for k in group.split(",")]


def markdown_of(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def test_bib_parser_and_cite_finder_on_known_text():
    text = "@misc{a2020,\n  title = {T},\n  year  = {2020},\n  url = {u},\n}\n@article{b,\n  title={X},\n}"
    assert bib_entries(text) == {
        "a2020": {"type": "misc", "title": "", "year": "", "url": ""},
        "b": {"type": "article", "title": ""},
    }
    assert cited_keys("see {cite:p}`a2020,b` and {cite:t}`c`; not {cite}`d`") == ["a2020", "b", "c"]


def test_every_cited_key_is_in_the_bibliography():
    keys = set(bib_entries(BIB.read_text()))
    pages = [*(REPO / "book").glob("*.ipynb"), *(REPO / "book").glob("*.md")]
    texts = {p.name: markdown_of(p) if p.suffix == ".ipynb" else p.read_text() for p in pages}
    cited = {(name, k) for name, text in texts.items() for k in cited_keys(text)}
    assert cited, "no chapter cites anything"
    missing = sorted(f"{page}: {key}" for page, key in cited if key not in keys)
    assert not missing, f"cited but not in {BIB.name}: {missing}"


def test_every_entry_has_a_title_a_year_and_a_way_to_find_it():
    entries = bib_entries(BIB.read_text())
    assert len(entries) >= 20
    for key, fields in entries.items():
        assert "title" in fields and "year" in fields, key
        assert {"url", "doi", "eprint"} & set(fields) or fields["type"] == "article", (
            f"{key}: no url, doi or arXiv id"
        )


def test_the_published_numbers_name_their_repositories():
    from fer_report.anchors import ANCHORS

    sources = [a["source"] for a in ANCHORS]
    assert not [s for s in sources if "popular" in s.lower()], sources
    assert "Wu 2018, GitHub (VGG19)" in sources and "Yuan 2021, GitHub (ResNet18)" in sources
    keys = bib_entries(BIB.read_text())
    assert {"wu2018ferpytorch", "yuan2021fer", "khaireddin2021fer", "tang2013svm"} <= set(keys)


def test_the_references_page_is_in_the_book_and_not_run(tmp_path):
    toc = (REPO / "_toc.yml").read_text()
    assert "- file: references" in toc and (REPO / "book" / "references.md").is_file()
    assert "references" not in [p.stem for p in toc_notebooks()]
    config = (REPO / "_config.yml").read_text()
    assert re.search(r"^bibtex_bibfiles:\n  - references\.bib$", config, flags=re.M)

    # a markdown page is skipped; a chapter whose notebook is missing stays listed for the runner to name
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: a\n  - file: gone\n  - file: refs\n"
    )
    for name in ("intro.ipynb", "a.ipynb", "refs.md"):
        (tmp_path / "book" / name).write_text("{}")
    assert [p.name for p in toc_notebooks(tmp_path)] == ["intro.ipynb", "a.ipynb", "gone.ipynb"]


@pytest.mark.parametrize("page", ["references.html", "intro.html"])
def test_built_pages_link_citations_to_the_references(page):
    html = REPO / "book" / "_build" / "html" / page
    if not html.exists():
        pytest.skip("book/_build/html is not built: run `make book`")
    text = html.read_text()
    if page == "references.html":
        assert text.count('class="citation"') == len(bib_entries(BIB.read_text()))
    else:
        assert 'href="references.html#' in text
