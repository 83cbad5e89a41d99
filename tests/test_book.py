"""The report: a papermill smoke run on generated data, and the committed book's build."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer_lib.errors import ConfigError
from fer_report.runner import ReportFailed, run_report, toc_notebooks

from .conftest import REPO
from .test_publish import load_link_checker

CHAPTERS = [p.stem for p in toc_notebooks()]
FIGURE_CHAPTERS = ["q1_architecture", "q2_training", "q3_confusion", "q4_saliency", "q5_filters", "photos"]
SMOKE = {
    "data": "synthetic",
    "device": "cpu",
    "epochs": 2,
    "simple_epochs": 1,
    "per_class": 1,
    "random_faces": 6,
    "eval_faces": 20,
    "ig_steps": 4,
    "smooth_samples": 2,
    "methods": ["saliency", "integrated_gradients", "gradcam"],
    "am_steps": 5,
    "top_faces": 20,
    "top_filters": 2,
    "conv_configs": 40,
    "bn_batch_sizes": [2],
    "softmax_classes": [2],
}


def build_book(src_notebooks: list[Path], where: Path) -> Path:
    """Build a Jupyter Book from executed notebooks (with the repository's _config.yml and _toc.yml)."""
    book = where / "book"
    book.mkdir(parents=True)
    for nb in src_notebooks:
        shutil.copy(nb, book / nb.name)
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / f, book / f)
    # the pages written in markdown (the references), the bibliography and the book's CSS
    for f in [*(REPO / "book").glob("*.md"), *(REPO / "book").glob("*.bib")]:
        shutil.copy(f, book / f.name)
    shutil.copytree(REPO / "book" / "_static", book / "_static")
    r = subprocess.run(
        [
            str(Path(shutil.which("jupyter-book") or REPO / ".venv/bin/jupyter-book")),
            "build",
            str(book),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return book / "_build" / "html"


# words that belong to the appendix, if anywhere: how and where a run was made, not what it found
BOOKKEEPING = (
    "bf16",
    "float32",
    "H200",
    "commit",
    "fingerprint",
    "Run parameters",
    "/tmp/",
    "/work/",
    "/home/",
)
PAGE_LIMIT = 1.5 * 2**20  # HTML plus its images


def page_weight(html: Path, page: Path) -> int:
    """The bytes a reader downloads for a page: its HTML and every image it shows (theme files aside)."""
    import re

    text = page.read_text()
    images = set(re.findall(r'<img[^>]+src="([^"]+)"', text))
    return len(text.encode()) + sum(
        (page.parent / src).stat().st_size for src in images if (page.parent / src).exists()
    )


def reader_text(page_html: str) -> str:
    """A page's visible text: scripts, styles and rendered math containers removed, tags stripped."""
    import re

    t = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page_html, flags=re.S)
    t = re.sub(r'<(div|span) class="(?:[^"]* )?math[ "][^>]*>.*?</\1>', " ", t, flags=re.S)
    return re.sub(r"<[^>]+>", " ", t)


def check_html(html: Path) -> None:
    import re

    for ch in CHAPTERS:
        page = html / f"{ch}.html"
        assert page.exists(), f"{ch}.html was not built"
        text = page.read_text()
        assert "Traceback" not in text and "output_error" not in text, f"{ch}.html shows an error"
        assert "{glue" not in text, f"{ch}.html shows a glue role unrendered"
        assert "cdn.jsdelivr" not in text and r"\sum_{i y i}" not in text, (
            f"{ch}.html: math needs the network or is broken"
        )
        visible = reader_text(text)
        assert "\\[" not in visible and "\\(" not in visible, f"{ch}.html shows raw LaTeX outside math"
        assert page_weight(html, page) < PAGE_LIMIT, f"{ch}.html weighs {page_weight(html, page):,} bytes"
        assert not re.search(r"<p>- |\. - <strong>", text), (
            f"{ch}.html: a list pasted inline into a paragraph"
        )
        if ch != "appendix":
            found = [w for w in BOOKKEEPING if w in visible]
            assert not found, f"{ch}.html: process bookkeeping on a reader page: {found}"
        body = text.split('<article class="bd-article"', 1)[-1]
        outside = re.sub(r"<figure.*?</figure>", " ", body, flags=re.S)
        loose = re.findall(r'<img[^>]+src="([^"]+\.(?:png|jpe?g))"', outside)
        assert not loose, f"{ch}.html: figures without a numbered caption: {loose}"
        for fig in re.findall(r"<figure.*?</figure>", body, flags=re.S):
            assert "<figcaption" in fig and re.search(r"Fig\. \d+", fig), (
                f"{ch}.html: a figure has no numbered caption"
            )
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax is not bundled with the book"

    for ch in FIGURE_CHAPTERS:
        text = (html / f"{ch}.html").read_text()
        imgs = re.findall(r'<img[^>]+src="([^"]+\.(?:png|jpe?g))"', text)
        assert imgs, f"{ch}.html has no figure"
        for src in imgs:
            assert (html / src).exists(), f"{ch}.html points at a missing image {src}"
    for ch in [c for c in CHAPTERS if c.startswith("q")]:
        first = re.search(r"</h1>\s*(.*?)</p>", (html / f"{ch}.html").read_text(), flags=re.S)
        lead = re.sub(r"<[^>]+>", "", first.group(1)) if first else ""
        assert re.search(r"\d", lead) and lead.count(". ") >= 1, (
            f"{ch}.html does not open with its answer: {lead!r}"
        )
    broken, _ = load_link_checker().scan(html)
    assert not broken, "broken internal links: " + "; ".join(broken)


def error_cells(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text())
    return [
        o.get("ename", "")
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    before = {p: p.read_bytes() for p in (REPO / "book").glob("*.ipynb")}
    done = run_report(
        {**SMOKE, "run_dir": str(out / "runs"), "report_dir": str(out / "executed")},
        out / "executed",
        log=lambda *a: None,
    )
    assert {p: p.read_bytes() for p in (REPO / "book").glob("*.ipynb")} == before, (
        "the smoke run changed book/"
    )
    return done, out


def test_smoke_run_executes_every_chapter_and_builds(smoke_run):
    done, out = smoke_run
    assert [p.stem for p in done] == CHAPTERS
    for nb in done:
        meta = json.loads(nb.read_text())["metadata"]["papermill"]
        assert meta["exception"] is None and not error_cells(nb), nb.name
    check_html(build_book(done, out / "site"))


def test_runner_stops_at_the_first_failure_and_publishes_nothing(tmp_path):
    import nbformat

    book = tmp_path / "book"
    book.mkdir()
    good, bad, never = (book / f"{n}.ipynb" for n in ("a", "b", "c"))
    for path, src in ((good, "x = 1"), (bad, "raise ValueError('broken chapter')"), (never, "x = 3")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, path)
    originals = {p: p.read_bytes() for p in (good, bad, never)}
    with pytest.raises(ReportFailed, match=r"b.ipynb failed in cell 1: ValueError: broken chapter"):
        run_report({}, tmp_path / "out", notebooks=[good, bad, never], publish=True, log=lambda *a: None)
    assert (tmp_path / "out" / "a.ipynb").exists() and not (tmp_path / "out" / "c.ipynb").exists()
    assert {p: p.read_bytes() for p in (good, bad, never)} == originals


def test_committed_notebooks_carry_a_clean_papermill_run():
    for ch in CHAPTERS:
        nb = REPO / "book" / f"{ch}.ipynb"
        meta = json.loads(nb.read_text())["metadata"].get("papermill")
        assert meta, f"{nb.name} has no papermill record: run `make report`"
        assert meta["exception"] is None and not error_cells(nb), f"{nb.name}: the recorded run failed"
        params = meta["parameters"]
        if "data" in params:
            assert params["data"] != "synthetic", f"{nb.name} shows generated data, not FER2013"


def test_committed_book_builds_with_warnings_as_errors(tmp_path):
    check_html(build_book([REPO / "book" / f"{ch}.ipynb" for ch in CHAPTERS], tmp_path))


def test_parameter_cells_are_hidden():
    for ch in CHAPTERS:
        nb = json.loads((REPO / "book" / f"{ch}.ipynb").read_text())
        for c in nb["cells"]:
            tags = c.get("metadata", {}).get("tags", [])
            if "parameters" in tags or "injected-parameters" in tags:
                assert "remove-cell" in tags, f"{ch}: a parameters cell would show in the book"


def run_report_cli(*args: str) -> subprocess.CompletedProcess:
    """``fer-report run ARGS`` in a child process, from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "fer_report", "run", *args], capture_output=True, text=True, cwd=REPO
    )


def test_only_runs_the_named_chapters_in_book_order(tmp_path):
    from fer_report.runner import select_chapters

    chosen = select_chapters(["results", "q3_confusion.ipynb"])
    assert [nb.stem for nb in chosen] == ["q3_confusion", "results"]  # book order, not the order given
    with pytest.raises(ConfigError, match=r"no chapter named q9_nothing in _toc.yml; chapters: intro, "):
        select_chapters(["q9_nothing", "results"])
    r = run_report_cli("--data", "synthetic", "--out", str(tmp_path / "out"), "--only", "q9_nothing")
    assert r.returncode == 2 and "no chapter named q9_nothing" in r.stderr
    assert not (tmp_path / "out").exists()
    r = run_report_cli("--data", "synthetic", "--out", str(tmp_path / "out"), "--only", "q1_architecture")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["q1_architecture.ipynb"]


def test_notebook_runs_fill_chapters_missing_from_a_partial_run(tmp_path):
    import json

    from fer_report.appendix import notebook_runs

    def write(folder, name, seconds):
        folder.mkdir(exist_ok=True)
        nb = {
            "cells": [],
            "metadata": {
                "papermill": {
                    "duration": seconds,
                    "parameters": {"data": "/somewhere/fer2013.csv.gz", "seed": 0},
                    "exception": None,
                    "start_time": "2026-01-01T00:00:00",
                }
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (folder / name).write_text(json.dumps(nb))

    part, book = tmp_path / "partial", tmp_path / "book"
    write(part, "q4_saliency.ipynb", 7.0)
    write(book, "q4_saliency.ipynb", 99.0)
    write(book, "q3_confusion.ipynb", 3.0)
    rows = {r["notebook"]: r for r in notebook_runs(part, book)}
    assert set(rows) == {"q3_confusion.ipynb", "q4_saliency.ipynb"}
    assert rows["q4_saliency.ipynb"]["seconds"] == 7.0 and rows["q4_saliency.ipynb"]["folder"] == "partial"
    assert rows["q3_confusion.ipynb"]["seconds"] == 3.0 and rows["q3_confusion.ipynb"]["folder"] == "book"
    assert rows["q3_confusion.ipynb"]["parameters"] == {"data": "fer2013.csv.gz", "seed": 0}
    assert [r["notebook"] for r in notebook_runs(part)] == ["q4_saliency.ipynb"]
