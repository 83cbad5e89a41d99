"""Q5: what the last conv layer's filters respond to, measured rather than read off the pictures.

A filter is *class-selective* when the faces that excite it most share an expression more often
than the faces at large do. The measure: among a filter's ``k`` strongest-responding faces, the
share of its most frequent expression divided by that expression's share of all faces (its lift;
1 is no preference). Where on the face a filter fires is the row of its peak response, as a band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib import pyplot as plt
from pandas.io.formats.style import Styler
from torch import nn

from fer_lib.attribution import activation_maps, activation_maximisation, layer_activations
from fer_lib.data import CLASSES, FerData
from fer_lib.errors import ConfigError, DataError
from fer_lib.evaluate import to_float_images
from fer_report import figures
from fer_report.prose import first_sentence
from fer_report.sources import model_for

MODELS = ("report_cnn", "simple_cnn")

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


# --------------------------------------------------------------------------- what the notebook calls


def load_models(run_dir: str | Path, use_pretrained: bool = False) -> dict[str, nn.Module]:
    """The chapter's two trained models by name (run folder, else the shipped weights)."""
    return {name: model_for(name, run_dir, use_pretrained)[0] for name in MODELS}


@dataclass
class Responses:
    """The PrivateTest faces, each model's peak response per face and filter, and its selectivity table."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray
    peaks: dict[str, np.ndarray]  # model -> (N, filters)
    tables: dict[str, pd.DataFrame]  # model -> selectivity per filter
    k: int  # the top faces a filter's selectivity rests on


def responses(models: dict[str, nn.Module], data: FerData, top_faces: int = 50) -> Responses:
    """Every model's last-layer responses to every PrivateTest face, and each filter's selectivity among
    its ``top_faces`` strongest faces (fewer if the split is smaller)."""
    test = data.split("PrivateTest")
    x = to_float_images(test.images)
    k = min(top_faces, len(test))
    peaks, tables = {}, {}
    for name, model in models.items():
        peak, rows, height = peak_responses(model, x)
        peaks[name] = peak
        tables[name] = selectivity(peak, rows, height, test.labels, k=k)
    return Responses(test.images, test.labels, peaks, tables, k)


def top_faces_of(peaks: np.ndarray, chosen: list[int], n: int = 9) -> np.ndarray:
    """Per chosen filter, the indices of the ``n`` faces with its strongest peak response, strongest first
    (ties: the earlier face); shape (filters, n)."""
    return np.argsort(-peaks, axis=0, kind="stable")[:n, chosen].T


def row_titles(table: pd.DataFrame, chosen: list[int]) -> list[str]:
    """A title per chosen filter: its index, dominant expression and lift."""
    return [f"filter {f}\n{table.loc[f, 'dominant class']}, lift {table.loc[f, 'lift']:.1f}" for f in chosen]


def rows_figure(
    model: nn.Module, resp: Responses, name: str, n_filters: int = 4, am_steps: int = 128, seed: int = 0
) -> plt.Figure:
    """The ``n_filters`` most selective filters of ``model``: each one's activation-maximisation image and
    its nine strongest PrivateTest faces with their labels."""
    chosen = list(most_selective(resp.tables[name], n_filters).index)
    synthetic = activation_maximisation(model, chosen, steps=am_steps, seed=seed)
    top = top_faces_of(resp.peaks[name], chosen)
    labels = [CLASSES[c] for c in resp.labels[top].ravel()]
    title = f"{name}: the {len(chosen)} most class-selective filters"
    return figures.filter_rows(
        synthetic, resp.images[top], labels, row_titles(resp.tables[name], chosen), title
    )


def shown_table(table: pd.DataFrame, n: int = 10) -> Styler:
    """The ``n`` filters with the highest lift, shares as percentages."""
    shown = table.sort_values("lift", ascending=False).head(n)
    return shown.style.format({"share of top faces": "{:.0%}", "lift": "{:.2f}"})


def first_face_of(data: FerData, face_class: str) -> int:
    """The index of the first PrivateTest face labelled ``face_class``."""
    if face_class not in CLASSES:
        raise ConfigError(f"parameter face_class is '{face_class}'; expected one of {', '.join(CLASSES)}.")
    labels = data.split("PrivateTest").labels
    found = np.flatnonzero(labels == CLASSES.index(face_class))
    if not len(found):
        raise DataError(f"PrivateTest has no {face_class} face to show (parameter face_class).")
    return int(found[0])


def face_figure(data: FerData, face: int, face_class: str) -> plt.Figure:
    """One PrivateTest face, small, titled with its split and expression."""
    images = data.split("PrivateTest").images
    return figures.face_grid(images[face : face + 1], [f"PrivateTest, {face_class}"], ncols=1, size=1.6)


def maps_figure(model: nn.Module, data: FerData, face: int, name: str = "report_cnn") -> plt.Figure:
    """The activation map of every filter of ``model``'s last conv layer for one PrivateTest face."""
    x = to_float_images(data.split("PrivateTest").images[face : face + 1])
    maps = activation_maps(model, x)
    return figures.filter_grid(
        maps,
        ncols=8,
        cmap="viridis",
        titles=[f"filter {i}" for i in range(len(maps))],
        suptitle=f"{name}: every filter of the last conv layer for one face",
    )


def chapter_values(resp: Responses, n_filters: int = 4) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name: the answer, its first sentence, the measure in
    words, the verdict, and how many top faces a filter's selectivity rests on."""
    answer = conclusion(resp.tables)
    return {
        "q5_k": str(resp.k),
        "q5_measure": Markdown(describe(resp.tables, n=n_filters)),
        "q5_answer": Markdown(answer),
        "q5_finding": first_sentence(answer),
        "q5_verdict": Markdown(verdict(resp.tables)),
    }
