"""Q5: what the last conv layer's filters respond to, measured rather than read off the pictures.

A filter is *class-selective* when the faces that excite it most share an expression more often
than the faces at large do. The measure: among a filter's ``k`` strongest-responding faces, the
share of its most frequent expression divided by that expression's share of all faces (its lift;
1 is no preference). Where on the face a filter fires is the row of its peak response, as a band.
The baseline is the same measure on the same architecture with untrained, seeded random weights: the
lift a filter reaches by the network's shape and the faces' statistics alone, before any training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib import pyplot as plt
from torch import nn

from fer_lib.attribution import activation_maps, activation_maximisation, layer_activations
from fer_lib.data import CLASSES, FerData
from fer_lib.errors import ConfigError, DataError
from fer_lib.evaluate import to_float_images
from fer_lib.models import build_model
from fer_report import figures
from fer_report.claims import hold
from fer_report.pipe_tables import pipe_table
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


def selective_table(table: pd.DataFrame, n: int = 10) -> Markdown:
    """The ``n`` filters with the highest lift, as Markdown to paste in a numbered ``{table}``: each one's
    preferred expression, its share of the filter's top faces, the lift and the band where it peaks."""
    shown = most_selective(table, n)
    frame = pd.DataFrame(
        {
            "preferred expression": shown["dominant class"],
            "share of its top faces": [f"{v:.0%}" for v in shown["share of top faces"]],
            "lift": [f"{v:.2f}" for v in shown["lift"]],
            "where it peaks": shown["peak band"],
        },
        index=pd.Index(shown.index, name="filter"),
    )
    return Markdown(pipe_table(frame))


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


# --------------------------------------------------------------------------- the untrained baseline

LIFT = 2.0  # a filter "prefers" an expression when its top faces hold it at least twice as often as all faces


def untrained_models(name: str, seeds: Sequence[int]) -> list[nn.Module]:
    """``name``'s architecture with freshly initialised weights, one copy per seed (the caller's torch
    generator is left as it was)."""
    copies = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            copies.append(build_model(name).eval())
    return copies


def baseline_tables(
    data: FerData, seeds: Sequence[int], top_faces: int = 50, names: Sequence[str] = MODELS
) -> dict[str, list[pd.DataFrame]]:
    """Per model, the selectivity table of each untrained copy, measured exactly as the trained model's."""
    return {
        name: [responses({name: net}, data, top_faces).tables[name] for net in untrained_models(name, seeds)]
        for name in names
    }


def lift_summary(table: pd.DataFrame) -> dict[str, Any]:
    """One network's filters in numbers: how many, how many prefer an expression (lift at least ``LIFT``),
    the median and highest lift, how many bands they peak in, and the preferred expressions by count."""
    chosen = table[table["lift"] >= LIFT]
    return {
        "filters": len(table),
        "selective": len(chosen),
        "median lift": float(table["lift"].median()) if len(table) else float("nan"),
        "highest lift": float(table["lift"].max()) if len(table) else float("nan"),
        "bands": int(table["peak band"].nunique()),
        "preferred": chosen["dominant class"].value_counts().to_dict(),
    }


def baseline_table(tables: dict[str, pd.DataFrame], baseline: dict[str, list[pd.DataFrame]]) -> Markdown:
    """Trained against untrained, per model and seed, as Markdown to paste in a numbered ``{table}``."""
    rows = []
    for name, trained in tables.items():
        copies = [("trained", trained)] + [(f"untrained, seed {i}", t) for i, t in enumerate(baseline[name])]
        for weights, t in copies:
            s = lift_summary(t)
            rows.append(
                {
                    "network": f"{name}, {weights}",
                    "filters": f"{s['filters']:,}",
                    f"lift ≥ {LIFT:g}": f"{s['selective']:,}",
                    "median lift": f"{s['median lift']:.2f}",
                    "highest lift": f"{s['highest lift']:.2f}",
                    f"expressions preferred (lift ≥ {LIFT:g})": ", ".join(
                        f"{c} {n}" for c, n in s["preferred"].items()
                    )
                    or "none",
                }
            )
    return Markdown(pipe_table(pd.DataFrame(rows).set_index("network")))


# --------------------------------------------------------------------------- the chapter as written

CHAPTER = "q5_filters"


def findings(tables: dict[str, pd.DataFrame], baseline: dict[str, list[pd.DataFrame]]) -> dict[str, Any]:
    """What the text reads off the measurements, per model: the trained network's summary and the most
    any untrained copy reached on each measure."""
    out = {}
    for name, t in tables.items():
        base = [lift_summary(b) for b in baseline[name]]
        out[name] = {
            "trained": lift_summary(t),
            "top ten": list(most_selective(t, 10)["dominant class"]),
            "top share": float(t["share of top faces"].max()),
            "untrained selective": max(b["selective"] for b in base),
            "untrained median": max(b["median lift"] for b in base),
            "untrained lowest median": min(b["median lift"] for b in base),
            "untrained highest": max(b["highest lift"] for b in base),
            "untrained bands": min(b["bands"] for b in base),
            "untrained preferred": set().union(*(b["preferred"] for b in base)),
            "copies": len(base),
        }
    return out


def check_claims(f: dict[str, Any]) -> None:
    """Hold the chapter's sentences to the findings (``findings``); raise ``ClaimFailed`` naming the first
    sentence that would be false."""
    for name in MODELS:
        m, t = f[name], f[name]["trained"]
        hold(m["copies"] >= 2, CHAPTER, f"that {name} is compared with several untrained copies", m["copies"])
        hold(
            t["selective"] > 2 * m["untrained selective"],
            CHAPTER,
            f"that more than twice as many of {name}'s trained filters prefer an expression as in any "
            "untrained copy",
            f"{t['selective']} against {m['untrained selective']}",
        )
        hold(
            t["median lift"] > m["untrained median"] and t["highest lift"] > m["untrained highest"],
            CHAPTER,
            f"that {name}'s median and highest lift are above every untrained copy's",
            f"median {t['median lift']:.2f} against {m['untrained median']:.2f}, highest "
            f"{t['highest lift']:.2f} against {m['untrained highest']:.2f}",
        )
        hold(
            set(m["top ten"]) == {"surprise"},
            CHAPTER,
            f"that {name}'s ten most selective filters all prefer surprise",
            f"{m['top ten']}",
        )
        hold(
            m["untrained lowest median"] > 1,
            CHAPTER,
            f"that even an untrained {name}'s median lift is above 1",
            f"{m['untrained lowest median']:.2f}",
        )
        hold(
            "happy" not in m["untrained preferred"],
            CHAPTER,
            f"that no filter of an untrained {name} prefers happy",
            f"{sorted(m['untrained preferred'])}",
        )
        hold(
            t["bands"] == m["untrained bands"] == len(BANDS),
            CHAPTER,
            f"that {name}'s filters peak in all three bands, trained or not",
            f"{t['bands']} bands trained, at least {m['untrained bands']} untrained",
        )
        hold(
            m["top share"] < 1,
            CHAPTER,
            f"that even {name}'s most selective filter's strongest faces hold other expressions too",
            f"a filter whose strongest faces are {m['top share']:.0%} one expression",
        )
    rc, sc = f["report_cnn"]["trained"], f["simple_cnn"]["trained"]
    hold(
        2 * rc["selective"] > rc["filters"] and 2 * sc["selective"] < sc["filters"],
        CHAPTER,
        "that most of report_cnn's filters prefer an expression and fewer than half of simple_cnn's",
        f"{rc['selective']} of {rc['filters']} and {sc['selective']} of {sc['filters']}",
    )
    counts = sorted(rc["preferred"].items(), key=lambda kv: -kv[1])
    hold(
        [c for c, _ in counts[:2]] == ["surprise", "happy"]
        and (len(counts) < 3 or counts[1][1] > counts[2][1]),
        CHAPTER,
        "that report_cnn's selective filters prefer surprise most often, then happy",
        f"{counts}",
    )


def chapter_values(
    resp: Responses, baseline: dict[str, list[pd.DataFrame]], checked: bool = True
) -> dict[str, Any]:
    """The numbers the chapter's text reads, by glue name, after ``check_claims`` has held its sentences
    to this run (where ``checked``: the text is about FER2013, not about generated faces)."""
    f = findings(resp.tables, baseline)
    if checked:
        check_claims(f)
    rc, sc = f["report_cnn"], f["simple_cnn"]
    values = {
        "q5_k": str(resp.k),
        "q5_seeds": str(rc["copies"]),
        "q5_finding": (
            f"Most of report_cnn's last-layer filters ({rc['trained']['selective']} of "
            f"{rc['trained']['filters']}) prefer one expression, surprise most often, against at most "
            f"{rc['untrained selective']} in the same network untrained."
        ),
    }
    for key, m in (("rc", rc), ("sc", sc)):
        t = m["trained"]
        values |= {
            f"q5_{key}_filters": f"{t['filters']:,}",
            f"q5_{key}_selective": f"{t['selective']:,}",
            f"q5_{key}_base_selective": f"{m['untrained selective']:,}",
            f"q5_{key}_median": f"{t['median lift']:.2f}",
            f"q5_{key}_base_median": f"{m['untrained median']:.2f}",
            f"q5_{key}_base_low_median": f"{m['untrained lowest median']:.2f}",
            f"q5_{key}_highest": f"{t['highest lift']:.2f}",
            f"q5_{key}_base_highest": f"{m['untrained highest']:.2f}",
            f"q5_{key}_surprise": f"{t['preferred'].get('surprise', 0):,}",
            f"q5_{key}_happy": f"{t['preferred'].get('happy', 0):,}",
        }
    return values
