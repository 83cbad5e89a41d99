"""Each model is measured once per report run, and a chapter runs without a stale injected parameter."""

import json

import pytest
import torch

from fer_lib.models import build_model
from fer_lib.synthetic import synthetic_fer
from fer_report import measured as M


@pytest.fixture
def counted(monkeypatch):
    from fer_lib import evaluate

    calls = []
    real = evaluate.measure

    def measure(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "measure", measure)
    monkeypatch.setattr(M, "_memory", {})
    return calls


def test_a_model_is_measured_once_and_shared_through_the_runs_folder(counted, tmp_path, monkeypatch):
    data = synthetic_fer(0, 20, 20, seed=1)
    torch.manual_seed(0)
    model = build_model("report_cnn")
    monkeypatch.setenv(M.MEASURED_ENV, str(tmp_path / ".measured"))
    first = M.measured(model, data)
    assert M.measured(model, data) is first and len(counted) == 1
    assert set(first["metrics"]) == {"PublicTest", "PrivateTest"}
    assert len(first["predictions"]["PrivateTest tencrop"]) == 20
    monkeypatch.setattr(M, "_memory", {})  # the next chapter: another process, the same folder
    again = M.measured(model, data)
    assert again == json.loads(json.dumps(first)) and len(counted) == 1
    torch.nn.init.zeros_(model.fc[-1].weight if hasattr(model, "fc") else list(model.parameters())[-2])
    M.measured(model, data)  # other weights: measured anew
    assert len(counted) == 2 and len(list((tmp_path / ".measured").glob("*.json"))) == 2


def test_a_chapter_that_needs_one_view_measures_only_that_and_the_rest_is_added(
    counted, tmp_path, monkeypatch
):
    data = synthetic_fer(0, 12, 12, seed=3)
    torch.manual_seed(0)
    model = build_model("report_cnn")
    monkeypatch.setenv(M.MEASURED_ENV, str(tmp_path / ".measured"))
    one = M.measured(model, data, splits=("PrivateTest",), views=("none",))
    assert set(one["predictions"]) == {"PrivateTest none"} and set(one["metrics"]) == {"PrivateTest"}
    assert set(one["metrics"]["PrivateTest"]) == {"n", "accuracy"}
    monkeypatch.setattr(M, "_memory", {})  # another chapter, another view: added to what was kept
    two = M.measured(model, data, splits=("PublicTest",), views=("flip",))
    assert set(two["predictions"]) == {"PrivateTest none", "PublicTest flip"} and len(counted) == 2
    assert two["predictions"]["PrivateTest none"] == one["predictions"]["PrivateTest none"]
    assert set(two["metrics"]) == {"PublicTest", "PrivateTest"}
    assert set(two["metrics"]["PrivateTest"]) == {"n", "accuracy"}
    monkeypatch.setattr(M, "_memory", {})  # the folder holds both: neither is measured again
    assert M.measured(model, data, splits=("PrivateTest",), views=("none",)) == two and len(counted) == 2
    every = M.measured(model, data)  # everything: the rest is measured
    assert len(counted) == 3 and len(every["predictions"]) == 6
    assert every["predictions"]["PrivateTest none"] == one["predictions"]["PrivateTest none"]
    assert set(every["metrics"]["PrivateTest"]) == {"n", "accuracy", "accuracy_flip", "accuracy_tencrop"}
    monkeypatch.setattr(M, "_memory", {})
    assert M.measured(model, data, views=("flip",)) == every and len(counted) == 3  # read back, not run


def test_without_the_runs_folder_a_chapter_measures_in_its_own_process(counted, monkeypatch):
    monkeypatch.delenv(M.MEASURED_ENV, raising=False)
    data = synthetic_fer(0, 10, 10, seed=2)
    model = build_model("report_cnn")
    M.measured(model, data)
    M.measured(model, data)
    assert len(counted) == 1


def test_a_chapter_given_no_parameters_does_not_run_an_earlier_runs_injected_cell(tmp_path):
    import nbformat

    from fer_report.runner import run_report

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("value = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("value = 99", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print('value', value)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chapter = tmp_path / "book" / "chapter.ipynb"
    chapter.parent.mkdir()
    nbformat.write(nb, chapter)
    (out,) = run_report({}, tmp_path / "out", notebooks=[chapter], log=lambda *_: None)
    ran = nbformat.read(out, as_version=4)
    assert "value 1" in ran.cells[-1].outputs[0]["text"]
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in ran.cells)
