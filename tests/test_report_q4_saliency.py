"""The saliency chapter's functions (fer_report.q4_saliency) on hand-made inputs with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fer_lib import attribution as A
from fer_lib.data import CLASSES
from fer_lib.evaluate import predict_logits, to_float_images
from fer_lib.models import build_model
from fer_lib.synthetic import synthetic_fer
from fer_report import q4_saliency as q4


@pytest.fixture(scope="module")
def faces():
    return synthetic_fer(14, 7, 14, seed=3)


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return build_model("report_cnn").eval()


def test_method_names_expand_all_and_keep_a_single_name_whole():
    assert q4.method_names("all") == list(A.METHODS)
    assert q4.method_names(["gradcam", "saliency"]) == ["gradcam", "saliency"]
    assert q4.method_names("saliency") == ["saliency"]


def test_probability_titles_name_the_true_class_and_its_probability():
    probs = torch.tensor([[0.1, 0.0, 0.0, 0.9, 0, 0, 0], [0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75]])
    assert q4.probability_titles(probs, [3, 0]) == ["happy 0.90", "angry 0.25"]


@pytest.mark.parametrize(
    "n, expected", [(7, [0, 1, 2, 3]), (14, [0, 3, 6, 9]), (2, [0, 1]), (28, [0, 7, 14, 21])]
)
def test_spread_rows_take_four_rows_evenly(n, expected):
    assert q4.spread_rows(n) == expected


def test_attribution_maps_keep_the_picked_faces_and_each_models_maps(faces, net):
    pick = np.array([0, 5, 9])
    att = q4.attribution_maps({"a": net}, faces, pick, methods=["saliency", "gradcam"], ig_steps=2)
    test = faces.split("PrivateTest")
    assert np.array_equal(att.images, test.images[pick])
    assert att.labels.tolist() == test.labels[pick].tolist()
    assert list(att.maps["a"]) == ["saliency", "gradcam"] and att.maps["a"]["saliency"].shape == (
        3,
        1,
        48,
        48,
    )
    x, t = to_float_images(test.images[pick]), torch.as_tensor(test.labels[pick])
    assert torch.allclose(att.maps["a"]["saliency"], A.attribute(net, x, t, "saliency"))
    p = predict_logits(net, test.images[pick]).softmax(1)
    first = int(test.labels[pick][0])
    assert att.titles["a"][0] == f"{CLASSES[first]} {float(p[0, first]):.2f}"


def test_smoothgrad_maps_repeat_with_the_seed_and_leave_the_callers_generator_alone(faces, net):
    pick = np.array([1, 2])
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    maps = [
        q4.attribution_maps({"a": net}, faces, pick, methods=["smoothgrad"], seed=s, smooth_samples=2).maps
        for s in (0, 0, 1)
    ]
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(maps[0]["a"]["smoothgrad"], maps[1]["a"]["smoothgrad"])
    assert not torch.equal(maps[0]["a"]["smoothgrad"], maps[2]["a"]["smoothgrad"])


def test_figures_show_the_four_methods_that_ran_and_every_face(faces, net):
    att = q4.attribution_maps(
        {"report_cnn": net},
        faces,
        np.arange(7),
        methods=["saliency", "gradcam", "smoothgrad"],
        smooth_samples=2,
    )
    few = q4.few_faces_figure(att)
    # four faces, a face column plus the two shown methods that ran (smoothgrad is not among the shown), a bar
    assert len(few.axes) == 4 * 3 + 1
    assert [ax.get_title() for ax in few.axes[:3]] == ["face", "saliency", "gradcam"]
    grid = q4.grid_figure(att, "report_cnn")
    assert len(grid.axes) == 7 * 4 + 1


def test_curves_start_with_the_random_order_and_cover_the_faces_asked(faces, net, monkeypatch):
    calls = []

    def fake(model, x, target, maps, *, seed=0, bf16=None):
        calls.append((len(x), target.tolist(), maps is None, seed, bf16))
        return {"deletion_auc": np.full(len(x), float(len(calls)))}

    monkeypatch.setattr(A, "deletion_insertion", fake)
    curves = q4.deletion_curves(
        {"m": net, "n": net}, faces, 5, False, methods=["saliency", "gradcam"], seed=4
    )
    assert [list(c) for c in curves.values()] == [["random", "saliency", "gradcam"]] * 2
    labels = faces.split("PrivateTest").labels[:5].tolist()
    # the random order gets the seed; every call sees the first five faces and the bf16 setting
    assert calls[0] == (5, labels, True, 4, False) and calls[1] == (5, labels, False, 0, False)
    assert curves["n"]["random"]["deletion_auc"][0] == 4.0  # model after model, random first


def test_randomisation_results_run_the_test_on_the_first_faces(faces, net, monkeypatch):
    seen = {}

    def fake(model, x, target, methods, *, seed=0, **opts):
        seen.update(n=len(x), labels=target.tolist(), methods=methods, seed=seed, opts=opts)
        return {m: [("none", 1.0)] for m in methods}

    monkeypatch.setattr(A, "randomization_test", fake)
    res = q4.randomisation_results({"m": net}, faces, 3, methods=["saliency"], seed=2, ig_steps=4)
    assert res == {"m": {"saliency": [("none", 1.0)]}}
    assert seen == {
        "n": 3,
        "labels": faces.split("PrivateTest").labels[:3].tolist(),
        "methods": ["saliency"],
        "seed": 2,
        "opts": {"ig_steps": 4},
    }


def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Hand-made region, randomisation and AUC tables for report_cnn: saliency looks at the mouth (40%),
    passes the randomisation test and is better than random at deletion."""
    shares = {"forehead": 0.1, "eyes": 0.2, "nose": 0.2, "mouth": 0.4, "chin": 0.1}
    assert set(shares) == set(A.REGIONS)
    index = pd.MultiIndex.from_tuples([("report_cnn", "saliency")], names=["model", "method"])
    regions = pd.DataFrame([{**shares, "brightness rho": 0.05}], index=index)
    randomisation = q4.randomisation_table(
        {"report_cnn": {"saliency": [("none", 1.0), ("top", 0.8), ("all", 0.1)]}}
    )
    rng = np.random.default_rng(0)
    rand = {"deletion_auc": rng.uniform(0.4, 0.6, 50), "insertion_auc": rng.uniform(0.4, 0.6, 50)}
    good = {"deletion_auc": rand["deletion_auc"] - 0.1, "insertion_auc": rand["insertion_auc"]}
    aucs = q4.auc_table({"report_cnn": {"random": rand, "saliency": good}})
    return regions, randomisation, aucs


def test_chapter_values_hold_every_glue_name_the_text_reads():
    regions, randomisation, aucs = tables()
    values = q4.chapter_values(regions, randomisation, aucs, n_faces=14, n_random=48, n_eval=500)
    assert set(values) == {"q4_answer", "q4_finding", "q4_verdict", "q4_n_faces", "q4_rand_n", "q4_eval_n"}
    assert (values["q4_n_faces"], values["q4_rand_n"], values["q4_eval_n"]) == ("14", "48", "500")
    answer = values["q4_answer"].data
    assert answer.startswith("Plain saliency on report_cnn looks mostly at the mouth band (40%")
    assert values["q4_finding"] == answer.split(". ")[0] + "."
    assert "1 of 1 methods pass" in values["q4_verdict"].data


def test_styled_tables_format_their_numbers():
    regions, randomisation, aucs = tables()
    assert "0.40" in q4.styled_regions(regions).to_html()
    assert "+0.10" in q4.styled_randomisation(randomisation).to_html()  # rho fully randomised, signed
    html = q4.styled_aucs(aucs).to_html()
    assert "-0.100" in html and f"{aucs['deletion AUC'].iloc[0]:.3f}" in html
    assert "insertion" not in html and ">yes<" in q4.styled_randomisation(randomisation).to_html()
    insertion = q4.styled_aucs(aucs, "insertion").to_html()
    assert f"{aucs['insertion AUC'].iloc[0]:.3f}" in insertion and "deletion" not in insertion


def test_a_cell_with_a_loop_or_too_many_lines_is_caught():
    from .report_cells import cell_problems

    loop = {
        "cell_type": "code",
        "metadata": {},
        "source": ["%matplotlib inline\n", "for i in x:\n", "    f(i)"],
    }
    long = {"cell_type": "code", "metadata": {"tags": ["remove-cell"]}, "source": ["a = 1\n"] * 11}
    short = {"cell_type": "code", "metadata": {}, "source": ["t = q4.table(x)\n", "q4.styled(t)"]}
    params = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ["a = 1\n"] * 12}
    assert cell_problems([loop, long, short, params]) == [
        "cell 0 holds For",
        "cell 1 has 11 lines (at most 10)",
    ]
