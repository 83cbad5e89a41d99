"""The appendix's tables (fer_report.appendix) on hand-made chapter runs and records with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_report import appendix


def executed(
    folder, name: str, seconds: float | None, parameters: dict, exception: str | None = None
) -> None:
    """A notebook with papermill's record of a run, as the runner leaves it."""
    folder.mkdir(exist_ok=True)
    pm = {"duration": seconds, "parameters": parameters, "exception": exception, "start_time": "2026-01-01"}
    nb = {"cells": [], "metadata": {"papermill": pm}, "nbformat": 4, "nbformat_minor": 5}
    (folder / name).write_text(json.dumps(nb))


@pytest.fixture
def book(tmp_path, monkeypatch):
    """Two chapters in the table of contents, their runs written into ``tmp_path``/run and /book."""
    monkeypatch.setattr(appendix, "toc_notebooks", lambda: [tmp_path / "intro.ipynb", tmp_path / "q2.ipynb"])
    return tmp_path


def test_chapter_runs_leave_out_what_every_chapter_shares(book):
    executed(book / "run", "intro.ipynb", 12.4, {"data": "/home/me/fer2013.csv.gz", "seed": 0})
    executed(book / "run", "q2.ipynb", None, {"use_pretrained": True})
    table = appendix.runs_table(book / "run").data
    assert list(table.index) == ["intro.ipynb", "q2.ipynb"]
    assert list(table.columns) == ["seconds", "parameters"]  # no exception, one folder: said in the text
    assert list(table["seconds"]) == ["12", ""]
    assert list(table["parameters"]) == ["data='fer2013.csv.gz', seed=0", "use_pretrained=True"]


def test_chapter_runs_show_an_exception_and_where_each_record_came_from(book):
    executed(book / "run", "q2.ipynb", 3.0, {}, exception="ValueError")
    executed(book / "book", "intro.ipynb", 5.0, {})
    executed(book / "book", "q2.ipynb", 99.0, {})
    table = appendix.runs_table(book / "run", book / "book").data
    assert table.loc["q2.ipynb", "seconds"] == "3" and table.loc["intro.ipynb", "seconds"] == "5"
    assert dict(table["exception"]) == {"intro.ipynb": "", "q2.ipynb": "ValueError"}
    assert dict(table["folder"]) == {"intro.ipynb": "book", "q2.ipynb": "run"}


def test_no_chapter_run_gives_an_empty_table(book):
    assert len(appendix.runs_table(book / "nowhere")) == 0


def test_environment_table_names_the_data(tiny):
    table = appendix.environment_table(tiny)
    assert list(table.columns) == ["version / value"]
    assert table.loc["data", "version / value"] == f"35 faces, data hash {tiny.fingerprint()}"
    assert table.loc["python", "version / value"].count(".") == 2


def test_shipped_and_recorded_runs_come_from_the_records(monkeypatch):
    from fer_report import records

    run = {"model": "m", "run": "m_s1", "seed": 1, "epochs": 3, "best epoch": 2, "PublicTest": 0.65123,
           "PrivateTest": None, "PrivateTest ten-crop": 0.7, "shipped": True, "minutes": 4.0}  # fmt: skip
    tried = {"run": "t", "model": "m", "seed": 0, "epochs": "2 of 5", "best epoch": 1, "best PublicTest": 0.6,
             "question": "why?", "note": ""}  # fmt: skip
    monkeypatch.setattr(records, "shipped_runs", lambda: [run])
    monkeypatch.setattr(records, "experiment_rows", lambda: [tried])
    shipped = appendix.shipped_table()
    assert list(shipped.data.index) == [("m", "m_s1")] and "minutes" not in shipped.data
    html = shipped.to_html()
    assert "0.6512" in html and "0.7000" in html and "nan" not in html
    experiments = appendix.experiments_table()
    assert list(experiments.data.columns) == [
        "model",
        "seed",
        "epochs",
        "best epoch",
        "best PublicTest",
        "question",
    ]
    assert "0.6000" in experiments.to_html()
    lines = appendix.shipped_runs_table().data.splitlines()
    assert lines[0] == (
        "| run | model | seed | epoch kept, of | PublicTest | PrivateTest | PrivateTest, ten-crop | shipped |"
    )
    # the epoch kept and the epochs trained held on one line; PrivateTest not measured, so empty
    assert lines[2] == "| m_s1 | m | 1 | 2\u00a0of\u00a03 | 0.6512 |  | 0.7000 | yes |"
    monkeypatch.setattr(records, "experiment_rows", lambda: [])
    assert appendix.experiments_table() == ""


def test_report_cnn_runs_are_drawn_against_the_original(monkeypatch):
    import fer_lib.pretrained as pretrained

    hist = [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.62}]
    monkeypatch.setattr(pretrained, "pretrained_info", lambda m: {"history": hist})
    monkeypatch.setattr(pretrained, "experiments", lambda m: [{"run": "try", "history": hist[:1]}])
    ax = appendix.report_cnn_runs().axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["shipped report_cnn", "try"]
    assert [t.get_text() for t in ax.texts] == ["original report val_acc 0.6510"]
    assert np.isclose(ax.get_lines()[-1].get_ydata()[0], 0.651)  # the target line, drawn last


def test_local_runs_table_or_the_sentence_for_none(tmp_path, monkeypatch):
    from fer_report import records

    assert appendix.local_table(tmp_path) == f"No run folders in {tmp_path}."
    row = {"run": "r", "model": "m", "best PublicTest acc": 0.612345, "config": {}, "data hash": "abc"}
    monkeypatch.setattr(records, "local_runs", lambda run_dir: [row])
    table = appendix.local_table(tmp_path)
    assert (
        list(table.columns) == ["model", "best PublicTest acc"]
        and table.loc["r", "best PublicTest acc"] == 0.6123
    )


# --------------------------------------------------------------------------- the page as written (issue 51)


def test_minutes_are_whole_and_unknown_times_are_left_out():
    assert [appendix.minutes(s) for s in (None, float("nan"), 12.0, 59.9, 90.0, 6945.5)] == [
        "", "", "under 1", "under 1", "2", "116",
    ]  # fmt: skip


def test_run_times_leave_out_a_chapter_without_a_duration_and_name_no_machine(book):
    executed(book / "run", "intro.ipynb", 4000.0, {"data": "/home/me/fer2013.csv", "seed": 0})
    executed(book / "run", "q2.ipynb", None, {})
    lines = appendix.run_times_table(book / "run").data.splitlines()
    assert lines[0] == "| chapter | minutes | parameters |"
    assert lines[2:] == ["| intro | 67 | data=fer2013.csv, seed=0 |"]  # q2 has no duration yet
    executed(book / "run", "q2.ipynb", 60.0, {"use_pretrained": True})
    lines = appendix.run_times_table(book / "run").data.splitlines()
    assert lines[3] == "| q2 | 1 | use_pretrained=true |", "a truth value as it is typed after -p"


def test_the_run_times_paragraph_holds_or_stops_the_page():
    from fer_report.claims import ClaimFailed

    def run(name: str, seconds: float | None, folder: str = "run") -> dict:
        return {"notebook": f"{name}.ipynb", "seconds": seconds, "folder": folder}

    one_run = [run("intro", 372.0), run("q4_saliency", 309.0), run("results", 17.0)]
    one_run.append(run("appendix", 3000.0, "book"))
    # this page's own record, from the book, does not count; the others come longest first
    assert appendix.check_run_times(one_run) == ["intro", "q4_saliency", "results"]
    with_none = [*one_run, run("q5_filters", None, "book")]  # nor a chapter without a time
    assert appendix.check_run_times(with_none) == ["intro", "q4_saliency", "results"]
    assert appendix.check_run_times([*one_run, run("photos", 320.0)])[:2] == ["intro", "photos"]
    with pytest.raises(ClaimFailed, match="one run of every chapter"):
        appendix.check_run_times([*one_run, run("photos", 90.0, "book")])


def test_the_recomputed_batchnorm_caption_holds_or_stops_the_page():
    from fer_report.claims import ClaimFailed

    appendix.check_recomputed()  # the shipped cards
    with pytest.raises(ClaimFailed, match="had BatchNorm recomputed"):
        appendix.check_recomputed(("fer_vgg",))


def test_the_versions_table_names_no_machine():
    table = appendix.versions_table().data
    assert "| torch |" in table and "| fer-lib |" in table
    for word in ("platform", "processor", "threads", "cuda", "bf16", "Linux"):
        assert word not in table


def test_the_experiments_claim_fails_where_another_model_has_experiments(monkeypatch):
    import fer_report.records as records
    from fer_report.claims import ClaimFailed

    rows = [
        {"model": "report_cnn", "best PublicTest": 0.64},
        {"model": "report_cnn", "best PublicTest": 0.66},
    ]
    rows.append({"model": "report_cnn", "best PublicTest": 0.62})
    monkeypatch.setattr(records, "experiment_rows", lambda: rows)
    values = appendix.experiment_values(shipped=0.6512)
    assert (values["app_n_experiments"], values["app_reach_target"]) == ("3", "1")
    assert (
        values["app_shipped_public"] == "0.6512" and appendix.experiment_values()["app_shipped_public"] == ""
    )
    assert (values["app_best_low"], values["app_best_high"]) == ("0.6200", "0.6600")
    monkeypatch.setattr(
        records, "experiment_rows", lambda: [*rows, {"model": "fer_vgg", "best PublicTest": 0.6}]
    )
    with pytest.raises(ClaimFailed, match="every recorded experiment is of report_cnn"):
        appendix.experiment_values()
    two_of_three = [dict(r, **{"best PublicTest": 0.66}) for r in rows[:2]] + rows[2:]
    monkeypatch.setattr(records, "experiment_rows", lambda: two_of_three)
    with pytest.raises(ClaimFailed, match="most recorded runs stay under 0.6510"):
        appendix.experiment_values()


def test_the_notebook_holds_only_short_calls():
    from .conftest import REPO
    from .report_cells import notebook_problems

    assert notebook_problems(REPO / "book" / "appendix.ipynb") == []
