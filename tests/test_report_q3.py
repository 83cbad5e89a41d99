"""Q3's helpers on hand-made confusions with known answers."""

import numpy as np

from fer_lib.data import CLASSES
from fer_report import q3_confusion as q3


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


def test_text_values_carry_the_split_and_the_claims():
    _, _, cm = hand_made()
    result = {"confusion_matrix": cm.tolist(), "accuracy": 2 / 6, "n": 6}
    values = q3.text_values(result, "toy", "PublicTest", {c: 10 for c in CLASSES})
    assert values["q3_acc"] == "0.3333" and values["q3_n"] == "6" and values["q3_split"] == "PublicTest"
    assert "reading fear as sad (3 faces, 50% of the fear faces)" in values["q3_answer"].data
    assert values["q3_finding"].startswith("toy recognises")


def test_per_class_table_formats_every_class():
    result = {
        "per_class": {c: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 1000} for c in CLASSES}
    }
    html = q3.per_class_table(result).to_html()
    assert "0.333" in html and "1,000" in html and html.count("0.250") == 7
