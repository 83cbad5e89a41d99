import pandas as pd

from fer_report.pipe_tables import pipe_table


def test_a_table_becomes_markdown_with_numbers_aligned_right():
    frame = pd.DataFrame({"accuracy": ["0.6512", "0.7356"], "note": ["plain", "ten-crop"]}, index=["a", "b"])
    lines = pipe_table(frame, index="model").splitlines()
    assert lines[0] == "| model | accuracy | note |"
    assert lines[1] == "| --- | ---: | --- |"
    assert lines[2] == "| a | 0.6512 | plain |"


def test_a_range_or_a_spread_is_never_broken_but_words_still_wrap():
    frame = pd.DataFrame({"x": ["0.6512 (0.635–0.667)", "0.6499 ± 0.0020", "a|b", True, "ten-crop"]})
    rows = [line.split(" | ", 1)[1] for line in pipe_table(frame).splitlines()[2:]]
    assert rows[0] == "0.6512 (0.635–\u20600.667) |", "a word joiner after the dash: no break in a range"
    assert rows[1] == "0.6499\u00a0±\u00a00.0020 |"
    assert rows[2] == r"a\|b |" and rows[3] == "yes |"
    assert rows[4] == "ten-crop |", "a dash between letters may still break"
