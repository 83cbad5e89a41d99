"""The report's command line (fer_report.__main__): its mistakes end in one sentence, exit 2."""

from __future__ import annotations

import pytest

from fer_report import runner
from fer_report.__main__ import main

from .conftest import REPO


def one_sentence(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-report: error: "), err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


def cli(capsys, *args: str) -> tuple[int, str]:
    rc = main(list(args))
    return rc, capsys.readouterr().err


def test_report_parameters_are_checked_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    base = ["run", "--data", "synthetic", "--out", str(tmp_path / "out"), "--only", "q1_architecture"]
    for bad, words in (
        (["-p", "epochs"], "-p takes KEY=VALUE (for example -p epochs=2)"),
        (["-p", "epochs=[1,"], "-p epochs=[1,: the value is not valid"),
        (["-p", "epoch=2"], "no chapter run here takes the parameter 'epoch'"),
        (["-p", "device=cuda"], "-p device=... is set by --device; use --device instead"),
        (["-p", "data=x.csv"], "-p data=... is set by --data; use --data instead"),
    ):
        rc, err = cli(capsys, *base, *bad)
        assert rc == 2
        one_sentence(err, words)
    rc, err = cli(capsys, *base[:-1], "q2_training", "-p", "epoch=2")
    one_sentence(err, "did you mean epochs?")
    assert not (tmp_path / "out").exists()


def test_every_declared_parameter_is_used_by_its_chapter():
    """A chapter that declares a parameter reads it: otherwise -p KEY=... would be accepted and ignored."""
    import json
    import re

    for nb in runner.toc_notebooks(REPO):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        tags = [set(c.get("metadata", {}).get("tags", [])) for c in cells]
        declared = "".join("".join(c["source"]) for c, t in zip(cells, tags) if "parameters" in t)
        names = [line.split("=")[0].strip() for line in declared.splitlines() if "=" in line]
        rest = "".join(
            "".join(c["source"]) for c, t in zip(cells, tags) if not {"parameters", "injected-parameters"} & t
        )
        unused = [n for n in names if not re.search(rf"\b{n}\b", rest)]
        assert not unused, f"{nb.name} declares {unused} but never reads them"


def test_report_paths_are_the_callers(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(runner, "run_report", lambda params, out, **kw: seen.update(params))
    monkeypatch.chdir(REPO / "book")
    assert main(["run", "--data", "mine.csv", "--out", str(tmp_path / "o"), "--run-dir", "r"]) == 0
    assert seen["data"] == "book/mine.csv" and seen["run_dir"] == "book/r"
    assert seen["report_dir"] == str(tmp_path / "o")
    monkeypatch.chdir(REPO)
    assert main(["run", "--data", "synthetic", "--out", "_report_x", "--run-dir", "runs"]) == 0
    assert seen["data"] == "synthetic" and seen["run_dir"] == "runs" and seen["report_dir"] == "_report_x"


def test_the_runner_says_where_it_must_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = cli(capsys, "run", "--data", "synthetic")
    assert rc == 2
    one_sentence(err, f"no _toc.yml with a book/ folder beside it at or above {tmp_path.resolve()}")


def test_holdout_export_needs_a_destination(capsys):
    with pytest.raises(SystemExit) as e:
        main(["holdout", "runs/x"])
    assert e.value.code == 2
    assert "--dest" in capsys.readouterr().err
