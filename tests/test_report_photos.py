"""The photos chapter's functions (fer_report.photos) on hand-made inputs with known answers."""

import numpy as np
import pytest
import torch

from fer_lib.data import CLASSES, FerData
from fer_lib.faces import Face
from fer_lib.models import build_model
from fer_report import photos
from fer_report.claims import ClaimFailed

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
    table = photos.readings_table(reading).data.splitlines()
    assert table[0] == "| model | " + " | ".join(CLASSES) + " |"
    assert "| a |" in table[2] and "**0.60**" in table[2] and "**0.70**" in table[3]
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


def test_the_notebook_shows_short_calls_only():
    assert notebook_problems(REPO / "book" / "photos.ipynb") == []


def test_the_page_names_the_members_the_claims_hold():
    """The opening paragraph names every member of the default that ``check_members`` holds the library to,
    and the fine-tune with its origin."""
    import json

    cells = json.loads((REPO / "book" / "photos.ipynb").read_text())["cells"]
    opening = "".join(cells[0]["source"])
    for name in (*photos.WRITTEN["members"], *photos.WRITTEN["tuned_member"]):
        assert name in opening, name
    assert "equal-weight ensemble of four" in opening and len(photos.WRITTEN["members"]) == 4


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


# --------------------------------------------------------------------------- the text held to the numbers


def _bands(counts: list[tuple[int, int]], happy: tuple[int, int] = (104, 100)) -> list[dict]:
    """``score``'s bands of the top probability, with these (photos, right) in them; in the top band,
    ``happy`` of them say happy and the rest angry."""
    edges = (0.0, 0.4, 0.6, 0.8, 1.0)
    out = [
        {"from": lo, "to": hi, "photos": n, "right": r, "said": {c: [0, 0] for c in CLASSES}}
        for (lo, hi), (n, r) in zip(zip(edges, edges[1:]), counts)
    ]
    top = out[-1]
    top["said"]["happy"] = list(happy)
    top["said"]["angry"] = [top["photos"] - happy[0], top["right"] - happy[1]]
    return out


def dev_score(**change) -> dict:
    """A development-set result like the one the text was written for, with ``change`` applied."""
    recall = dict(zip(CLASSES, [0.7, 0.01, 0.43, 0.93, 0.7, 0.4, 0.33]))
    support = dict(zip(CLASSES, [150, 150, 21, 150, 150, 150, 150]))
    out = {
        "n": 921,
        "no_face": 46,
        "no_face_per_class": dict.fromkeys(CLASSES, 0),
        "accuracy": 0.52,
        "balanced_accuracy": 0.5,
        "recall": recall,
        "support": support,
        "second": dict(zip(CLASSES, [0.93, 0.04, 0.75, 0.98, 0.92, 0.57, 0.56])),
        "by_sureness": _bands([(251, 70), (324, 171), (171, 130), (129, 124)]),
        "most_said": "angry",
        "most_said_share": 0.24,
        "confusions": [("surprise", "angry", 33, 0.22)],
    }
    for key, value in change.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) else value
    return out


PT_ACCURACIES = [0.72, 0.705, 0.656, 0.666]


def test_the_devset_sentences_hold_on_the_numbers_they_were_written_for():
    photos.check_devset(dev_score(), PT_ACCURACIES)
    photos.check_devset(dev_score(), [])  # on generated faces there is no PrivateTest to compare with


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"recall": {"neutral": 0.95}}, "reads happy photos best"),
        ({"recall": {"happy": 0.8}}, "reads happy photos best, nearly always"),
        ({"recall": {"disgust": 0.2}}, "almost never recognises disgust"),
        ({"recall": {"disgust": 0.06, "fear": 0.05}}, "almost never recognises disgust"),
        ({"second": {"disgust": 0.2}}, "seldom even among the default's two likeliest"),
        ({"by_sureness": _bands([(251, 70), (324, 250), (171, 130), (129, 124)])}, "the surer"),
        ({"by_sureness": _bands([(251, 70), (324, 171), (171, 130), (0, 0)])}, "the surer"),
        ({"by_sureness": _bands([(251, 70), (324, 171), (171, 130), (129, 110)])}, "top band is right 90%"),
        ({"by_sureness": _bands([(251, 130), (324, 171), (171, 130), (129, 124)])}, "lowest band is wrong"),
        (
            {"by_sureness": _bands([(251, 70), (324, 171), (171, 130), (129, 124)], (60, 58))},
            "most of the top",
        ),
        (
            {"by_sureness": _bands([(251, 70), (324, 171), (171, 130), (129, 124)], (104, 104))},
            "others are right",
        ),
        ({"second": {"disgust": None}}, "seldom even among"),
        ({"accuracy": 0.65}, "about one photo in two"),
        ({"support": {"fear": 40}}, "fear has few photos"),
        ({"most_said_share": 0.16}, "spread unevenly"),
    ],
)
def test_devset_numbers_that_contradict_the_text_stop_the_chapter(change, says):
    with pytest.raises(ClaimFailed, match=says):
        photos.check_devset(dev_score(**change), PT_ACCURACIES)


def test_photos_read_as_well_as_privatetest_would_contradict_the_text():
    with pytest.raises(ClaimFailed, match="worse than any model reads PrivateTest"):
        photos.check_devset(dev_score(accuracy=0.6), [0.59, 0.7])


def test_the_default_named_in_the_text_is_the_librarys(monkeypatch):
    import fer_lib.pretrained

    monkeypatch.setattr(fer_lib.pretrained, "DEFAULT_MODEL", "report_cnn")
    with pytest.raises(ClaimFailed, match="the default is the ensemble"):
        photos.check_devset(dev_score(), PT_ACCURACIES)


def test_the_ensemble_the_text_describes_is_the_librarys(monkeypatch):
    import fer_lib.pretrained

    photos.check_members()  # the shipped state: the members the text names, equal weights, one fine-tune
    weights = dict(fer_lib.pretrained.ENSEMBLE_WEIGHTS)
    tuned, origin = photos.WRITTEN["tuned_member"]
    with pytest.raises(ClaimFailed, match="weighs .* equally"):
        photos.check_members(photos.WRITTEN | {"members": ("fer_vgg", origin, "report_cnn", "simple_cnn")})
    monkeypatch.setattr(fer_lib.pretrained, "ENSEMBLE_WEIGHTS", weights | {tuned: 0.4})
    with pytest.raises(ClaimFailed, match="weighs .* equally"):
        photos.check_members()
    monkeypatch.setattr(fer_lib.pretrained, "ENSEMBLE_WEIGHTS", weights)
    with pytest.raises(ClaimFailed, match=f"{tuned} is report_cnn fine-tuned"):
        photos.check_members(photos.WRITTEN | {"tuned_member": (tuned, "report_cnn")})


def results_with(recalls: dict[str, float]) -> dict:
    """One model's PrivateTest result with these recalls (the rest 0.6)."""
    r = {c: recalls.get(c, 0.6) for c in CLASSES}
    return {
        "accuracy": 0.7,
        "balanced_accuracy": sum(r.values()) / 7,
        "per_class": {c: {"recall": v} for c, v in r.items()},
    }


def test_the_privatetest_sentences_hold_or_stop_the_chapter():
    good = results_with({"fear": 0.4, "happy": 0.9})
    photos.check_privatetest({"a": good, "b": good}, COUNTS)
    with pytest.raises(ClaimFailed, match="b recognises fear worst and happy best"):
        photos.check_privatetest({"a": good, "b": results_with({"fear": 0.4, "surprise": 0.95})}, COUNTS)
    with pytest.raises(ClaimFailed, match="about as many Training faces as angry"):
        photos.check_privatetest({"a": good}, {**COUNTS, "fear": 6000})


def test_the_page_explains_with_the_method_q4_recommends(monkeypatch):
    photos.check_method("occlusion")
    with pytest.raises(ClaimFailed, match="the page explains with occlusion"):
        photos.check_method("integrated_gradients")
    from fer_report import q4_saliency

    monkeypatch.setattr(q4_saliency, "RECOMMENDED_METHOD", "saliency")
    with pytest.raises(ClaimFailed, match="the saliency chapter recommends"):
        photos.check_method("occlusion")


def test_the_q4_numbers_the_page_quotes_are_glued_from_q4s_notebook():
    import json
    import re

    def names(nb: str) -> set[str]:
        cells = json.loads((REPO / "book" / nb).read_text())["cells"]
        return {
            o.get("metadata", {}).get("scrapbook", {}).get("name")
            for c in cells
            for o in c.get("outputs", [])
        }

    text = "".join(
        "".join(c["source"]) for c in json.loads((REPO / "book" / "photos.ipynb").read_text())["cells"]
    )
    quoted = set(re.findall(r"q4_saliency\.ipynb::(q4_\w+?)(?::s)?`", text))
    assert quoted and quoted <= names("q4_saliency.ipynb"), quoted - names("q4_saliency.ipynb")


def test_the_portrait_sentence_holds_or_stops_the_chapter():
    reading = photos.PhotoReading(
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((4, 4)),
        [face()],
        {"a": [probabilities("happy", 0.9)], "b": [probabilities("happy", 0.8)]},
    )
    photos.check_portrait(reading)
    reading.readings["b"] = [probabilities("sad", 0.5)]
    with pytest.raises(ClaimFailed, match="every shipped model reads the portrait as happy"):
        photos.check_portrait(reading)
    reading.faces.append(face())
    with pytest.raises(ClaimFailed, match="finds one face"):
        photos.check_portrait(reading)


def test_the_devset_tables_say_what_was_not_measured():
    assert photos.NOT_MEASURED in photos.devset_table(None).data
    assert photos.NOT_MEASURED in photos.devset_confusions_table(None).data
    lines = photos.devset_table(dev_score()).data.splitlines()
    assert lines[0] == "| class | photos | no face found | recall |"
    assert (
        lines[2] == "| angry | 150 | 0 | 0.70 |"
        and lines[-1] == "| all photos (accuracy) | 921 | 46 | 0.52 |"
    )
    assert (
        photos.devset_confusions_table(dev_score()).data.splitlines()[2] == "| surprise → angry | 33 | 22% |"
    )
    sure = photos.sureness_table(dev_score()).data.splitlines()
    assert sure[0] == "| top probability | photos | share | read right |"
    assert sure[2] == "| under 0.4 | 251 | 29% | 0.28 |" and sure[-1] == "| 0.8 or more | 129 | 15% | 0.96 |"
    assert "not measured" in photos.sureness_table(None).data


def glue_names(path) -> set[str]:
    """Every glue name the notebook's markdown reads from its own run (not another notebook's)."""
    import json
    import re

    text = "".join(
        "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
    )
    names = set(re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", text)) | set(re.findall(r"\{glue:md\} (\w+)", text))
    return {n for n in names if "::" not in n}


@pytest.mark.parametrize("measured", [True, False])
def test_chapter_values_hold_every_glue_name_the_text_reads(measured):
    data = FerData(
        images=np.zeros((7, 48, 48), np.uint8),
        labels=np.arange(7),
        splits=np.array(["Training"] * 7),
    )
    reading = photos.PhotoReading(
        np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), [face()], {"m": [probabilities("happy", 0.9)]}
    )
    dev = dev_score() if measured else None
    values = photos.chapter_values(reading, {"m": RESULT}, data, "m", "occlusion", dev, checked=False)
    tables = {
        "ph_readings",
        "ph_dev_classes",
        "ph_dev_confusions",
        "ph_dev_sureness",
        "ph_recalls",
    }  # visible cells
    assert glue_names(REPO / "book" / "photos.ipynb") - tables <= set(values)
    assert values["ph_dev_acc"] == ("0.52" if measured else photos.NOT_MEASURED)
    assert ("not available" in values["ph_dev_status"]) != measured
    assert (values["ph_dev_unsure_edge"], values["ph_dev_sure_edge"]) == ("0.4", "0.8")  # measured or not
    assert values["ph_portrait_low"] == "0.90"
