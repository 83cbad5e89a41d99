"""Publishing: the GitHub Pages workflow, the book's settings, and the built site's internal links."""

import importlib.util
import subprocess

import pytest
import yaml

from .conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def load_link_checker():
    spec = importlib.util.spec_from_file_location("check_links", REPO / "scripts" / "check_links.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def workflow():
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def steps_running(job: dict) -> list[str]:
    return [s["run"].strip() for s in job["steps"] if "run" in s]


def test_workflow_builds_with_make_book_on_pushes_and_pull_requests(workflow):
    assert workflow["on"]["push"]["branches"] == ["main"] and "pull_request" in workflow["on"]
    build = workflow["jobs"]["build"]
    assert "make book" in steps_running(build), "the workflow must build with the same command as people do"
    # what `make book` runs: the jupyter-book build with warnings as errors, then the link check
    dry = subprocess.run(
        ["make", "-n", "-B", "book"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    build_line = next(line for line in dry.splitlines() if "jupyter-book build book" in line)
    assert build_line.split()[-3:] == ["-W", "-n", "--keep-going"], build_line
    assert "scripts/check_links.py book/_build/html" in dry
    uploads = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert any(s["with"]["path"] == "book/_build/html" for s in uploads), "pull requests must upload the HTML"
    external = next(s for s in build["steps"] if s.get("run") == "make book-linkcheck")
    assert external.get("continue-on-error") is True, (
        "a dead external link reports, it does not fail the build"
    )


def test_workflow_uses_the_projects_python_and_caches_pip(workflow):
    setup = next(
        s for s in workflow["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/setup-python")
    )
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert str(setup["with"]["python-version"]) == python.split("=", 1)[1]
    assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == "pyproject.toml"


def test_deploy_needs_the_build_and_runs_only_for_main(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    pages = next(
        s
        for s in workflow["jobs"]["build"]["steps"]
        if s.get("uses", "").startswith("actions/upload-pages-artifact")
    )
    assert pages["if"] == deploy["if"] and pages["with"]["path"] == "book/_build/html"
    assert workflow["permissions"] == {"contents": "read"}, "only the deploy job may write"


def test_book_settings_for_a_published_book():
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    assert cfg["title"] and cfg["author"]
    assert len(cfg["sphinx"]["config"]["myst_html_meta"]["description"]) > 40
    url = cfg["repository"]["url"]
    buttons = {
        k: cfg["html"][k] for k in ("use_edit_page_button", "use_issues_button", "use_repository_button")
    }
    assert set(buttons.values()) == {bool(url)}, (
        f"with repository url {url!r} the buttons must be {'on' if url else 'off'}: {buttons}"
    )
    assert cfg["repository"]["path_to_book"] == "book"
    for key in ("logo", "favicon"):
        target = cfg.get(key) or cfg["html"].get(key)
        assert not target or (REPO / "book" / target).exists(), f"{key} {target} does not exist"


def test_link_checker_finds_missing_pages_anchors_and_links_out_of_the_site(tmp_path):
    check = load_link_checker()
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    (site / "_static" / "style.css").write_text("")
    (site / "_static" / "macros.html").write_text('<a href="{{ pathto(x) }}">template, not a page</a>')
    (site / "a.html").write_text(
        '<link href="_static/style.css"><h1 id="top">A</h1><a href="#top">self</a>'
        '<a href="b.html#part">b</a><a href="https://example.org/x">out</a><a href="mailto:x@y">m</a>'
    )
    (site / "b.html").write_text(
        '<section id="part"></section><a href="a.html#gone">bad anchor</a>'
        '<img src="images/missing.png"><a href="../secret.html">up</a><a href="a.html">a</a>'
    )
    broken, external = check.scan(site)
    assert broken == [
        "b.html: a.html#gone (no id 'gone' on a.html)",
        "b.html: images/missing.png (no such file)",
        "b.html: ../secret.html (points outside the site)",
    ]
    assert external == {"https://example.org/x"}
    (site / "images").mkdir()
    (site / "images" / "missing.png").write_bytes(b"")
    (site / "b.html").write_text(
        '<p id="part"></p><a href="a.html#top">fine</a><img src="images/missing.png">'
    )
    assert check.scan(site)[0] == []
    assert check.main([str(site)]) == 0
