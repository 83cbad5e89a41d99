"""The photos chapter's functions (fer_report.photos) on hand-made inputs with known answers."""

import numpy as np
import pytest
import torch

from fer_lib.data import CLASSES, FerData
from fer_lib.faces import Face
from fer_lib.models import build_model
from fer_report import photos

from .conftest import REPO
from .report_cells import notebook_problems


def probabilities(top: str, p: float) -> dict[str, float]:
    """``top`` at ``p``, the rest shared evenly."""
    rest = (1 - p) / (len(CLASSES) - 1)
    return {c: p if c == top else rest for c in CLASSES}


RECALL = dict(zip(CLASSES, [0.5, 0.25, 0.3, 0.9, 0.55, 0.8, 0.65]))  # disgust lowest, happy highest
RESULT = {
    "accuracy": 0.7,
    "balanced_accuracy": sum(RECALL.values()) / 7,
    "per_class": {c: {"recall": r} for c, r in RECALL.items()},
}
COUNTS = dict(zip(CLASSES, [4000, 400, 4100, 7200, 4800, 3200, 5000]))


def face(top: str = "happy", p: float = 0.93) -> Face:
    return Face(box=(10, 20, 30, 30), crop=np.zeros((48, 48), np.uint8), probabilities=probabilities(top, p))


def test_answer_names_the_reading_and_the_weakest_and_strongest_class():
    text = photos.answer([face()], "m", RESULT)
    assert text == (
        "The detector finds 1 face in the portrait, and m reads it as **happy** (probability 0.93). Expect "
        "less on your own photos than FER2013's test accuracy suggests: even on FER2013's PrivateTest, m "
        "recognises disgust faces 25% of the time and happy faces 90% (accuracy 0.700, balanced accuracy "
        "0.564)."
    )
    assert photos.answer([], "m", RESULT).startswith(
        "The detector finds 0 faces in the portrait, and m reads none."
    )


def test_spread_compares_recall_with_the_training_counts():
    counts = {**COUNTS, "disgust": 5000, "surprise": 300}  # the worst class is no longer the rarest
    text = photos.spread("m", RESULT, counts)
    assert text.startswith(
        "m names 90% of the happy faces of PrivateTest correctly but only 25% of the disgust faces"
    )
    assert "disgust had 5,000 Training faces, surprise only 300 (recognised 80% of the time)" in text
    assert "(0.564 against an accuracy of 0.700)" in text


def test_readings_frame_is_a_model_a_row_in_class_order():
    reading = photos.PhotoReading(
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((4, 4)),
        [face()],
        {"a": [probabilities("sad", 0.6)], "b": [probabilities("happy", 0.7)]},
    )
    frame = photos.readings_frame(reading)
    assert list(frame.index) == ["a", "b"] and list(frame.columns) == list(CLASSES)
    assert frame.loc["a", "sad"] == pytest.approx(0.6) and frame.loc["b"].idxmax() == "happy"
    assert "0.700" in photos.readings_table(reading).to_html()
    empty = photos.PhotoReading(reading.photo, reading.gray, [], {"a": [], "b": []})
    assert photos.readings_frame(empty).empty


def test_recall_frame_puts_a_model_a_column_with_the_training_counts():
    other = {**RESULT, "accuracy": 0.6}
    frame = photos.recall_frame({"m": RESULT, "n": other}, COUNTS)
    assert list(frame.columns) == ["m", "n", "Training faces"]
    assert list(frame.index) == ["accuracy", "balanced accuracy", *CLASSES]
    assert frame.loc["accuracy", "n"] == 0.6 and frame.loc["disgust", "m"] == 0.25
    assert np.isnan(frame.loc["accuracy", "Training faces"]) and frame.loc["happy", "Training faces"] == 7200


def test_read_photo_leaves_the_faces_with_the_chosen_models_reading():
    torch.manual_seed(0)
    models = {"a": build_model("report_cnn").eval(), "b": build_model("report_cnn").eval()}
    reading = photos.read_photo(photos.sample_photo(), models, "a")
    assert len(reading.faces) == 1  # the astronaut's face
    assert reading.gray.shape == reading.photo.shape[:2]
    assert set(reading.readings) == {"a", "b"} and reading.readings["a"] != reading.readings["b"]
    assert reading.faces[0].probabilities == reading.readings["a"][0]


def test_explain_figure_without_a_face_says_so():
    reading = photos.PhotoReading(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8)), [], {})
    fig = photos.explain_figure(reading, build_model("report_cnn"), "saliency")
    assert fig.axes[0].get_title() == "No face was found, so there is nothing to explain."


def test_chapter_values_hold_every_glue_name_the_text_reads():
    data = FerData(
        images=np.zeros((7, 48, 48), np.uint8),
        labels=np.arange(7),
        splits=np.array(["Training"] * 7),
    )
    reading = photos.PhotoReading(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), [face(), face()], {})
    values = photos.chapter_values(reading, {"m": RESULT, "n": {}}, data, "m")
    assert set(values) == {"ph_answer", "ph_spread", "ph_n_faces", "ph_model"}
    assert values["ph_n_faces"] == 2 and values["ph_model"] == "m"
    assert values["ph_answer"].data.startswith("The detector finds 2 faces")
    # one Training face a class: the worst class (disgust) is compared with the first of the rarest (angry)
    assert "disgust had 1 Training faces, angry only 1" in values["ph_spread"].data


def test_the_notebook_shows_short_calls_only():
    assert notebook_problems(REPO / "book" / "photos.ipynb") == []


def test_privatetest_results_are_evaluate_splits_from_the_shared_measurement(monkeypatch):
    from fer_lib.evaluate import evaluate_split
    from fer_lib.synthetic import synthetic_fer
    from fer_report import measured

    monkeypatch.delenv(measured.MEASURED_ENV, raising=False)
    data = synthetic_fer(0, 10, 40, seed=3)
    torch.manual_seed(0)
    model = build_model("report_cnn")
    got = photos.privatetest_results({"toy": model}, data)["toy"]
    ref = evaluate_split(model, data, "PrivateTest")
    assert got["confusion_matrix"] == ref["confusion_matrix"]
    assert got["accuracy"] == pytest.approx(ref["accuracy"]) and got["per_class"] == ref["per_class"]
    assert got["balanced_accuracy"] == pytest.approx(ref["balanced_accuracy"])
