"""The introduction's values (fer_report.intro) on hand-made data whose counts are known."""

from __future__ import annotations

import numpy as np
import pytest

from fer_lib.data import CLASSES, FerData
from fer_report.intro import data_values


def faces(per_split: dict[str, dict[str, int]]) -> FerData:
    """Blank faces with the given number of each class in each split."""
    labels, splits = [], []
    for split, per_class in per_split.items():
        for name, n in per_class.items():
            labels += [CLASSES.index(name)] * n
            splits += [split] * n
    n = len(labels)
    return FerData(np.zeros((n, 48, 48), np.uint8), np.array(labels, np.int64), np.array(splits))


def test_sizes_and_shares_of_the_splits():
    data = faces(
        {
            "Training": {"happy": 1250, "disgust": 3, "sad": 747},  # 2,000 faces
            "PublicTest": {"happy": 4, "angry": 6},
            "PrivateTest": {"neutral": 7},
        }
    )
    assert data_values(data) == {
        "n_total": "2,017",
        "n_Training": "2,000",
        "n_PublicTest": "10",
        "n_PrivateTest": "7",
        "happy_share": "62.5%",
        "disgust_share": "0.1%",
        "disgust_n": "3",
    }


def test_a_split_missing_from_the_data_gets_no_value():
    values = data_values(faces({"Training": {"happy": 1, "disgust": 1}, "PrivateTest": {"fear": 2}}))
    assert "n_PublicTest" not in values
    assert (values["n_total"], values["n_PrivateTest"], values["happy_share"]) == ("4", "2", "50.0%")


def numbers(**changes) -> dict:
    """The headline numbers as the introduction was written for them, with ``changes`` per model."""
    from fer_report.results import accuracy_interval

    def model(public, seed_public, tencrop, seed_tencrop, recipes=1):
        return {
            "public": public,
            "public_interval": accuracy_interval(public, 3589),
            "seed_public": (seed_public, 0.002),
            "tencrop": tencrop,
            "tencrop_interval": accuracy_interval(tencrop, 3589),
            "seed_tencrop": (seed_tencrop, 0.008),
            "recipes": recipes,
            "n": 3589,
        }

    made = {
        "report_cnn": model(2337 / 3589, 0.6499, 0.6565, 0.6584, recipes=17),
        "simple_cnn": model(0.6576, 0.6525, 0.6726, 0.6732),
        "fer_vgg_s": model(0.6877, 0.6770, 0.7214, 0.7090),
        "fer_vgg": model(0.6996, 0.6943, 0.7356, 0.7270),
    }
    for name, fields in changes.items():
        made[name] |= fields
    return made


def test_the_headline_claims_hold_on_the_numbers_they_were_written_for():
    from fer_report.intro import check_claims, margin_faces

    check_claims(numbers())
    assert margin_faces(2337 / 3589, 0.6510, 3589) == pytest.approx(0.561, abs=1e-3)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"report_cnn": {"public": 2336 / 3589}}, "over the original's val_acc by less than one face"),
        ({"report_cnn": {"public": 2340 / 3589}}, "by less than one face, but this run found 3.6 faces"),
        ({"report_cnn": {"seed_public": (0.6515, 0.002)}}, "report_cnn's seed mean falls short"),
        ({"simple_cnn": {"public": 0.6400}}, "simple_cnn's PublicTest accuracy is over 0.6510"),
        ({"fer_vgg": {"tencrop": 0.76, "tencrop_interval": (0.746, 0.774)}}, "over 0.7328 and ties with it"),
        ({"fer_vgg": {"seed_tencrop": (0.7400, 0.008)}}, "fer_vgg's seed mean falls short of 0.7328"),
        ({"fer_vgg": {"recipes": 3}}, "only report_cnn has more than one recorded recipe"),
    ],
)
def test_numbers_that_contradict_the_introduction_stop_it(changes, says):
    from fer_report.claims import ClaimFailed
    from fer_report.intro import check_claims

    with pytest.raises(ClaimFailed, match=says):
        check_claims(numbers(**changes))


def test_the_balance_claim_fails_where_happy_is_not_the_largest_class():
    from fer_report.claims import ClaimFailed
    from fer_report.intro import check_balance

    check_balance({"Training": {"happy": 9, "disgust": 1, "sad": 5}})
    with pytest.raises(ClaimFailed, match="happy has the most Training faces"):
        check_balance({"Training": {"happy": 4, "disgust": 1, "sad": 5}})


def test_recipes_recorded_counts_the_shipped_one_and_the_experiments_that_are_not_replays():
    from fer_lib.pretrained import experiments
    from fer_report.intro import recipes_recorded

    replays = [r for r in experiments("report_cnn") if r["run"] == "report_cnn_replay_s2"]
    assert recipes_recorded("report_cnn") == len(experiments("report_cnn")) - len(replays) + 1
    assert recipes_recorded("fer_vgg") == 1 + len(experiments("fer_vgg"))


def test_the_notebook_holds_only_short_calls():
    from .conftest import REPO
    from .report_cells import notebook_problems

    assert notebook_problems(REPO / "book" / "intro.ipynb") == []


def test_the_headline_accuracies_are_computed_from_the_weights_not_read_from_the_cards(monkeypatch):
    from fer_lib.synthetic import synthetic_fer
    from fer_report import intro, measured

    data = synthetic_fer(6, 0, 5, seed=4)
    private = data.split("PrivateTest").labels
    wrong = "".join(str((c + 1) % 7) for c in private)  # every face wrong
    right = "".join(str(c) for c in private)
    seen = []

    def fake(model, data_, device="cpu", splits=measured.SPLITS, views=measured.VIEWS):
        seen.append(type(model).__name__)
        return {
            "metrics": {
                "PublicTest": {"n": 5, "accuracy": 0.4},
                "PrivateTest": {"n": 5, "accuracy": 0.2, "accuracy_tencrop": 0.6},
            },
            "predictions": {"PrivateTest none": wrong, "PrivateTest tencrop": right},
        }

    monkeypatch.setattr(measured, "measured", fake)
    numbers = intro.headline(data)
    assert set(numbers) == set(intro.MODELS) and len(seen) == len(intro.MODELS)
    rc = numbers["report_cnn"]
    assert (rc["public"], rc["private"], rc["tencrop"]) == (0.4, 0.2, 0.6)  # not the card's
    assert (rc["fresh"], rc["fresh_tencrop"]) == (0.0, 1.0)  # from the measured predictions
    assert rc["seeds"] >= 1 and rc["n"] == 5
