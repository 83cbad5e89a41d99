"""pyproject.toml and environment.yml must list the same dependencies."""

import re
import tomllib

import yaml

from .conftest import REPO


def norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {norm(r) for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {norm(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted, (
        f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    )


def test_jupyter_book_is_pinned_below_2():
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(norm(r) == "jupyter-book>=1.0.4,<2" for r in py["optional-dependencies"]["dev"])
