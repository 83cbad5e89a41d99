"""The class-prior correction of the photo path: its arithmetic, its constants and where it is applied."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_lib import photos
from fer_lib.__main__ import main
from fer_lib.data import CLASSES
from fer_lib.errors import ConfigError, DataError
from fer_lib.photos import default_prior, prior_corrected, read_expressions
from fer_lib.pretrained import DEFAULT_MODEL, PRIOR_ALPHA, TRAINING_COUNTS


def test_dividing_out_the_prior_itself_gives_even_classes():
    """Probabilities equal to the prior, divided by it to the power 1, are even; to the power 0, unchanged."""
    prior = np.array([1, 2, 3, 4, 5, 6, 7], float)
    probs = prior / prior.sum()
    assert np.allclose(prior_corrected(probs, 1.0, prior), 1 / 7)
    assert np.allclose(prior_corrected(probs, 0.0, prior), probs)


def test_a_known_answer_with_a_half_power():
    """Two classes with the prior 1:4 and probabilities 0.5 each: divided by sqrt(0.2) and sqrt(0.8), the
    first class gets 2/3; the other five stay at 0 and a row of NaN (no face) stays NaN."""
    prior = [1, 4, 1e-9, 1e-9, 1e-9, 1e-9, 1e-9]
    rows = np.array([[0.5, 0.5, 0, 0, 0, 0, 0], [np.nan] * 7])
    out = prior_corrected(rows, 0.5, prior)
    assert out[0, :2] == pytest.approx([2 / 3, 1 / 3], rel=1e-6) and np.all(out[0, 2:] == 0)
    assert np.isnan(out[1]).all()


def test_fer2013s_prior_moves_answers_towards_its_rare_classes():
    """Even probabilities, corrected by Training's counts, favour disgust (the rarest) and least happy."""
    out = prior_corrected(np.full(7, 1 / 7), 1.0)
    assert CLASSES[int(out.argmax())] == "disgust" and CLASSES[int(out.argmin())] == "happy"
    assert out.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [-0.5, float("nan"), "x"])
def test_a_bad_power_is_one_sentence(alpha):
    with pytest.raises(ConfigError, match="alpha"):
        prior_corrected(np.full(7, 1 / 7), alpha)


def test_a_bad_prior_is_one_sentence():
    with pytest.raises(DataError, match="7 positive numbers"):
        prior_corrected(np.full(7, 1 / 7), 1.0, [1, 2, 3])


@pytest.mark.realdata
def test_the_training_counts_are_fer2013s(real_data):
    counts = np.bincount(real_data.split("Training").labels, minlength=len(CLASSES))
    assert tuple(int(c) for c in counts) == TRAINING_COUNTS


def test_the_stored_power_is_for_the_default_model_only():
    assert default_prior(DEFAULT_MODEL) == PRIOR_ALPHA
    assert default_prior("report_cnn") == 0.0


def test_read_expressions_divides_the_prior_out_by_default_and_not_when_told(monkeypatch):
    """With a stored power of 1, the default path's probabilities are the uncorrected ones divided by the
    prior; prior=0 turns it off, and another model is left uncorrected unless a power is given."""
    monkeypatch.setattr(photos, "PRIOR_ALPHA", 1.0)
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)  # a crop: taken whole

    def probs(**kw):
        (f,) = read_expressions(face, **kw)
        return np.array([f.probabilities[c] for c in CLASSES])

    plain, default = probs(prior=0), probs()
    assert np.allclose(default, prior_corrected(plain, 1.0), atol=1e-6)
    assert not np.allclose(default, plain, atol=1e-3)
    single = probs(model="report_cnn")
    assert np.allclose(single, probs(model="report_cnn", prior=0))
    assert np.allclose(probs(model="report_cnn", prior=0.5), prior_corrected(single, 0.5), atol=1e-6)


def test_cli_predict_takes_the_power_and_refuses_a_bad_one(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)).save(path)
    got = {}
    for alpha in ("0", "1"):
        args = ["predict", str(path), "--model", "report_cnn", "--prior", alpha, "--json", "--device", "cpu"]
        assert main(args) == 0
        (row,) = json.loads(capsys.readouterr().out)
        got[alpha] = np.array([row["faces"][0]["probabilities"][c] for c in CLASSES])
    assert np.allclose(got["1"], prior_corrected(got["0"], 1.0), atol=2e-4)  # the JSON rounds to 4 places
    assert main(["predict", str(path), "--prior", "-1", "--device", "cpu"]) == 2
    assert "--prior" in capsys.readouterr().err
