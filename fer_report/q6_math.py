"""Q6: the machine checks of each derivation, summed up in one line, with the full table for a fold."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from .derivations import Derivation


def summary(d: Derivation) -> str:
    """One line: how many checks hold, by method ('12 of 12 checks hold: 4 symbolic, 8 autograd')."""
    held = sum(c.passed for c in d.checks)
    methods = Counter(c.method for c in d.checks)
    by = ", ".join(f"{n} {m}" for m, n in methods.most_common())
    failed = [c.claim for c in d.checks if not c.passed]
    text = f"{held} of {len(d.checks)} checks hold ({by})."
    return text + (" Failed: " + "; ".join(failed) + "." if failed else "")


def table(d: Derivation) -> pd.DataFrame:
    """Every check of a derivation: the claim, how it was checked, whether it holds, and the detail."""
    return pd.DataFrame(
        [
            {"claim": c.claim, "method": c.method, "holds": "yes" if c.passed else "NO", "detail": c.detail}
            for c in d.checks
        ]
    )


def conclusion(derivations: list[Derivation]) -> str:
    """Two sentences that open the chapter."""
    total = sum(len(d.checks) for d in derivations)
    held = sum(c.passed for d in derivations for c in d.checks)
    return (
        f"{held} of {total} machine checks hold: the convolution output size, the six BatchNorm gradients "
        "and "
        "the softmax cross-entropy gradient dL/dz_t = ŷ_t − y_t all agree with SymPy's own derivatives and "
        "with "
        "PyTorch's autograd. The original's −y_t(1 − ŷ_t) is the derivative of the single kept term −y_t "
        "log ŷ_t, "
        "which leaves out the other classes' terms that training uses."
    )


def show(d: Derivation) -> None:
    """Display a derivation's results, one equation a line."""
    from IPython.display import Math, display

    for name, tex in d.latex().items():
        if name != "n_configs":
            display(Math(tex))


def text_values(derivations: dict[str, Derivation]) -> dict:
    """The chapter's glued values: its answer, and each derivation's one-line summary and full table
    (``derivations`` by key: conv, bn, sm)."""
    from IPython.display import Markdown

    from .prose import first_sentence

    answer = conclusion(list(derivations.values()))
    values = {"q6_answer": Markdown(answer), "q6_finding": first_sentence(answer)}
    for key, d in derivations.items():
        values[f"q6_{key}_summary"] = Markdown("**Checks:** " + summary(d))
        values[f"q6_{key}_table"] = table(d).style.hide(axis="index")
    return values
