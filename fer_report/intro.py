"""The introduction: the data set's size, its splits and how unbalanced its classes are."""

from __future__ import annotations

from fer_lib.data import FerData


def data_values(data: FerData) -> dict[str, str]:
    """The values the introduction's text reads, by glue name: the number of faces in all and in each
    split, happy's and disgust's shares of Training, and disgust's count there."""
    counts = data.counts()
    sizes = {split: sum(per_class.values()) for split, per_class in counts.items()}
    training = counts["Training"]
    values = {"n_total": f"{len(data):,}"}
    values |= {f"n_{split}": f"{n:,}" for split, n in sizes.items()}
    values["happy_share"] = f"{training['happy'] / sizes['Training']:.1%}"
    values["disgust_share"] = f"{training['disgust'] / sizes['Training']:.1%}"
    values["disgust_n"] = f"{training['disgust']:,}"
    return values
