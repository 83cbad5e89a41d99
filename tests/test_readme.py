"""The README's results table is the shipped cards' numbers, made by scripts/readme_results.py."""

import importlib.util

from .conftest import REPO


def test_readme_results_are_the_cards():
    spec = importlib.util.spec_from_file_location("readme_results", REPO / "scripts" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = (REPO / "README.md").read_text()
    start, end = readme.index(mod.BEGIN), readme.index(mod.END) + len(mod.END)
    assert readme[start:end] == mod.table(), (
        "README.md is stale: run python scripts/readme_results.py --write"
    )
    assert "| `fer_vgg` |" in readme[start:end]


def test_readme_links_and_test_command():
    readme = (REPO / "README.md").read_text()
    assert "```bash\nmake test\n```" in readme  # what .ci/run calls
    for target in (
        "docs/MAINTAINING.md",
        *(f"book/{p.name}" for p in sorted((REPO / "book").glob("*.ipynb")) if p.stem != "intro"),
    ):
        assert f"]({target})" in readme, f"README does not link {target}"
        assert (REPO / target).exists()
