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
from fer_report.claims import ClaimFailed


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
    assert torch.allclose(att.maps["a"]["saliency"], A.attribute(net, x, t, "saliency", bf16=None))
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


def test_full_precision_agreement_compares_with_float32_maps_only_where_bf16_was_used(
    faces, net, monkeypatch
):
    from fer_report import q4_saliency

    pick = np.array([0, 5, 9])
    opts = dict(methods=["saliency", "smoothgrad"], smooth_samples=4, seed=1)
    monkeypatch.setattr(q4_saliency, "bf16_pays", lambda device: False)
    exact = q4.attribution_maps({"a": net}, faces, pick, bf16=False, **opts)
    assert q4.full_precision_agreement({"a": net}, faces, pick, exact, **opts) == q4.Precision(
        "float32", 1.0, 3
    )
    monkeypatch.setattr(q4_saliency, "bf16_pays", lambda device: True)
    # the same maps compared with themselves: the same noise is drawn, so they agree fully
    same = q4.full_precision_agreement({"a": net}, faces, pick, exact, **opts)
    assert same.name == "bfloat16" and same.rho == pytest.approx(1.0, abs=1e-4) and same.faces == 3
    fast = q4.attribution_maps({"a": net}, faces, pick, bf16=True, **opts)
    near = q4.full_precision_agreement({"a": net}, faces, pick, fast, **opts)
    assert 0.5 < near.rho < 1.0  # bf16 maps: close, not equal
    shuffled = {"a": {m: a.flip(-1) for m, a in fast.maps["a"].items()}}  # maps of other pixels
    far = q4.full_precision_agreement(
        {"a": net}, faces, pick, q4.Attributions(**{**vars(fast), "maps": shuffled}), **opts
    )
    assert far.rho < near.rho


def test_the_precision_sentence_is_glued_and_held():
    regions, randomisation, aucs = run_tables()
    counts = dict(n_faces=14, n_random=48, n_eval=500)
    values = q4.chapter_values(
        regions, randomisation, aucs, **counts, precision=q4.Precision("bfloat16", 0.941, 14)
    )
    said = (values["q4_precision"], values["q4_fp32_rho"], values["q4_fp32_faces"])
    assert said == ("reduced (16-bit) precision", "0.94", "14")
    full = q4.chapter_values(regions, randomisation, aucs, **counts)["q4_precision"]
    assert full == "full (32-bit) precision"
    with pytest.raises(ClaimFailed, match="full-precision maps rank the pixels nearly"):
        q4.chapter_values(regions, randomisation, aucs, **counts, precision=q4.Precision("bfloat16", 0.6, 14))


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
        "opts": {"ig_steps": 4, "bf16": None},  # bf16 where it pays, for the trained and randomised maps
    }
    q4.randomisation_results({"m": net}, faces, 3, methods=["saliency"], bf16=False)
    assert seen["opts"] == {"bf16": False}


# The committed real run (book/q4_saliency.ipynb, the shipped models on FER2013), as its tables print it:
# the claims of the chapter must hold on these numbers, and fail on numbers that contradict them.
METHODS = list(A.METHODS)
REGIONS_RUN = {  # forehead, eyes, nose, mouth, chin, brightness rho; one row per method in METHODS' order
    "report_cnn": """
        0.22 0.28 0.18 0.26 0.07 0.14
        0.23 0.26 0.20 0.24 0.07 0.43
        0.14 0.30 0.18 0.30 0.07 0.12
        0.20 0.23 0.19 0.26 0.12 0.02
        0.18 0.28 0.17 0.28 0.09 -0.04
        0.25 0.24 0.14 0.22 0.07 0.12
        0.20 0.28 0.12 0.28 0.05 0.02
        0.20 0.21 0.17 0.30 0.12 0.03
    """,
    "simple_cnn": """
        0.21 0.27 0.19 0.26 0.07 0.13
        0.22 0.25 0.21 0.25 0.07 0.44
        0.15 0.32 0.18 0.27 0.07 0.06
        0.23 0.24 0.17 0.26 0.10 0.13
        0.17 0.30 0.17 0.27 0.09 0.05
        0.23 0.22 0.17 0.29 0.09 0.10
        0.16 0.27 0.18 0.33 0.07 0.03
        0.20 0.26 0.18 0.25 0.10 0.03
    """,
}
RANDOMISATION_RUN = {  # rho once the output layer is random, once every layer is
    "report_cnn": """
        0.41 0.08
        0.55 0.30
        0.68 0.54
        0.55 0.33
        0.90 0.26
        0.06 0.13
        0.09 0.15
        0.30 0.05
    """,
    "simple_cnn": """
        0.27 0.04
        0.44 0.29
        0.61 0.53
        0.39 0.28
        0.92 0.25
        0.08 0.02
        0.16 0.10
        0.11 0.03
    """,
}
AUCS_RUN = {  # deletion AUC, its difference from random and interval; the same for insertion
    "report_cnn": """
        0.290 -0.032 -0.040 -0.023 0.385 0.066 0.056 0.075
        0.321 -0.001 -0.011 0.009 0.367 0.048 0.038 0.058
        0.220 -0.101 -0.115 -0.087 0.460 0.141 0.126 0.155
        0.257 -0.064 -0.078 -0.051 0.440 0.121 0.107 0.134
        0.231 -0.090 -0.104 -0.077 0.460 0.140 0.126 0.155
        0.288 -0.034 -0.051 -0.018 0.421 0.101 0.085 0.118
        0.290 -0.032 -0.047 -0.016 0.414 0.095 0.078 0.112
        0.268 -0.053 -0.069 -0.038 0.471 0.152 0.134 0.170
    """,
    "simple_cnn": """
        0.297 -0.054 -0.063 -0.045 0.415 0.065 0.056 0.073
        0.329 -0.023 -0.033 -0.013 0.395 0.044 0.035 0.054
        0.228 -0.123 -0.138 -0.108 0.482 0.132 0.119 0.145
        0.232 -0.120 -0.135 -0.104 0.478 0.128 0.113 0.142
        0.230 -0.122 -0.137 -0.107 0.501 0.151 0.137 0.164
        0.239 -0.113 -0.129 -0.096 0.482 0.132 0.117 0.146
        0.228 -0.124 -0.140 -0.108 0.492 0.142 0.128 0.156
        0.218 -0.133 -0.151 -0.116 0.509 0.159 0.144 0.175
    """,
}


def _rows(text: str) -> list[list[float]]:
    return [[float(v) for v in row.split()] for row in text.strip().splitlines()]


def run_tables(
    regions_run=REGIONS_RUN, randomisation_run=RANDOMISATION_RUN, aucs_run=AUCS_RUN
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The committed run's region, randomisation and AUC tables, built the way the chapter builds them."""
    bands = list(A.REGIONS)
    regions = pd.DataFrame(
        [
            {"model": model, "method": m, **dict(zip([*bands, "brightness rho"], row))}
            for model, text in regions_run.items()
            for m, row in zip(METHODS, _rows(text))
        ]
    ).set_index(["model", "method"])
    randomisation = q4.randomisation_table(
        {
            model: {
                m: [("trained", 1.0), ("top", top), ("all", full)]
                for m, (top, full) in zip(METHODS, _rows(t))
            }
            for model, t in randomisation_run.items()
        }
    )
    rows = []
    for model, text in aucs_run.items():
        for m, (d, dd, dlo, dhi, i, di, ilo, ihi) in zip(METHODS, _rows(text)):
            row = {"model": model, "method": m}
            for kind, auc, diff, lo, hi, lower in (
                ("deletion", d, dd, dlo, dhi, True),
                ("insertion", i, di, ilo, ihi, False),
            ):
                row |= {
                    f"{kind} AUC": auc,
                    f"{kind} vs random": diff,
                    f"{kind} 95% interval": f"[{lo:+.3f}, {hi:+.3f}]",
                    kind: q4._compare(lo, hi, lower),
                    f"{kind} low": lo,
                    f"{kind} high": hi,
                }
            rows.append(row)
    return regions, randomisation, pd.DataFrame(rows).set_index(["model", "method"])


def test_the_chapters_claims_hold_on_the_committed_run():
    regions, randomisation, aucs = run_tables()
    q4.check_claims(regions, randomisation, aucs)
    assert q4.readable_methods(randomisation, aucs) == ["saliency", "gradcam", "guided_gradcam", "occlusion"]
    assert q4.recommended_methods(randomisation, aucs) == [q4.RECOMMENDED_METHOD] == ["occlusion"]
    assert q4.best_or_tied(aucs, "report_cnn", "deletion", METHODS) == [
        "integrated_gradients",
        "guided_backprop",
    ]


def _changed(run: dict, model: str, method: str, position: int, value: float) -> dict:
    """A copy of one of the run's tables with one number of one row replaced."""
    rows = _rows(run[model])
    rows[METHODS.index(method)][position] = value
    return {**run, model: "\n".join(" ".join(str(v) for v in r) for r in rows)}


@pytest.mark.parametrize(
    "change, says",
    [
        # integrated gradients passes the randomisation test on simple_cnn
        (
            dict(
                randomisation_run=_changed(RANDOMISATION_RUN, "simple_cnn", "integrated_gradients", 1, 0.45)
            ),
            "only integrated gradients fails on simple_cnn",
        ),
        # smoothgrad fails it on report_cnn
        (
            dict(randomisation_run=_changed(RANDOMISATION_RUN, "report_cnn", "smoothgrad", 1, 0.62)),
            "only integrated gradients fails on report_cnn",
        ),
        # guided backprop's maps change once the output layer is random
        (
            dict(randomisation_run=_changed(RANDOMISATION_RUN, "report_cnn", "guided_backprop", 0, 0.35)),
            "keep rho above",
        ),
        # input x gradient beats random on report_cnn's deletion curve: no longer a tie
        (dict(aucs_run=_changed(AUCS_RUN, "report_cnn", "input_x_gradient", 3, -0.002)), "a tie"),
        # Grad-CAM's insertion on report_cnn as high as occlusion's: two methods to recommend
        (
            dict(
                aucs_run=_changed(
                    _changed(AUCS_RUN, "report_cnn", "gradcam", 4, 0.480), "report_cnn", "gradcam", 7, 0.180
                )
            ),
            "insertion AUC on report_cnn is the highest",
        ),
        # occlusion's deletion on report_cnn reaches integrated gradients' interval
        (dict(aucs_run=_changed(AUCS_RUN, "report_cnn", "occlusion", 2, -0.090)), "beyond the noise"),
        # smoothgrad's maps on simple_cnn fall below the line at once too: the text names the four that do
        (
            dict(randomisation_run=_changed(RANDOMISATION_RUN, "report_cnn", "smoothgrad", 0, 0.45)),
            "no other method does",
        ),
        # guided backprop deletes best on simple_cnn
        (dict(aucs_run=_changed(AUCS_RUN, "simple_cnn", "guided_backprop", 0, 0.210)), "simple_cnn's lowest"),
        # saliency follows brightness
        (
            dict(regions_run=_changed(REGIONS_RUN, "report_cnn", "saliency", 5, 0.35)),
            "hardly follows brightness",
        ),
        # saliency's forehead share above its area
        (dict(regions_run=_changed(REGIONS_RUN, "report_cnn", "saliency", 0, 0.31)), "forehead less than"),
    ],
)
def test_numbers_that_contradict_the_text_stop_the_chapter(change, says):
    with pytest.raises(ClaimFailed, match=says):
        q4.check_claims(*run_tables(**change))


def test_chapter_values_glue_every_number_the_text_reads():
    regions, randomisation, aucs = run_tables()
    values = q4.chapter_values(regions, randomisation, aucs, n_faces=14, n_random=48, n_eval=500)
    assert (values["q4_n_faces"], values["q4_rand_n"], values["q4_eval_n"]) == ("14", "48", "500")
    assert values["q4_occ_rand_rc"] == "+0.05" and values["q4_gbp_top_sc"] == "+0.92"
    assert values["q4_ixg_delvs_rc"] == "−0.001 [−0.011, +0.009], tie"
    assert values["q4_occ_ins_sc"] == "0.509" and values["q4_sal_eyes_rc"] == "28%"
    assert values["q4_sal_bright_rc"] == "+0.14" and values["q4_forehead_height"] == "27%"
    assert values["q4_finding"].startswith("Of eight attribution methods, occlusion is the one to read")
    # on generated faces the values are glued without holding the text to them
    flipped = _changed(RANDOMISATION_RUN, "report_cnn", "smoothgrad", 1, 0.62)
    _, wrong, _ = run_tables(randomisation_run=flipped)
    with pytest.raises(ClaimFailed):
        q4.chapter_values(regions, wrong, aucs, n_faces=1, n_random=1, n_eval=1)
    assert q4.chapter_values(regions, wrong, aucs, n_faces=1, n_random=1, n_eval=1, checked=False)


def test_a_smoke_run_with_fewer_methods_still_glues_every_name_the_text_reads():
    regions, randomisation, aucs = run_tables()
    few = [m for m in METHODS if m != "occlusion"]
    full = q4.chapter_values(regions, randomisation, aucs, n_faces=14, n_random=48, n_eval=500)
    part = [t[t.index.get_level_values("method").isin(few)] for t in (regions, randomisation, aucs)]
    values = q4.chapter_values(*part, n_faces=7, n_random=6, n_eval=20, checked=False)
    assert set(values) == set(full)
    assert values["q4_occ_ins_rc"] == "n/a" and values["q4_sal_ins_rc"] == full["q4_sal_ins_rc"]


def test_tables_as_markdown_wrap_text_and_keep_numbers_signed():
    regions, randomisation, aucs = run_tables()
    md = q4.regions_markdown(regions).data.splitlines()
    assert md[0].startswith("| method | model | forehead |") and len(md) == 2 + 16
    assert "| saliency | report_cnn | 0.22 | 0.28 | 0.18 | 0.26 | 0.07 | +0.14 |" in md
    rand = q4.randomisation_markdown(randomisation).data.splitlines()
    assert len(rand) == 2 + 8
    assert "| integrated_gradients | +0.68 | +0.54 | +0.61 | +0.53 | no |" in rand
    deletion = q4.auc_markdown(aucs, "deletion").data
    assert (
        "| input_x_gradient | 0.321 | −0.001 [−0.011, +0.009], tie | 0.329 | −0.023 [−0.033, −0.013] |"
        in deletion
    )
    assert "insertion" not in deletion and "0.471" in q4.auc_markdown(aucs, "insertion").data


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
