"""The development set's reading and scoring (fer_report.devset) on tiny generated folders."""

import csv

import numpy as np
import pytest
from PIL import Image

from fer_lib.data import CLASSES
from fer_lib.errors import DataError
from fer_lib.faces import Face
from fer_report import devset


def make_set(root, per_class: dict[str, int], manifest: bool = False):
    """Class folders of small gray images; with ``manifest``, a manifest.csv that lists them."""
    rows = []
    for c, n in per_class.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"{c}/{c}_{i}.png"
            Image.fromarray(np.full((60, 60), 10 * i, np.uint8)).save(root / name)
            rows.append({"file": name, "label": c})
    if manifest:
        with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["file", "label"])
            w.writeheader()
            w.writerows(rows)
    return root


def test_the_folder_comes_from_the_parameter_else_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(devset.DEVSET_ENV, raising=False)
    assert devset.devset_folder("") is None and devset.measure("") is None
    monkeypatch.setenv(devset.DEVSET_ENV, str(tmp_path / "env"))
    assert devset.devset_folder("") == tmp_path / "env"
    assert devset.devset_folder(str(tmp_path / "given")) == tmp_path / "given"


def test_read_devset_takes_the_manifest_else_the_class_folders(tmp_path):
    root = make_set(tmp_path / "a", {"sad": 2, "angry": 1})
    paths, labels = devset.read_devset(root)
    assert [p.name for p in paths] == ["angry_0.png", "sad_0.png", "sad_1.png"]  # FER2013's class order
    assert labels.tolist() == [CLASSES.index("angry"), CLASSES.index("sad"), CLASSES.index("sad")]
    root = make_set(tmp_path / "b", {"sad": 2, "angry": 1}, manifest=True)
    paths, labels = devset.read_devset(root)
    assert [p.name for p in paths] == ["sad_0.png", "sad_1.png", "angry_0.png"]  # the manifest's order


def test_read_devset_says_what_is_wrong_in_one_sentence(tmp_path):
    with pytest.raises(DataError, match="is not a folder; build it with scripts/build_devset.py"):
        devset.read_devset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no photos in class folders"):
        devset.read_devset(tmp_path / "empty")
    root = make_set(tmp_path / "c", {"sad": 1}, manifest=True)
    (root / "manifest.csv").write_text("file,label\nsad/sad_0.png,contempt\n")
    with pytest.raises(DataError, match="unknown labels contempt"):
        devset.read_devset(root)


def one_face(box: tuple[int, int, int, int], top: str) -> Face:
    return Face(box, np.zeros((48, 48), np.uint8), probabilities={c: float(c == top) for c in CLASSES})


def test_read_photos_keeps_the_largest_face_and_a_nan_row_without_one(tmp_path):
    faces = {
        "a": [one_face((0, 0, 10, 10), "sad"), one_face((0, 0, 30, 30), "happy")],
        "b": [],
    }
    probs = devset.read_photos([tmp_path / "a", tmp_path / "b"], lambda p: faces[p.name])
    assert probs[0].argmax() == CLASSES.index("happy") and np.isnan(probs[1]).all()
    assert devset.predictions(probs).tolist() == [CLASSES.index("happy"), devset.NO_FACE]


def test_score_counts_a_photo_without_a_face_as_wrong():
    labels = np.array([CLASSES.index(c) for c in ["happy", "happy", "sad", "sad", "fear"]])
    probs = np.zeros((5, 7))
    for i, said in enumerate(["happy", "happy", "happy", None, "fear"]):
        probs[i] = np.nan if said is None else np.eye(7)[CLASSES.index(said)]
    s = devset.score(probs, labels)
    assert s["n"] == 5 and s["no_face"] == 1 and s["no_face_per_class"]["sad"] == 1
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["recall"]["happy"] == 1 and s["recall"]["sad"] == 0 and s["recall"]["fear"] == 1
    assert s["balanced_accuracy"] == pytest.approx(2 / 3)  # the mean over the three classes present
    assert s["support"] == {**dict.fromkeys(CLASSES, 0), "happy": 2, "sad": 2, "fear": 1}
    assert (s["most_said"], s["most_said_share"]) == ("happy", pytest.approx(3 / 5))
    assert s["confusions"] == [("sad", "happy", 1, 0.5)]  # the photo without a face is no confusion


def test_measure_reads_the_folder_named_by_the_environment(monkeypatch, tmp_path):
    root = make_set(tmp_path / "set", {"happy": 2, "sad": 1})
    monkeypatch.setenv(devset.DEVSET_ENV, str(root))
    s = devset.measure("", reader=lambda p: [one_face((0, 0, 48, 48), "happy")])
    assert s["n"] == 3 and s["accuracy"] == pytest.approx(2 / 3) and s["recall"]["sad"] == 0


def test_the_default_reader_is_read_expressions_with_no_options(tmp_path):
    from skimage import data as sample_photos

    from fer_lib.photos import read_expressions

    Image.fromarray(sample_photos.astronaut()).save(tmp_path / "astronaut.png")
    (mine,) = devset.default_reader()(tmp_path / "astronaut.png")
    (theirs,) = read_expressions(tmp_path / "astronaut.png")
    assert mine.box == theirs.box
    assert mine.probabilities == pytest.approx(theirs.probabilities, abs=1e-6)
