"""Q1's table and claims (fer_report.q1_architecture) on models whose counts are known."""

from __future__ import annotations

import pytest
from torch import nn

from fer_lib.models import LayerRow
from fer_report import q1_architecture as q1
from fer_report.claims import ClaimFailed

from .conftest import REPO
from .report_cells import notebook_problems


def test_the_layer_table_lists_every_layer_and_the_three_totals():
    model = nn.Sequential(nn.Flatten(), nn.Linear(48 * 48, 3), nn.BatchNorm1d(3))
    lines = q1.layer_table(model).data.splitlines()
    assert lines[:2] == ["| layer | output shape | parameters |", "| --- | --- | ---: |"]
    assert "| (None, 3) | 6,915 |" in lines[4]  # 2,304 x 3 weights and 3 biases
    assert lines[-3:] == ["| total |  | 6,927 |", "| trainable |  | 6,921 |", "| not trainable |  | 6 |"]


def rows(*params: tuple[str, int]) -> list[LayerRow]:
    return [LayerRow(name, (None, 1), n, n) for name, n in params]


def test_the_text_holds_only_while_the_counts_say_what_it_says():
    report_cnn = q1.facts("report_cnn")
    sc_dense = {"rows": rows(("Conv2D (8)", 100), ("Dense (256)", 900), ("Dense (7)", 50))}
    q1.check_claims(report_cnn, sc_dense)  # the real counts: every claim holds
    with pytest.raises(ClaimFailed, match="q1_architecture: the text says that most of report_cnn's"):
        q1.check_claims(dict(report_cnn, dense_share=0.4), sc_dense)
    with pytest.raises(ClaimFailed, match=r"report_cnn's counts are the original's"):
        q1.check_claims(dict(report_cnn, matches_original=False), sc_dense)
    with pytest.raises(ClaimFailed, match="largest layer is a dense one, but this run found Conv2D"):
        q1.check_claims(dict(report_cnn, biggest=("Conv2D (64)", 10**6)), sc_dense)
    lopsided = {"rows": rows(("Conv2D (8)", 900), ("Dense (256)", 100))}
    with pytest.raises(ClaimFailed, match="first dense layer, but this run found a share of 10%"):
        q1.check_claims(report_cnn, lopsided)
    assert q1.dense_head_first_share(sc_dense["rows"]) == pytest.approx(900 / 1050)


def test_the_notebook_holds_only_short_calls():
    assert notebook_problems(REPO / "book" / "q1_architecture.ipynb") == []
