"""environment.yml lists what the two pyproject.toml files (the library's and the report's) ask for."""

import re
import tomllib

import yaml

from .conftest import REPO


def norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def project(path: str) -> dict:
    return tomllib.loads((REPO / path).read_text())["project"]


def test_environment_yml_matches_the_pyprojects():
    lib, report = project("pyproject.toml"), project("fer_report/pyproject.toml")
    wanted = {
        norm(r) for r in lib["dependencies"] + lib["optional-dependencies"]["dev"] + report["dependencies"]
    }
    wanted.discard("fer-lib")  # the report's dependency on the library is the `-e .` line
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {norm(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted, (
        f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    )
    assert {r for r in pip if r.startswith("-e")} == {"-e .", "-e ./fer_report"}


def test_the_library_pulls_none_of_the_reports_tools():
    lib = {
        norm(r).split(">")[0].split("=")[0].split("<")[0] for r in project("pyproject.toml")["dependencies"]
    }
    assert not lib & {"papermill", "jupyter-book", "myst-nb", "sympy", "seaborn", "ipykernel"}, lib


def test_jupyter_book_is_pinned_below_2():
    report = project("fer_report/pyproject.toml")
    for reqs in (report["dependencies"], report["optional-dependencies"]["build"]):
        assert any(norm(r) == "jupyter-book>=1.0.4,<2" for r in reqs)


def test_the_library_never_imports_the_report():
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, fer_lib\n"
        "for m in pkgutil.walk_packages(fer_lib.__path__, 'fer_lib.'):\n"
        "    importlib.import_module(m.name)\n"
        "names = {n.split('.')[0] for n in sys.modules}\n"
        "print(sorted(names & {'fer_report', 'sympy', 'seaborn', 'papermill'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout
