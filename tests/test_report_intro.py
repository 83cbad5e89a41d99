"""The introduction's values (fer_report.intro) on hand-made data whose counts are known."""

from __future__ import annotations

import numpy as np

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
