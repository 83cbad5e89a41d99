"""Q5: what the last conv layer's filters respond to, measured rather than read off the pictures.

A filter is *class-selective* when the faces that excite it most share an expression more often
than the faces at large do. The measure: among a filter's ``k`` strongest-responding faces, the
share of its most frequent expression divided by that expression's share of all faces (its lift;
1 is no preference). Where on the face a filter fires is the row of its peak response, as a band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from fer_lib.attribution import layer_activations
from fer_lib.data import CLASSES

BANDS = (
    ("upper third (brows and eyes)", 1 / 3),
    ("middle third (nose)", 2 / 3),
    ("lower third (mouth)", 1.0),
)


def peak_responses(
    model: nn.Module, x: torch.Tensor, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray, int]:
    """Each face's peak response per filter of the last conv layer (N, filters), the row of that peak
    (N, filters), and the feature map's height; computed batch by batch, so memory stays small."""
    peaks, rows, height = [], [], 0
    for i in range(0, len(x), batch_size):
        act = layer_activations(model, x[i : i + batch_size])  # (n, filters, h, w)
        height, width = act.shape[2], act.shape[3]
        value, where = act.flatten(2).max(2)
        peaks.append(value.numpy())
        rows.append((where // width).numpy())
    return np.concatenate(peaks), np.concatenate(rows), height


def band_of(row: float, height: int) -> str:
    """The face band of a feature-map row (its centre as a fraction of the height)."""
    frac = (row + 0.5) / height
    return next(name for name, upper in BANDS if frac <= upper)


def selectivity(
    peaks: np.ndarray, rows: np.ndarray, height: int, labels: np.ndarray, k: int = 50
) -> pd.DataFrame:
    """Per filter: its dominant expression among its top-``k`` faces, that expression's share there, its
    lift over the expression's share of all faces, and the band where the filter peaks on those faces."""
    base = np.bincount(labels, minlength=len(CLASSES)) / len(labels)
    top = np.argsort(-peaks, axis=0, kind="stable")[:k]  # (k, filters)
    out = []
    for f in range(peaks.shape[1]):
        counts = np.bincount(labels[top[:, f]], minlength=len(CLASSES))
        c = int(counts.argmax())
        share = counts[c] / k
        out.append(
            {
                "filter": f,
                "dominant class": CLASSES[c],
                "share of top faces": share,
                "lift": share / base[c] if base[c] else float("inf"),
                "peak band": band_of(float(np.median(rows[top[:, f], f])), height),
            }
        )
    return pd.DataFrame(out).set_index("filter")


def most_selective(table: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """The ``n`` filters with the highest lift (ties: the larger share first)."""
    return table.sort_values(["lift", "share of top faces"], ascending=False).head(n)


def describe(tables: dict[str, pd.DataFrame], n: int = 4) -> str:
    """Markdown: the most selective filters of each model in words, and what that says of the original's
    one-sentence reading ("many blob-like shapes, perhaps facial features, at different places")."""
    lines = []
    for name, t in tables.items():
        top = most_selective(t, n)
        strong = int((t["lift"] >= 2).sum())
        bands = t["peak band"].value_counts()
        lines.append(
            f"- **{name}** ({len(t)} filters): {strong} {'has' if strong == 1 else 'have'} a lift of 2 or "
            "more. The most selective: "
            + "; ".join(
                f"filter {f} ({r['dominant class']}, {r['share of top faces']:.0%} of its top faces, lift "
                f"{r['lift']:.1f}, peaks in the {r['peak band']})"
                for f, r in top.iterrows()
            )
            + ". Its filters peak in the "
            + ", ".join(f"{b} ({c})" for b, c in bands.items())
            + "."
        )
    return "\n".join(lines)


def verdict(tables: dict[str, pd.DataFrame]) -> str:
    """Markdown: the original's reading held against the measurements."""
    t = tables.get("report_cnn", next(iter(tables.values())))
    bands = t["peak band"].nunique()
    strong = t[t["lift"] >= 2]
    classes = sorted(set(strong["dominant class"]))
    return (
        "The original report saw 'many blob-like shapes, perhaps facial features, at different places' in "
        "the "
        "activation maps of its last layer. The measurement agrees with the 'different places' "
        "(report_cnn's "
        f"filters peak in {bands} of the 3 bands) and says more than the pictures could: "
        + (
            f"{len(strong)} of its {len(t)} filters prefer one expression at least twice as much as chance "
            f"({', '.join(classes)}), so the blobs are not only facial parts but expression detectors."
            if len(strong)
            else "none of its filters prefers one expression at twice the chance rate, so they detect facial "
            "parts "
            "more than expressions."
        )
    )


def conclusion(tables: dict[str, pd.DataFrame]) -> str:
    """Two sentences that open the chapter: how many filters of each model prefer one expression, the
    most selective one of each, and where on the face the filters peak."""
    counts, tops = [], []
    for name, t in tables.items():
        f, r = next(most_selective(t, 1).iterrows())
        counts.append(f"{int((t['lift'] >= 2).sum())} of {len(t)} on {name}")
        tops.append((name, f, r))
    most = all(int((t["lift"] >= 2).sum()) * 2 > len(t) for t in tables.values())
    classes = {r["dominant class"] for _, _, r in tops}
    if len(classes) == 1:
        responds = (
            f"respond{'s' if len(tops) == 1 else ''} to {classes.pop()} faces (lift "
            + " and ".join(f"{r['lift']:.1f}" for _, _, r in tops)
            + ")"
        )
    else:
        responds = "respond to " + " and ".join(
            f"{r['dominant class']} faces (lift {r['lift']:.1f})" for _, _, r in tops
        )
    first = (
        f"{'Most' if most else 'Some'} last-layer filters prefer one expression at least twice as much as "
        f"chance ({', '.join(counts)}); the most selective of each, "
        + " and ".join(f"{name}'s filter {f}" for name, f, _ in tops)
        + f", {responds}."
    )
    second = (
        "Their peaks spread over "
        + " and ".join(
            f"{t['peak band'].nunique()} of the face's 3 bands on {name}" for name, t in tables.items()
        )
        + ", the 'different places' the original report saw."
    )
    return first + " " + second
