"""Q3's helpers on hand-made confusions with known answers."""

import numpy as np
import pytest

from fer_lib.data import CLASSES
from fer_report import q3_confusion as q3
from fer_report.claims import ClaimFailed

from .conftest import REPO
from .report_cells import notebook_problems


def hand_made():
    """Six fear faces: three read as sad (p 0.5, 0.9, 0.7), one as angry, two right."""
    labels = np.full(6, CLASSES.index("fear"))
    probabilities = np.full((6, 7), 0.01)
    for i, (cls, p) in enumerate(
        [("sad", 0.5), ("sad", 0.9), ("angry", 0.8), ("fear", 0.9), ("sad", 0.7), ("fear", 0.6)]
    ):
        probabilities[i, CLASSES.index(cls)] = p
    cm = np.zeros((7, 7), int)
    for t, p in zip(labels, probabilities.argmax(1)):
        cm[t, p] += 1
    return probabilities, labels, cm


def test_confused_faces_are_the_top_confusion_surest_first():
    probabilities, labels, cm = hand_made()
    idx, true, predicted, n = q3.confused_faces(probabilities, labels, cm, rank=0)
    assert (true, predicted, n) == ("fear", "sad", 3)
    assert idx.tolist() == [1, 4, 0]
    idx, true, predicted, n = q3.confused_faces(probabilities, labels, cm, rank=1, k=1)
    assert (true, predicted, n, idx.tolist()) == ("fear", "angry", 1, [2])


# report_cnn's PrivateTest matrix as the chapter was written for it, and Training's class counts
WRITTEN_CM = np.array(
    [
        [276, 4, 38, 26, 79, 9, 59],
        [18, 23, 3, 2, 5, 3, 1],
        [56, 6, 191, 19, 120, 69, 67],
        [13, 1, 13, 764, 31, 18, 39],
        [38, 2, 50, 32, 342, 10, 120],
        [10, 1, 38, 24, 6, 326, 11],
        [30, 1, 22, 39, 90, 10, 434],
    ]
)
TRAINING = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "sad": 4830,
    "surprise": 3171,
    "neutral": 4965,
}


def moved(cm: np.ndarray, true: str, frm: str, to: str, n: int) -> np.ndarray:
    """``cm`` with ``n`` faces of class ``true`` moved from column ``frm`` to column ``to``."""
    out = cm.copy()
    t, a, b = (CLASSES.index(c) for c in (true, frm, to))
    out[t, a] -= n
    out[t, b] += n
    return out


def test_the_text_holds_on_the_matrix_it_was_written_for():
    from fer_lib.evaluate import per_class_metrics

    result = {
        "confusion_matrix": WRITTEN_CM.tolist(),
        "n": int(WRITTEN_CM.sum()),
        "accuracy": float(np.trace(WRITTEN_CM) / WRITTEN_CM.sum()),
        "per_class": per_class_metrics(WRITTEN_CM),
    }
    values = q3.chapter_values(result, "PrivateTest", TRAINING)
    assert (values["q3_top_n"], values["q3_third_n"], values["q3_mistakes"]) == ("120", "90", "1,233")
    assert (values["q3_sinks_share"], values["q3_sad_received"], values["q3_neutral_received"]) == (
        "51%",
        "331",
        "297",
    )
    assert (values["q3_recall_happy"], values["q3_recall_fear"], values["q3_acc"]) == (
        "0.87",
        "0.36",
        "0.6565",
    )
    assert values["q3_spread_fear"] == values["q3_spread_happy"] == "2.23"


@pytest.mark.parametrize(
    ("cm", "train", "says"),
    [
        (moved(WRITTEN_CM, "sad", "neutral", "sad", 1), TRAINING, "tied"),  # the top two no longer tied
        (moved(WRITTEN_CM, "happy", "happy", "neutral", 400), TRAINING, "happy has the highest recall"),
        (moved(WRITTEN_CM, "angry", "angry", "happy", 80), TRAINING, "the two lowest recalls"),
        (moved(WRITTEN_CM, "fear", "sad", "angry", 80), TRAINING, "the two most frequent confusions"),
        (
            moved(WRITTEN_CM, "angry", "sad", "angry", 60),
            TRAINING,
            "fear and angry are most often read as sad",
        ),
        (WRITTEN_CM, dict(TRAINING, disgust=5000), "disgust has the fewest Training faces"),
        (WRITTEN_CM, dict(TRAINING, neutral=9000), "the largest class in Training"),
        (moved(WRITTEN_CM, "disgust", "angry", "fear", 10), TRAINING, "most misread disgust faces"),
    ],
)
def test_a_matrix_that_contradicts_the_text_stops_the_chapter(cm, train, says):
    with pytest.raises(ClaimFailed, match=says):
        q3.check_claims(cm, train)


def test_the_pairs_table_gives_both_directions_and_the_training_counts():
    lines = q3.confusion_table(WRITTEN_CM, TRAINING).data.splitlines()
    assert lines[0].startswith("| true → predicted | faces | share of the true class | the other way round")
    assert lines[3] == "| fear → sad | 120 | 23% | 50 (8%) | 4,097 / 4,830 |"


def test_the_notebook_holds_only_short_calls():
    assert notebook_problems(REPO / "book" / "q3_confusion.ipynb") == []


def test_per_class_table_formats_every_class():
    result = {
        "per_class": {c: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 1000} for c in CLASSES}
    }
    html = q3.per_class_table(result).to_html()
    assert "0.333" in html and "1,000" in html and html.count("0.250") == 7


def test_on_generated_faces_the_values_are_glued_without_holding_the_text_to_them():
    from fer_lib.data import FerData
    from fer_lib.evaluate import per_class_metrics
    from fer_report.claims import apply_to

    blank = FerData(np.zeros((3, 48, 48), np.uint8), np.array([0, 1, 2]), np.array(["Training"] * 3))
    assert not apply_to(blank)  # not the FER2013 the shipped models were measured on
    other = moved(WRITTEN_CM, "happy", "happy", "neutral", 400)
    result = {
        "confusion_matrix": other.tolist(),
        "n": 3589,
        "accuracy": 0.5,
        "per_class": per_class_metrics(other),
    }
    values = q3.chapter_values(result, "PrivateTest", TRAINING, checked=False)
    assert values["q3_recall_happy"] == "0.41"
    with pytest.raises(ClaimFailed):
        q3.chapter_values(result, "PrivateTest", TRAINING)
