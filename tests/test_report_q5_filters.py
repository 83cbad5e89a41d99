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


def test_row_titles_and_the_shown_table_follow_the_lift():
    t = known_table()
    assert q5.row_titles(t, [2, 0]) == ["filter 2\nhappy, lift 4.0", "filter 0\nsad, lift 2.0"]
    styled = q5.shown_table(t, n=2)
    assert list(styled.data.index) == [2, 0]
    html = styled.to_html()
    assert "50%" in html and "4.00" in html and "neutral" not in html


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


def test_chapter_values_hold_every_glue_name_the_text_reads():
    resp = q5.Responses(
        np.zeros((0, 48, 48), np.uint8), np.zeros(0, int), {}, {"report_cnn": known_table()}, 50
    )
    values = q5.chapter_values(resp, n_filters=2)
    assert set(values) == {"q5_k", "q5_measure", "q5_answer", "q5_finding", "q5_verdict"}
    assert values["q5_k"] == "50"
    assert values["q5_answer"].data.startswith(
        "Most last-layer filters prefer one expression at least twice as much as chance "
        "(2 of 3 on report_cnn)"
    )
    assert values["q5_finding"] == values["q5_answer"].data.split(". ")[0] + "."
    assert "filter 2 (happy, 50% of its top faces, lift 4.0" in values["q5_measure"].data
    assert "2 of its 3 filters prefer one expression" in values["q5_verdict"].data


def test_the_notebook_shows_short_calls_only():
    assert notebook_problems(REPO / "book" / "q5_filters.ipynb") == []
