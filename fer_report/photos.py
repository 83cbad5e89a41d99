"""The photos chapter: the shipped models on a sample portrait, and what accuracy to expect off FER2013.

A photo goes through ``fer_lib.photos`` (find the faces, crop them as FER2013's were, classify and
explain them); these functions gather what the chapter shows: the crops beside FER2013 faces, every
shipped model's reading, the attribution on the photo, and each model's recall per class on PrivateTest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib import pyplot as plt
from pandas.io.formats.style import Styler
from torch import nn

from fer_lib.data import CLASSES, FerData
from fer_lib.faces import Face
from fer_lib.photos import annotate, classify_faces, explain_faces, explanation_figure, locate_faces
from fer_report import figures


def sample_photo() -> np.ndarray:
    """The portrait scikit-image ships (the astronaut Eileen Collins), RGB uint8."""
    from skimage import data as sample_photos

    return sample_photos.astronaut()


def shipped_models() -> dict[str, nn.Module]:
    """Every model whose weights ship, by name."""
    from fer_lib.pretrained import load_model, shipped_names

    return {name: load_model(name)[0] for name in shipped_names()}


@dataclass
class PhotoReading:
    """A photo, its faces read by the chapter's model, and every model's probabilities for each face."""

    photo: np.ndarray  # RGB (H, W, 3)
    gray: np.ndarray  # (H, W)
    faces: list[Face]  # with the chosen model's probabilities
    readings: dict[str, list[dict[str, float]]]  # model -> per face, class -> probability


def read_photo(
    photo: np.ndarray, models: dict[str, nn.Module], model_name: str, device: str | torch.device = "cpu"
) -> PhotoReading:
    """Find the photo's faces, read them with every model, and leave them with ``model_name``'s reading."""
    gray, faces = locate_faces(photo)
    readings = {
        name: [dict(f.probabilities) for f in classify_faces(faces, model, device=device)]
        for name, model in models.items()
    }
    classify_faces(faces, models[model_name], device=device)
    return PhotoReading(photo, gray, faces, readings)


def face_label(face: Face) -> str:
    """A face's predicted class and its probability, e.g. 'happy 0.93'."""
    return f"{face.expression} {face.probabilities[face.expression]:.2f}"


def crops_figure(reading: PhotoReading, data: FerData, n_refs: int = 4) -> plt.Figure:
    """The photo with its faces boxed and read, each 48x48 crop, and the first ``n_refs`` happy
    PrivateTest faces of FER2013 to compare the framing with."""
    refs = data.split("PrivateTest")
    pick = np.flatnonzero(refs.labels == CLASSES.index("happy"))[:n_refs]
    return figures.photo_and_crops(
        np.asarray(annotate(reading.photo, reading.faces)),
        [f.crop for f in reading.faces],
        refs.images[pick],
        [face_label(f) for f in reading.faces],
        ref_title="FER2013 happy faces",
    )


def readings_frame(reading: PhotoReading) -> pd.DataFrame:
    """Every model's probability of each class for the first face (a model a row); empty without a face."""
    if not reading.faces:
        return pd.DataFrame()
    return pd.DataFrame({name: r[0] for name, r in reading.readings.items() if r}).T[list(CLASSES)]


def readings_table(reading: PhotoReading) -> Styler:
    """The readings as shown: three decimals, each model's most probable class in bold."""
    return readings_frame(reading).style.format("{:.3f}").highlight_max(axis=1, props="font-weight: bold")


def explain_figure(
    reading: PhotoReading, model: nn.Module, method: str, device: str | torch.device = "cpu"
) -> plt.Figure:
    """The attribution of each face's predicted class drawn back onto the photo; a photo without a face
    says so instead."""
    if not reading.faces:
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(reading.gray, cmap="gray")
        ax.set_title("No face was found, so there is nothing to explain.", fontsize=9)
        ax.axis("off")
        return fig
    heat = explain_faces(reading.gray, reading.faces, model, method, device=device)
    return explanation_figure(reading.gray, reading.faces, heat, method)


def privatetest_results(
    models: dict[str, nn.Module], data: FerData, device: str | torch.device = "cpu"
) -> dict[str, dict]:
    """Each model's PrivateTest accuracy, balanced accuracy, confusion matrix and per-class metrics (plain
    view), by name, from the run's shared measurement (``fer_report.measured``)."""
    from fer_lib.evaluate import balanced_accuracy, confusion_matrix, per_class_metrics
    from fer_report.measured import measured

    labels = data.split("PrivateTest").labels
    out = {}
    for name, model in models.items():
        digits = measured(model, data, str(device))["predictions"]["PrivateTest none"]
        cm = confusion_matrix(labels, np.frombuffer(digits.encode(), np.uint8) - ord("0"))
        out[name] = {
            "accuracy": float(np.trace(cm) / cm.sum()),
            "balanced_accuracy": balanced_accuracy(cm),
            "confusion_matrix": cm.tolist(),
            "per_class": per_class_metrics(cm),
        }
    return out


def recall_frame(results: dict[str, dict], counts: dict[str, int]) -> pd.DataFrame:
    """Accuracy, balanced accuracy and recall per class (rows) for each model (columns), with each class's
    number of Training faces."""
    rows = [
        {
            "model": name,
            "accuracy": r["accuracy"],
            "balanced accuracy": r["balanced_accuracy"],
            **{c: r["per_class"][c]["recall"] for c in CLASSES},
        }
        for name, r in results.items()
    ]
    recalls = pd.DataFrame(rows).set_index("model").T
    recalls["Training faces"] = [np.nan, np.nan, *[counts[c] for c in CLASSES]]
    return recalls


def recall_table(results: dict[str, dict], data: FerData) -> Styler:
    """The recall table as shown: three decimals, Training faces with thousands separators."""
    recalls = recall_frame(results, data.counts()["Training"])
    return recalls.style.format("{:.3f}", na_rep="").format("{:,.0f}", subset=["Training faces"], na_rep="")


def answer(faces: list[Face], model_name: str, result: dict) -> str:
    """The chapter's answer: the faces found and the model's reading, and what to expect on other photos."""
    recall = {c: m["recall"] for c, m in result["per_class"].items()}
    worst, best = min(recall, key=recall.get), max(recall, key=recall.get)
    face = faces[0] if faces else None
    reads = (
        f"it as **{face.expression}** (probability {face.probabilities[face.expression]:.2f}). "
        if face
        else "none. "
    )
    return (
        f"The detector finds {len(faces)} face{'s' if len(faces) != 1 else ''} in the portrait, and "
        f"{model_name} reads "
        + reads
        + "Expect less on your own photos than FER2013's test accuracy suggests: even on FER2013's "
        f"PrivateTest, {model_name} recognises {worst} faces {recall[worst]:.0%} of the time and {best} "
        f"faces {recall[best]:.0%} (accuracy {result['accuracy']:.3f}, balanced accuracy "
        f"{result['balanced_accuracy']:.3f})."
    )


def spread(model_name: str, result: dict, counts: dict[str, int]) -> str:
    """How unevenly the model recognises the classes, and why balanced accuracy is the better guide."""
    recall = {c: m["recall"] for c, m in result["per_class"].items()}
    worst, best = min(recall, key=recall.get), max(recall, key=recall.get)
    rare = min(counts, key=counts.get)
    return (
        f"{model_name} names {recall[best]:.0%} of the {best} faces of PrivateTest correctly but only "
        f"{recall[worst]:.0%} of the {worst} faces, and that is not simply a matter of how many faces a "
        f"class had to learn from: {worst} had {counts[worst]:,} Training faces, {rare} only "
        f"{counts[rare]:,} (recognised {recall[rare]:.0%} of the time). Balanced accuracy, the mean of the "
        f"seven recalls ({result['balanced_accuracy']:.3f} against an accuracy of {result['accuracy']:.3f}), "
        "counts every class the same, and is the better guide for photos whose expressions are spread more "
        "evenly than FER2013's."
    )


def chapter_values(
    reading: PhotoReading, results: dict[str, dict], data: FerData, model_name: str
) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name."""
    result = results[model_name]
    return {
        "ph_answer": Markdown(answer(reading.faces, model_name, result)),
        "ph_spread": Markdown(spread(model_name, result, data.counts()["Training"])),
        "ph_n_faces": len(reading.faces),
        "ph_model": model_name,
    }
