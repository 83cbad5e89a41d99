"""Q6: the machine checks of the chapter's equations, in one table, and what the text says about them.

A check made at several sizes (a batch of m = 2, 3 and 4, say) is one check: the table gives it one row
with the sizes it was made at, and the counts the text gives are of distinct checks and of the equations
they back, not of the runs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .claims import hold
from .derivations import Derivation

CHAPTER = "q6_math"


def distinct_checks(derivations: list[Derivation]) -> list[dict[str, Any]]:
    """One entry per distinct check (its claim and method), in the order first made: the equation it
    backs, the sizes it was made at, how many runs it took and how many held."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for d in derivations:
        for c in d.checks:
            row = rows.setdefault(
                (c.claim, c.method),
                {"eq": c.eq, "claim": c.claim, "method": c.method, "sizes": [], "runs": 0, "held": 0},
            )
            row["sizes"] += [c.size] if c.size else []
            row["runs"] += 1
            row["held"] += bool(c.passed)
    return list(rows.values())


def counts(derivations: list[Derivation]) -> dict[str, int]:
    """How many equations are checked, by how many distinct checks, in how many runs, and how many of
    each held (``failed``: distinct checks with at least one run that failed)."""
    rows = distinct_checks(derivations)
    return {
        "equations": len({r["eq"] for r in rows if r["eq"]}),
        "checks": len(rows),
        "runs": sum(r["runs"] for r in rows),
        "runs_held": sum(r["held"] for r in rows),
        "failed": sum(r["held"] < r["runs"] for r in rows),
    }


def _sizes(sizes: list[str]) -> str:
    """'$m = 2, 3, 4$' from ['m = 2', 'm = 3', 'm = 4']: math, a layer's name as code."""
    heads = {s.split(" = ")[0] for s in sizes}
    if len(heads) == 1 and all(" = " in s for s in sizes):
        return f"${heads.pop()} = " + ", ".join(s.split(" = ")[1] for s in sizes) + "$"
    return ", ".join(f"`{s}`" if s.startswith("nn.") else s if "$" in s else f"${s}$" for s in sizes)


def checks_table(derivations: list[Derivation]) -> Any:
    """The chapter's summary table, as Markdown to paste in a numbered ``{table}``: one row per distinct
    check, with the equation it backs (an ``{eq}`` reference), what is compared, how, at which sizes,
    and whether every run held."""
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    rows = distinct_checks(derivations)
    frame = pd.DataFrame(
        {
            "equation": [f"{{eq}}`{r['eq']}`" if r["eq"] else "reference" for r in rows],
            "what is checked": [r["claim"] for r in rows],
            "how": [r["method"] for r in rows],
            "checked at": [_sizes(r["sizes"]) or "once" for r in rows],
            "holds": [
                "yes" if r["held"] == r["runs"] else f"NO ({r['runs'] - r['held']} of {r['runs']} failed)"
                for r in rows
            ],
        },
        index=pd.RangeIndex(1, len(rows) + 1, name="check"),
    )
    return Markdown(pipe_table(frame))


def check_claims(derivations: list[Derivation]) -> None:
    """The text says every check holds: raise ``ClaimFailed`` naming the checks that did not."""
    failed = [
        f"{c.claim} ({c.size})" if c.size else c.claim for d in derivations for c in d.checks if not c.passed
    ]
    hold(not failed, CHAPTER, "that every check holds", f"{len(failed)} failed: " + "; ".join(failed))


def conv_configs(conv: Derivation) -> int:
    """How many nn.Conv2d configurations the shape formula was compared on."""
    return int(conv.formulas["n_configs"])


def sizes_of(derivation: Derivation, symbol: str) -> str:
    """The sizes a derivation's SymPy checks were repeated at, in words: '2, 3 and 4' for ``m``."""
    found = sorted(
        {
            int(c.size.split(" = ")[1])
            for c in derivation.checks
            if c.method.startswith("SymPy") and c.size.startswith(f"{symbol} = ")
        }
    )
    words = [str(k) for k in found]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def text_values(derivations: dict[str, Derivation]) -> dict[str, Any]:
    """The chapter's glued values, after its claims are checked: the counts, the number of convolution
    configurations and the sizes the symbolic checks were repeated at."""
    found = list(derivations.values())
    check_claims(found)
    n = counts(found)
    return {
        "q6_n_equations": str(n["equations"]),
        "q6_n_checks": str(n["checks"]),
        "q6_n_runs": str(n["runs"]),
        "q6_conv_configs": f"{conv_configs(derivations['conv']):,}",
        "q6_bn_sizes": sizes_of(derivations["bn"], "m"),
        "q6_sm_sizes": sizes_of(derivations["sm"], "n"),
    }
