"""Tables show truth values as words: ``readable`` on known frames, and the appendix's tables that hold
truth values (which shipped) through it."""

import numpy as np
import pandas as pd

from fer_report.appendix import shipped_table
from fer_report.tables import is_truth_value, readable


def test_truth_values_are_bools_not_ints():
    assert [is_truth_value(v) for v in (True, np.False_, 1, 0, 0.0, "yes", None)] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]


def test_readable_writes_words_in_a_copy_and_leaves_other_cells_alone():
    frame = pd.DataFrame({"shipped": [True, False], "seed": [1, 0], "acc": [0.7, np.nan], "run": ["a", "b"]})
    shown = readable(frame)
    assert shown["shipped"].tolist() == ["yes", "no"]
    assert shown["seed"].tolist() == [1, 0] and shown["run"].tolist() == ["a", "b"]
    assert shown["acc"].iloc[0] == 0.7 and np.isnan(shown["acc"].iloc[1])
    assert frame["shipped"].tolist() == [True, False]  # the caller's frame is untouched
    html = shown.style.format({"acc": "{:.2f}"}).to_html()
    assert ">yes<" in html and ">no<" in html and ">True<" not in html and ">False<" not in html


def test_the_appendix_says_which_seed_shipped_in_words():
    html = shipped_table().to_html()
    assert ">yes<" in html and ">no<" in html
    assert ">True<" not in html and ">False<" not in html
