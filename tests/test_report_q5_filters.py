"""The filters chapter's functions (fer_report.q5_filters) on hand-made inputs with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fer_lib.data import CLASSES, FerData
from fer_lib.errors import ConfigError, DataError
from fer_lib.evaluate import to_float_images
from fer_lib.models import build_model
from fer_lib.synthetic import synthetic_fer
from fer_report import q5_filters as q5
from fer_report.claims import ClaimFailed

from .conftest import REPO
from .report_cells import notebook_problems

H, S, N = CLASSES.index("happy"), CLASSES.index("sad"), CLASSES.index("neutral")


@pytest.fixture(scope="module")
def faces():
    return synthetic_fer(14, 7, 21, seed=5)


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return build_model("report_cnn").eval()


def known_table() -> pd.DataFrame:
    """Three filters: 2 prefers happy (lift 4), 0 sad (lift 2), 1 has no preference."""
    return pd.DataFrame(
        {
            "filter": [0, 1, 2],
            "dominant class": ["sad", "neutral", "happy"],
            "share of top faces": [0.6, 0.3, 0.5],
            "lift": [2.0, 1.0, 4.0],
            "peak band": ["lower third (mouth)", "middle third (nose)", "lower third (mouth)"],
        }
    ).set_index("filter")


def test_top_faces_of_rank_the_strongest_faces_of_each_chosen_filter():
    peaks = np.array([[1.0, 9.0], [5.0, 2.0], [3.0, 9.0], [4.0, 0.0]])  # 4 faces, 2 filters
    # filter 1: faces 0 and 2 tie at 9 (the earlier first), then face 1; filter 0: faces 1, 3, 2
    assert q5.top_faces_of(peaks, [1, 0], n=3).tolist() == [[0, 2, 1], [1, 3, 2]]


def test_row_titles_and_the_selective_table_follow_the_lift():
    t = known_table()
    assert q5.row_titles(t, [2, 0]) == ["filter 2\nhappy, lift 4.0", "filter 0\nsad, lift 2.0"]
    md = q5.selective_table(t, n=2).data.splitlines()
    assert md[0] == "| filter | preferred expression | share of its top faces | lift | where it peaks |"
    assert md[2:] == [
        "| 2 | happy | 50% | 4.00 | lower third (mouth) |",
        "| 0 | sad | 60% | 2.00 | lower third (mouth) |",
    ]


def test_first_face_of_a_class_and_clear_errors():
    labels = np.array([S, H, S, H, N])
    data = FerData(
        images=np.zeros((5, 48, 48), np.uint8), labels=labels, splits=np.array(["PrivateTest"] * 5)
    )
    assert q5.first_face_of(data, "happy") == 1 and q5.first_face_of(data, "neutral") == 4
    with pytest.raises(ConfigError, match="face_class is 'smiling'"):
        q5.first_face_of(data, "smiling")
    with pytest.raises(DataError, match="no fear face"):
        q5.first_face_of(data, "fear")


def test_responses_measure_every_privatetest_face(faces, net):
    resp = q5.responses({"m": net}, faces, top_faces=50)
    test = faces.split("PrivateTest")
    assert resp.k == len(test) == 21  # fewer faces than asked: all of them
    peak, rows, height = q5.peak_responses(net, to_float_images(test.images))
    np.testing.assert_array_equal(resp.peaks["m"], peak)
    pd.testing.assert_frame_equal(resp.tables["m"], q5.selectivity(peak, rows, height, test.labels, k=21))
    assert q5.responses({"m": net}, faces, top_faces=5).k == 5


def test_rows_figure_shows_the_most_selective_filters_and_their_top_faces(faces, net, monkeypatch):
    asked = {}

    def fake(model, chosen, steps, seed):
        asked.update(chosen=chosen, steps=steps, seed=seed)
        return np.zeros((len(chosen), 48, 48))

    monkeypatch.setattr(q5, "activation_maximisation", fake)
    resp = q5.responses({"m": net}, faces, top_faces=5)
    best = list(q5.most_selective(resp.tables["m"], 2).index)
    fig = q5.rows_figure(net, resp, "m", n_filters=2, am_steps=3, seed=7)
    assert asked == {"chosen": best, "steps": 3, "seed": 7}
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 * 10 and titles[0] == q5.row_titles(resp.tables["m"], best)[0]
    top = q5.top_faces_of(resp.peaks["m"], best)
    assert titles[1:10] == [CLASSES[c] for c in resp.labels[top[0]]]


def test_maps_figure_has_one_map_per_filter(faces, net):
    fig = q5.maps_figure(net, faces, 0)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 32 and shown[-1].get_title() == "filter 31"


def test_untrained_copies_repeat_with_their_seed_and_leave_the_callers_generator_alone():
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    a, b, c = q5.untrained_models("report_cnn", [0, 0, 1])
    assert torch.equal(torch.random.get_rng_state(), before)
    first = next(iter(a.state_dict()))
    assert torch.equal(a.state_dict()[first], b.state_dict()[first])
    assert not torch.equal(a.state_dict()[first], c.state_dict()[first])
    assert not a.training


def test_baseline_tables_measure_each_untrained_copy_like_the_trained_model(faces):
    base = q5.baseline_tables(faces, [0, 1], top_faces=5, names=["report_cnn"])
    assert list(base) == ["report_cnn"] and len(base["report_cnn"]) == 2
    net = q5.untrained_models("report_cnn", [1])[0]
    pd.testing.assert_frame_equal(base["report_cnn"][1], q5.responses({"m": net}, faces, 5).tables["m"])


def table(lifts: list[float], classes: list[str], bands: int = 3) -> pd.DataFrame:
    """A selectivity table with the given lifts and preferred expressions, peaking in ``bands`` bands."""
    names = [b for b, _ in q5.BANDS]
    return pd.DataFrame(
        {
            "dominant class": classes,
            "share of top faces": [min(v / 10, 0.9) for v in lifts],
            "lift": lifts,
            "peak band": [names[i % bands] for i in range(len(lifts))],
        }
    ).rename_axis("filter")


def run_like(rc_trained=None, rc_untrained=None, sc_trained=None) -> tuple[dict, dict]:
    """Tables shaped like the committed run's (book/q5_filters.ipynb, Table 'q5_baseline'): report_cnn
    28 of 32 filters selective (surprise 16, happy 8, angry 2, fear 1, neutral 1), untrained at most 6;
    simple_cnn 202 of 512 (surprise first), untrained at most 82, none preferring happy."""
    rc = (
        rc_trained
        if rc_trained is not None
        else table(
            [6.9, 6.4, 6.4, 6.2, 6.0, 6.0, 5.5, 5.4, 5.0, 4.7]
            + [3.6] * 6
            + [3.0] * 8
            + [2.5] * 4
            + [1.2] * 4,
            ["surprise"] * 16 + ["happy"] * 8 + ["angry"] * 2 + ["fear", "neutral"] + ["sad"] * 4,
        )
    )
    rc_base = rc_untrained or [
        table([2.3, 2.1] + [1.6] * 30, ["sad"] * 2 + ["angry"] * 30),
        table([2.2, 2.1, 2.0] + [1.6] * 29, ["angry", "angry", "surprise"] + ["fear"] * 29),
        table([2.4] * 6 + [1.6] * 26, ["angry"] * 4 + ["sad", "fear"] + ["neutral"] * 26),
    ]
    sc = (
        sc_trained
        if sc_trained is not None
        else table(
            [5.7, 5.5, 5.4, 5.4, 5.2, 5.0, 5.0, 5.0, 4.8, 4.8] + [2.5] * 192 + [1.86] * 310,
            ["surprise"] * 110
            + ["angry"] * 32
            + ["happy"] * 31
            + ["fear"] * 23
            + ["neutral"] * 4
            + ["sad"] * 312,
        )
    )
    sc_base = [table([2.9] + [2.2] * 81 + [1.6] * 430, ["angry"] * 36 + ["fear"] * 46 + ["sad"] * 430)] * 3
    return {"report_cnn": rc, "simple_cnn": sc}, {"report_cnn": rc_base, "simple_cnn": sc_base}


def test_the_chapters_claims_hold_on_numbers_like_the_committed_runs():
    tables, baseline = run_like()
    f = q5.findings(tables, baseline)
    assert f["report_cnn"]["trained"]["selective"] == 28 and f["report_cnn"]["untrained selective"] == 6
    assert f["simple_cnn"]["trained"]["selective"] == 202 and f["simple_cnn"]["untrained selective"] == 82
    q5.check_claims(f)
    resp = q5.Responses(np.zeros((0, 48, 48), np.uint8), np.zeros(0, int), {}, tables, 50)
    values = q5.chapter_values(resp, baseline)
    assert values["q5_rc_selective"] == "28" and values["q5_rc_base_selective"] == "6"
    assert values["q5_sc_filters"] == "512" and values["q5_rc_happy"] == "8" and values["q5_seeds"] == "3"
    assert values["q5_finding"].startswith("Most of report_cnn's last-layer filters (28 of 32)")


@pytest.mark.parametrize(
    "change, says",
    [
        # untrained copies as selective as the trained network
        (dict(rc_untrained=[table([2.5] * 20 + [1.6] * 12, ["angry"] * 32)] * 3), "more than twice as many"),
        # an untrained filter prefers happy
        (dict(rc_untrained=[table([2.3] + [1.6] * 31, ["happy"] + ["sad"] * 31)] * 3), "prefers happy"),
        # untrained filters peak in one band only
        (dict(rc_untrained=[table([2.3] + [1.6] * 31, ["sad"] * 32, bands=1)] * 3), "all three bands"),
        # a filter whose strongest faces are all one expression: a detector after all
        (
            dict(
                rc_trained=table(
                    [9.0] + [3.6] * 27 + [1.2] * 4, ["surprise"] * 20 + ["happy"] * 8 + ["sad"] * 4
                )
            ),
            None,
        ),
        # happy, not surprise, the most preferred on report_cnn
        (
            dict(
                rc_trained=table(
                    [6.9] * 10 + [3.6] * 18 + [1.2] * 4, ["surprise"] * 10 + ["happy"] * 18 + ["sad"] * 4
                )
            ),
            "prefer surprise most often",
        ),
        # most of simple_cnn's filters selective
        (
            dict(
                sc_trained=table([5.7] * 10 + [2.5] * 300 + [1.5] * 202, ["surprise"] * 200 + ["angry"] * 312)
            ),
            "fewer than half",
        ),
    ],
)
def test_numbers_that_contradict_the_text_stop_the_chapter(change, says):
    tables, baseline = run_like(**change)
    if says is None:  # share of top faces 100%
        tables["report_cnn"].loc[0, "share of top faces"] = 1.0
        says = "hold other expressions too"
    with pytest.raises(ClaimFailed, match=says):
        q5.check_claims(q5.findings(tables, baseline))
    resp = q5.Responses(np.zeros((0, 48, 48), np.uint8), np.zeros(0, int), {}, tables, 50)
    assert (
        q5.chapter_values(resp, baseline, checked=False)["q5_k"] == "50"
    )  # generated faces: glued, not held


def test_the_baseline_table_lists_trained_and_untrained_rows():
    tables, baseline = run_like()
    md = q5.baseline_table(tables, baseline).data.splitlines()
    assert len(md) == 2 + 8 and md[2].startswith("| report_cnn, trained | 32 | 28 | ")
    assert "surprise 16, happy 8, angry 2" in md[2] and md[3].startswith(
        "| report_cnn, untrained, seed 0 | 32 | 2 |"
    )


def test_the_notebook_shows_short_calls_only():
    assert notebook_problems(REPO / "book" / "q5_filters.ipynb") == []
