"""The development set's builder (scripts/build_devset.py) and the photo benchmark's scoring, on a made-up
source laid out as muxspace/facial_expressions is."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from fer_lib.data import CLASSES
from fer_lib.errors import ConfigError, DataError

from .conftest import REPO


def _load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_devset = _load("build_devset", REPO / "scripts" / "build_devset.py")
bench_photos = _load("bench_photos", REPO / "benchmarks" / "bench_photos.py")


def _photo(path, seed: int) -> None:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 40), np.uint8)).save(path)


@pytest.fixture
def source(tmp_path):
    """A source with every case the builder handles: mixed-case labels, contempt, a photo labelled two
    ways, a second opinion that disagrees, exact copies that agree and that disagree."""
    src = tmp_path / "facial_expressions"
    (src / "images").mkdir(parents=True)
    (src / "data").mkdir()
    rows = [("u1", "Ann_Lee_0001.jpg", "HAPPINESS"), ("u1", "Ann_Lee_0002.jpg", "happiness")]
    rows += [("u1", f"Bob_Day_{i:04d}.jpg", "happiness") for i in range(1, 6)]  # 7 happy, 2 people
    rows += [
        ("u2", "Cy_Po_0001.jpg", "anger"),
        ("u2", "Cy_Po_0002.jpg", "contempt"),  # no FER2013 class
        ("u2", "Di_Re_0001.jpg", "sadness"),
        ("u3", "Di_Re_0001.jpg", "SURPRISE"),  # labelled two ways: left out
        ("u2", "Ed_Fo_0001.jpg", "fear"),  # the second opinion says sad: left out
        ("u2", "Fa_Gu_0001.jpg", "neutral"),
        ("u2", "Fa_Gu_0002.jpg", "neutral"),  # an exact copy of Fa_Gu_0001, same label: one kept
        ("u2", "Ha_Io_0001.jpg", "disgust"),
        ("u2", "Ha_Io_0002.jpg", "neutral"),  # an exact copy of Ha_Io_0001, other label: both out
    ]
    for i, (_, name, _) in enumerate(rows):
        _photo(src / "images" / name, i)
    for copy, of in (("Fa_Gu_0002.jpg", "Fa_Gu_0001.jpg"), ("Ha_Io_0002.jpg", "Ha_Io_0001.jpg")):
        (src / "images" / copy).write_bytes((src / "images" / of).read_bytes())
    with open(src / "data" / "legend.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("user.id", "image", "emotion"), *rows])
    # the real second-opinion file ends its lines with a bare carriage return
    (src / "data" / "500_picts_satz.csv").write_bytes(
        b"9,Ed_Fo_0001.jpg,sad\r9,Cy_Po_0001.jpg,anger\r9,Ann_Lee_0001.jpg,happiness"
    )
    return src


def _manifest(out):
    with open(out / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_build_maps_labels_drops_ambiguous_and_copies_and_caps(source, tmp_path):
    out = tmp_path / "devset"
    doc = build_devset.build(source, out, per_class=3, seed=0)
    rows = _manifest(out)
    got = {r["source_path"].split("/")[1]: r["label"] for r in rows}
    assert got["Cy_Po_0001.jpg"] == "angry" and got["Fa_Gu_0001.jpg"] == "neutral"
    for gone in ("Cy_Po_0002.jpg", "Di_Re_0001.jpg", "Ed_Fo_0001.jpg", "Fa_Gu_0002.jpg", "Ha_Io_0001.jpg"):
        assert gone not in got
    assert "Ha_Io_0002.jpg" not in got
    happy = [n for n, c in got.items() if c == "happy"]
    assert len(happy) == 3 and {n.split("_")[0] for n in happy} == {
        "Ann",
        "Bob",
    }  # the cap spreads over people
    assert doc["counts"] == {"angry": 1, "happy": 3, "neutral": 1}
    assert doc["available"]["happy"] == 7
    assert doc["dropped"] == {
        "exact copies labelled differently": 2,
        "exact copy of another photo": 1,
        "label 'contempt' has no FER2013 class": 1,
        "labelled as two or more classes": 2,
        "over the cap of 3 a class": 4,
    }
    for r in rows:  # the files are the source's bytes, under FER2013's class names
        data = (out / r["file"]).read_bytes()
        assert r["file"].split("/")[0] == r["label"] in CLASSES
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        assert data == (source / r["source_path"]).read_bytes()
    assert json.loads((out / "devset.json").read_text())["total"] == len(rows) == 5
    again = build_devset.build(source, tmp_path / "again", per_class=3, seed=0)
    assert _manifest(tmp_path / "again") == rows and again["counts"] == doc["counts"]


def test_build_refuses_a_full_folder_without_force_and_keeps_others_files(source, tmp_path):
    out = tmp_path / "devset"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty.*--force"):
        build_devset.build(source, out)
    (out / "happy").mkdir()
    (out / "happy" / "stale.jpg").write_bytes(b"old")
    build_devset.build(source, out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "happy" / "stale.jpg").exists()
    assert build_devset.main([str(source), str(out)]) == 2


def test_build_refuses_the_repository_and_a_source_that_is_not_one(source, tmp_path):
    with pytest.raises(ConfigError, match="inside the repository"):
        build_devset.build(source, REPO / "benchmarks" / "devset_here")
    with pytest.raises(ConfigError, match="inside the source"):
        build_devset.build(source, source / "out")
    with pytest.raises(DataError, match="not a copy of"):
        build_devset.build(tmp_path, tmp_path / "out")
    with open(source / "data" / "legend.csv", "a", newline="") as fh:
        csv.writer(fh).writerow(("u9", "Ann_Lee_0001.jpg", "bored"))
    with pytest.raises(DataError, match=r"row 18: unknown expression label 'bored'"):
        build_devset.build(source, tmp_path / "out")


def test_score_counts_a_photo_without_a_face_as_wrong():
    labels = np.array([0, 0, 1, 1])
    probs = np.full((4, len(CLASSES)), 0.01)
    probs[0, 0] = probs[2, 0] = probs[3, 1] = 0.9  # right, (no face), wrong, right
    probs[1] = np.nan
    s = bench_photos.score(probs, labels)
    assert s["no_face"] == 1
    assert s["accuracy"] == 0.5
    assert s["recall"]["angry"] == 0.5 and s["recall"]["disgust"] == 0.5
    assert s["balanced_accuracy"] == 0.5
    assert (s["most_said"], s["most_said_share"]) == ("angry", 0.5)
    assert s["confusions"] == [("disgust", "angry", 1, 0.5)]


def test_score_counts_the_two_likeliest_classes_and_the_answers_by_sureness():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.full((6, len(CLASSES)), 0.0)
    probs[0, [0, 1]] = 0.9, 0.1  # right, sure
    probs[1, [1, 0, 2]] = 0.4, 0.35, 0.25  # wrong, the true class second; 0.4 opens the second band
    probs[2, [0, 2, 1]] = 0.5, 0.3, 0.2  # wrong, the true class third
    probs[3] = np.nan  # no face: neither second nor in a band
    probs[4, [2, 3]] = 0.35, 0.3  # right, unsure
    probs[5, [2, 0]] = 0.8, 0.2  # right; 0.8 opens the top band
    s = bench_photos.score(probs, labels)
    assert s["second"]["angry"] == 1.0 and s["second"]["fear"] == 1.0
    assert s["second"]["disgust"] == 0.0  # of the one disgust photo with a face; the other has none
    assert s["second"]["happy"] is None  # no happy photo to count
    bands = {(b["from"], b["to"]): (b["photos"], b["right"]) for b in s["by_sureness"]}
    assert bands == {(0.0, 0.4): (1, 1), (0.4, 0.6): (2, 0), (0.6, 0.8): (0, 0), (0.8, 1.0): (2, 2)}
    top = s["by_sureness"][-1]["said"]
    assert top["angry"] == [1, 1] and top["fear"] == [1, 1] and top["disgust"] == [0, 0]
    assert s["by_sureness"][1]["said"]["disgust"] == [1, 0] and s["by_sureness"][1]["said"]["angry"] == [1, 0]


def test_prior_correction_power_is_chosen_on_publictest_and_helps_the_rare_class():
    rng = np.random.default_rng(0)
    prior = np.array([0.6, 0.05, 0.05, 0.1, 0.1, 0.05, 0.05])
    labels = rng.integers(0, len(CLASSES), 700)
    # a model that leans to the frequent class: its evidence times the prior
    evidence = np.exp(2.0 * np.eye(len(CLASSES))[labels] + rng.normal(0, 1, (700, len(CLASSES))))
    probs = evidence * prior
    probs /= probs.sum(1, keepdims=True)
    b = object.__new__(bench_photos.Bench)
    b.prior, b.public = prior, type("PT", (), {"labels": labels})()
    alpha = b.alpha(probs)
    assert 0.5 <= alpha <= 1.5
    before = bench_photos.score(probs, labels)["balanced_accuracy"]
    after = bench_photos.score(bench_photos.corrected(probs, prior, alpha), labels)["balanced_accuracy"]
    assert after > before + 0.05
    assert np.allclose(bench_photos.corrected(probs, prior, 0.0), probs)


def test_read_devset_takes_the_manifest_and_refuses_unknown_labels(source, tmp_path):
    out = tmp_path / "devset"
    build_devset.build(source, out, per_class=3)
    paths, labels = bench_photos.read_devset(out)
    assert len(paths) == 5 and all(p.is_file() for p in paths)
    assert sorted(CLASSES[i] for i in labels) == ["angry", "happy", "happy", "happy", "neutral"]
    text = (out / "manifest.csv").read_text().replace(",neutral,", ",bored,")
    (out / "manifest.csv").write_text(text)
    with pytest.raises(DataError, match="unknown labels bored"):
        bench_photos.read_devset(out)
    with pytest.raises(DataError, match="not a folder"):
        bench_photos.read_devset(tmp_path / "nothing")


def test_ensemble_weights_are_chosen_on_publictest():
    """The weighted ensemble takes the grid point PublicTest prefers: here the one model that is right."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, len(CLASSES), 300)
    right = np.eye(len(CLASSES))[labels] * 0.9 + 0.1 / len(CLASSES)
    noise = rng.dirichlet(np.ones(len(CLASSES)), 300)
    b = object.__new__(bench_photos.Bench)
    b.models, b.public = ["a", "b"], type("PT", (), {"labels": labels})()
    b.raw = lambda view, model, split, light, tta: right if model == "b" else noise
    w = b.weights(bench_photos.WEIGHTED)
    assert w["b"] > 0.5 and abs(sum(w.values()) - 1) < 1e-9, w


def test_log_mean_ensemble_is_the_members_weighted_geometric_mean():
    """The '+ log mean' step: an ensemble's members' log-probabilities averaged and renormalised, NaN where
    no face was found; no row for a single model."""
    tiny = [[0, 0, 0, 1e-9, 1e-9, 1e-9, 1e-9], [0] * 7]
    a = np.array([[0.98, 0.01, 0.01, 0, 0, 0, 0], [np.nan] * 7]) + tiny  # sure of class 0
    c = np.array([[0.001, 0.6, 0.399, 0, 0, 0, 0], [np.nan] * 7]) + tiny  # sure it is not class 0
    b = object.__new__(bench_photos.Bench)
    b.models, b.public = ["a", "c"], None
    b.raw = lambda view, model, split, light="none", tta="none": a if model == "a" else c
    b.weights = lambda ensemble, light="none", tta="none": {"a": 0.5, "c": 0.5}
    step = dict(bench_photos.VARIANTS)["+ log mean"]
    got = step(b, bench_photos.ENSEMBLE, "dev")
    want = np.sqrt(a[0] * c[0])
    assert np.allclose(got[0], want / want.sum())
    assert np.isnan(got[1]).all()
    assert got[0].argmax() == 1  # the arithmetic mean (0.49, 0.31, 0.20) says class 0
    assert step(b, "a", "dev") is None
    assert step(b, bench_photos.ENSEMBLE, "PublicTest") is None  # no FER2013 given


def test_crop_cache_refuses_a_file_it_did_not_write(tmp_path):
    """--cache replaces only a crop cache of its own: any other file is left as it was."""
    photo = tmp_path / "p.png"
    _photo(photo, 0)
    other = tmp_path / "mine.npz"
    np.savez(other, weights=np.arange(3))
    array = tmp_path / "array.npz"  # a plain array saved under the archive's ending
    with open(array, "wb") as fh:
        np.save(fh, np.arange(3))
    empty, cut = tmp_path / "empty.npz", tmp_path / "cut.npz"
    empty.write_bytes(b"")
    np.savez(cut, stamp="x")
    cut.write_bytes(cut.read_bytes()[:40])  # an archive cut short
    for path in (other, array, empty, cut):
        before = path.read_bytes()
        with pytest.raises(bench_photos.FerError, match="not a crop cache|ending in .npz"):
            bench_photos.faces_of([photo], path)
        assert path.read_bytes() == before
    with pytest.raises(bench_photos.FerError, match="ending in .npz"):
        bench_photos.faces_of([photo], tmp_path / "crops")  # numpy would write crops.npz beside it
    assert not (tmp_path / "crops").exists() and not (tmp_path / "crops.npz").exists()


def test_crop_cache_is_read_back_and_a_stale_one_replaced(tmp_path, monkeypatch):
    photo, second = tmp_path / "p.png", tmp_path / "q.png"
    _photo(photo, 0)
    _photo(second, 1)
    cache = tmp_path / "crops.npz"
    crops, found = bench_photos.faces_of([photo], cache)  # a 40-pixel photo is taken whole
    assert found["level"].tolist() == [True] and crops["level"].shape == (1, 48, 48)

    def no_reading(path):
        raise AssertionError("the photo was read again instead of the cache")

    monkeypatch.setattr(bench_photos, "to_gray", no_reading)
    again, _ = bench_photos.faces_of([photo], cache)  # the same photos: read from the cache
    assert np.array_equal(again["level"], crops["level"])
    monkeypatch.undo()
    both, _ = bench_photos.faces_of([photo, second], cache)  # other photos: the stale cache is replaced
    assert both["level"].shape == (2, 48, 48)
    with np.load(cache) as z:
        assert z["crop_level"].shape == (2, 48, 48)


def test_bench_json_is_not_replaced_without_force(tmp_path, monkeypatch, capsys):
    out = tmp_path / "bench.json"
    out.write_text("{}")
    monkeypatch.setattr("sys.argv", ["bench_photos", str(tmp_path / "none"), "--json", str(out)])
    assert bench_photos.main() == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "{}"
    monkeypatch.setattr("sys.argv", ["bench_photos", str(tmp_path / "none"), "--json", str(out), "--force"])
    assert bench_photos.main() == 2  # past the file's check, stopped by the missing set
    assert "not a folder" in capsys.readouterr().err
