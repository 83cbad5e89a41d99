"""The math chapter's summary (fer_report.q6_math) on hand-made checks whose counts are known."""

from __future__ import annotations

import pytest

from fer_report import q6_math as q6
from fer_report.claims import ClaimFailed
from fer_report.derivations import Check, Derivation

from .conftest import REPO
from .report_cells import notebook_problems


def made(passed_at_3: bool = True) -> list[Derivation]:
    """Two derivations: one claim checked at m = 2, 3, 4 (its m = 3 run passing or not), one checked on
    two layers, one reference check, and a second equation checked once."""
    bn = Derivation("bn")
    for m in (2, 3, 4):
        bn.checks.append(Check("$a$", "SymPy", passed_at_3 or m != 3, size=f"m = {m}", eq="bn-a"))
    for layer in ("nn.BatchNorm1d", "nn.BatchNorm2d"):
        bn.checks.append(Check("autograd", "float64", True, size=layer, eq="bn-a"))
    bn.checks.append(Check("the reference", "gradcheck", True))
    sm = Derivation("sm")
    sm.checks.append(Check("$b$", "SymPy", True, size="n = 2", eq="sm-b"))
    sm.checks.append(Check("$b$", "autograd", True, size="n = 7", eq="sm-b"))
    return [bn, sm]


def test_a_check_repeated_at_several_sizes_counts_once():
    assert q6.counts(made()) == {"equations": 2, "checks": 5, "runs": 8, "runs_held": 8, "failed": 0}
    rows = q6.distinct_checks(made())
    assert [(r["claim"], r["runs"]) for r in rows] == [
        ("$a$", 3),
        ("autograd", 2),
        ("the reference", 1),
        ("$b$", 1),
        ("$b$", 1),
    ]


def test_the_table_has_one_row_per_distinct_check_with_its_sizes_and_equation():
    table = q6.checks_table(made()).data
    lines = table.splitlines()
    assert lines[0] == "| check | equation | what is checked | how | checked at | holds |"
    assert len(lines) == 2 + 5
    assert lines[2] == "| 1 | {eq}`bn-a` | $a$ | SymPy | $m = 2, 3, 4$ | yes |"
    assert "| `nn.BatchNorm1d`, `nn.BatchNorm2d` |" in lines[3]
    assert lines[4].startswith("| 3 | reference | the reference | gradcheck | once |")
    failed = q6.checks_table(made(passed_at_3=False)).data.splitlines()[2]
    assert failed.endswith("| NO (1 of 3 failed) |")


def test_the_text_stops_a_run_in_which_a_check_failed():
    values = q6.text_values({"conv": conv_with(600), "bn": made()[0], "sm": made()[1]})
    assert (values["q6_n_checks"], values["q6_n_equations"], values["q6_n_runs"]) == ("5", "2", "8")
    assert (values["q6_bn_sizes"], values["q6_sm_sizes"], values["q6_conv_configs"]) == (
        "2, 3 and 4",
        "2",
        "600",
    )
    with pytest.raises(
        ClaimFailed, match=r"q6_math: the text says that every check holds.*1 failed: \$a\$ \(m = 3\)"
    ):
        q6.text_values({"conv": conv_with(600), "bn": made(passed_at_3=False)[0], "sm": made()[1]})


def conv_with(n: int) -> Derivation:
    import sympy as sp

    d = Derivation("conv")
    d.formulas["n_configs"] = sp.Integer(n)
    return d


def test_the_notebook_holds_only_short_calls():
    assert notebook_problems(REPO / "book" / "q6_math.ipynb") == []
