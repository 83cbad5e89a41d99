"""The photos chapter: the shipped models on a sample portrait, and what accuracy to expect off FER2013.

A photo goes through ``fer_lib.photos`` (find the faces, crop them as FER2013's were, classify and
explain them); these functions gather what the chapter shows: the crops beside FER2013 faces, every
shipped model's reading, the attribution on the photo, the library's default on the development set of
labelled photos (``fer_report.devset``), and each model's recall per class on PrivateTest; and they hold
the text's sentences to those numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib import pyplot as plt
from torch import nn

from fer_lib.data import CLASSES, FerData
from fer_lib.faces import Face
from fer_lib.photos import annotate, classify_faces, explain_faces, explanation_figure, locate_faces
from fer_report import figures
from fer_report.pipe_tables import pipe_table


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


def readings_table(reading: PhotoReading) -> Markdown:
    """The readings as Markdown to paste in a numbered ``{table}``: two decimals, each model's most probable
    class in bold."""
    frame = readings_frame(reading)
    shown = frame.map(lambda v: f"{v:.2f}").astype(object)
    for name, row in frame.iterrows():
        shown.loc[name, row.idxmax()] = f"**{row.max():.2f}**"
    return Markdown(pipe_table(shown, index="model"))


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
    view), by name, from the run's shared measurement (``fer_report.measured``; a model no earlier chapter
    measured is run on that view alone)."""
    from fer_lib.evaluate import balanced_accuracy, confusion_matrix, per_class_metrics
    from fer_report.measured import measured

    labels = data.split("PrivateTest").labels
    out = {}
    for name, model in models.items():
        got = measured(model, data, str(device), splits=("PrivateTest",), views=("none",))
        digits = got["predictions"]["PrivateTest none"]
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


def recall_table(results: dict[str, dict], counts: dict[str, int]) -> Markdown:
    """The PrivateTest table as Markdown to paste in a numbered ``{table}``: accuracy, balanced accuracy and
    recall per class (rows) for each model (columns), with each class's Training faces."""
    frame = recall_frame(results, counts)
    shown = frame.drop(columns="Training faces").map(lambda v: f"{v:.2f}").astype(object)
    shown["Training faces"] = [f"{v:,.0f}" if v == v else "" for v in frame["Training faces"]]
    return Markdown(pipe_table(shown, index=""))


NOT_MEASURED = "–"  # what a number of the development set reads where the set was not given


def devset_table(dev: dict | None) -> Markdown:
    """The default's reading of the development set per class, as Markdown for a numbered ``{table}``: the
    photos, those without a face found, and the recall (a photo without a face counts wrong); a last row for
    all photos with the accuracy. Every cell reads "–" where the set was not measured."""
    rows = [*CLASSES, "all photos (accuracy)"]
    if dev is None:
        cells = {k: [NOT_MEASURED] * len(rows) for k in ("photos", "no face found", "recall")}
    else:
        cells = {
            "photos": [*(f"{dev['support'][c]:,}" for c in CLASSES), f"{dev['n']:,}"],
            "no face found": [*(f"{dev['no_face_per_class'][c]:,}" for c in CLASSES), f"{dev['no_face']:,}"],
            "recall": [*(f"{dev['recall'][c]:.2f}" for c in CLASSES), f"{dev['accuracy']:.2f}"],
        }
    return Markdown(pipe_table(pd.DataFrame(cells, index=pd.Index(rows, name="class"))))


def _band(lo: float, hi: float) -> str:
    """A band of the top probability as the sureness table names it."""
    if lo == 0:
        return f"under {hi:.1f}"
    return f"{lo:.1f} or more" if hi >= 1 else f"{lo:.1f} to {hi:.1f}"


def _right(band: dict) -> float | None:
    """A band's share of answers right; None where no answer fell in it."""
    return band["right"] / band["photos"] if band["photos"] else None


def _share(band: dict, bands: list[dict]) -> str:
    """A band's share of the photos with a face (those in all ``bands``), as a percentage."""
    return f"{band['photos'] / max(sum(b['photos'] for b in bands), 1):.0%}"


def sureness_table(dev: dict | None) -> Markdown:
    """How often the default is right by how sure it is, as Markdown for a numbered ``{table}``: for each
    band of its top probability, the photos with a face in it, their share, and the share read right."""
    if dev is None:
        frame = pd.DataFrame(
            {k: [NOT_MEASURED] for k in ("photos", "share", "read right")},
            index=pd.Index(["not measured"], name="top probability"),
        )
    else:
        bands = dev["by_sureness"]
        frame = pd.DataFrame(
            {
                "photos": [f"{b['photos']:,}" for b in bands],
                "share": [_share(b, bands) for b in bands],
                "read right": [_two(_right(b)) for b in bands],
            },
            index=pd.Index([_band(b["from"], b["to"]) for b in bands], name="top probability"),
        )
    return Markdown(pipe_table(frame))


def devset_confusions_table(dev: dict | None) -> Markdown:
    """The default's largest confusions on the development set, as Markdown for a numbered ``{table}``:
    true -> said, the photos and their share of the true class's photos."""
    if dev is None:
        frame = pd.DataFrame(
            {"photos": [NOT_MEASURED], "share of the true class": [NOT_MEASURED]},
            index=pd.Index(["not measured"], name="true → said"),
        )
    else:
        frame = pd.DataFrame(
            {
                "photos": [f"{n:,}" for *_, n, _ in dev["confusions"]],
                "share of the true class": [f"{share:.0%}" for *_, share in dev["confusions"]],
            },
            index=pd.Index([f"{t} → {p}" for t, p, *_ in dev["confusions"]], name="true → said"),
        )
    return Markdown(pipe_table(frame))


# --------------------------------------------------------------------------- the chapter as written

CHAPTER = "photos"

# What the page's text says. The portrait and the development set are read the same way on any run (the
# shipped models, the library's default); the PrivateTest sentences are about real FER2013 only.
WRITTEN = {
    "method": "occlusion",  # the attribution method the page uses, Q4's recommendation
    "default": "ensemble",  # read_expressions' default model, an equal-weight ensemble of these:
    "members": ("fer_vgg", "fer_vgg_s_photo", "report_cnn", "simple_cnn"),
    "tuned_member": ("fer_vgg_s_photo", "fer_vgg_s"),  # the member fine-tuned for photos, and its origin
    "portrait": "happy",  # every shipped model reads the portrait's face as happy
    "dev_best": "happy",  # the highest recall on the development set
    "dev_worst": "disgust",  # the lowest
    "dev_worst_below": 0.05,  # "almost never"
    "dev_worst_second_below": 0.10,  # "not even a close second": among the two likeliest this rarely
    "dev_best_above": 0.85,  # "nearly always"
    "dev_accuracy": (0.4, 0.6),  # "about one photo in two"
    "dev_uneven": 0.05,  # the most-said class's share is over a seventh by more than this
    "dev_small": ("fear", 30),  # fear has fewer than this many photos: "a rough sign only"
    "sure_right_above": 0.9,  # an answer given the top band's probability is right this often or more
    "unsure_right_below": 0.5,  # one given the lowest band's is "wrong more often than right"
    "sure_mostly": "happy",  # most of the top band's answers say this class; the others are right as often
    "dev_below_privatetest": True,  # the default reads the photos worse than any model reads PrivateTest
    "pt_worst": "fear",  # on PrivateTest every model's lowest recall
    "pt_best": "happy",  # and its highest
}


def check_method(method: str, said: dict = WRITTEN) -> None:
    """Hold the page's choice to the saliency chapter's: the page explains with the method Q4 recommends
    (``q4_saliency.RECOMMENDED_METHOD``, which Q4 holds to its own run). The Q4 numbers the text quotes
    are glued from Q4's notebook, not typed here."""
    from .claims import hold
    from .q4_saliency import RECOMMENDED_METHOD

    hold(method == said["method"], CHAPTER, f"the page explains with {said['method']}", method)
    hold(
        said["method"] == RECOMMENDED_METHOD,
        CHAPTER,
        f"{said['method']} is the method the saliency chapter recommends",
        f"that it recommends {RECOMMENDED_METHOD}",
    )


def check_portrait(reading: PhotoReading, said: dict = WRITTEN) -> None:
    """Hold the text's reading of the portrait: one face, which every shipped model reads as ``portrait``."""
    from .claims import hold

    frame = readings_frame(reading)
    hold(
        len(reading.faces) == 1,
        CHAPTER,
        "the detector finds one face in the portrait",
        f"{len(reading.faces)}",
    )
    said_by = {name: row.idxmax() for name, row in frame.iterrows()}
    hold(
        set(said_by.values()) == {said["portrait"]},
        CHAPTER,
        f"every shipped model reads the portrait as {said['portrait']}",
        f"{said_by}",
    )


def check_devset(dev: dict, pt_accuracies: list[float], said: dict = WRITTEN) -> None:
    """Hold the text's sentences about the development set: the default model, the best and worst classes
    and how far apart, the worst class seldom even second, the accuracy's size, the answers' sureness
    (``check_sureness``), fear's few photos, and the gap to PrivateTest."""
    from fer_lib.pretrained import DEFAULT_MODEL

    from .claims import hold

    recall = dev["recall"]
    ranked = sorted(recall, key=recall.get)
    hold(DEFAULT_MODEL == said["default"], CHAPTER, f"the default is the {said['default']}", DEFAULT_MODEL)
    hold(
        ranked[-1] == said["dev_best"] and recall[ranked[-1]] > said["dev_best_above"],
        CHAPTER,
        f"the default reads {said['dev_best']} photos best, nearly always",
        f"{ranked[-1]} at {recall[ranked[-1]]:.2f}",
    )
    hold(
        ranked[0] == said["dev_worst"] and recall[ranked[0]] < said["dev_worst_below"],
        CHAPTER,
        f"the default almost never recognises {said['dev_worst']}, the lowest recall",
        f"{ranked[0]} at {recall[ranked[0]]:.2f}",
    )
    worst = said["dev_worst"]
    second = dev["second"][worst]
    hold(
        second is not None and second < said["dev_worst_second_below"],
        CHAPTER,
        f"{worst} is seldom even among the default's two likeliest classes for the set's {worst} photos",
        _two(second),
    )
    low, high = said["dev_accuracy"]
    hold(
        low <= dev["accuracy"] <= high,
        CHAPTER,
        "the default reads about one photo in two right",
        f"{dev['accuracy']:.3f}",
    )
    hold(
        dev["most_said_share"] > 1 / len(CLASSES) + said["dev_uneven"],
        CHAPTER,
        "the default's answers are spread unevenly, one class taking well over a seventh of them",
        f"{dev['most_said']} at {dev['most_said_share']:.0%}",
    )
    check_sureness(dev, said)
    small, most = said["dev_small"]
    hold(dev["support"][small] < most, CHAPTER, f"{small} has few photos", f"{dev['support'][small]}")
    if pt_accuracies:
        hold(
            (dev["accuracy"] < min(pt_accuracies)) == said["dev_below_privatetest"],
            CHAPTER,
            "the photos are read worse than any model reads PrivateTest",
            f"{dev['accuracy']:.3f} against {min(pt_accuracies):.3f}",
        )


def check_sureness(dev: dict, said: dict = WRITTEN) -> None:
    """Hold the text's sentences about the default's sureness on the development set: the surer, the more
    often right, band by band; the top band's share right, what most of its answers say and how the others
    fare; the lowest band's share right."""
    from .claims import hold

    bands = [b for b in dev["by_sureness"] if b["photos"]]
    right = [_right(b) for b in bands]
    hold(
        len(bands) == len(dev["by_sureness"]) and all(a < b for a, b in zip(right, right[1:])),
        CHAPTER,
        "the surer the default's answer, the more often it is right, band by band",
        ", ".join(f"{_band(b['from'], b['to'])}: {r:.2f}" for b, r in zip(bands, right)),
    )
    hold(
        right[-1] >= said["sure_right_above"],
        CHAPTER,
        f"an answer in the top band is right {said['sure_right_above']:.0%} of the time or more",
        f"{right[-1]:.2f}",
    )
    hold(
        right[0] < said["unsure_right_below"],
        CHAPTER,
        "an answer in the lowest band is wrong more often than right",
        f"{right[0]:.2f}",
    )
    mostly, top = said["sure_mostly"], dev["by_sureness"][-1]
    others, others_right = _others(top, mostly)
    hold(
        2 * top["said"][mostly][0] > top["photos"]
        and others > 0
        and others_right >= said["sure_right_above"],
        CHAPTER,
        f"most of the top band's answers are {mostly}, and the others are right "
        f"{said['sure_right_above']:.0%} of the time or more too",
        f"{top['said'][mostly][0]} of {top['photos']}; the others {others_right:.2f} of {others}",
    )


def check_members(said: dict = WRITTEN) -> None:
    """Hold the text's account of the default ensemble: its members, with equal weights, one of them the
    fine-tune of another shipped model that the text names."""
    from fer_lib.pretrained import ENSEMBLE_WEIGHTS, fine_tuned_from

    from .claims import hold

    weights = {n: w for n, w in ENSEMBLE_WEIGHTS.items() if w > 0}
    hold(
        sorted(weights) == sorted(said["members"]) and len(set(weights.values())) == 1,
        CHAPTER,
        f"the default weighs {', '.join(said['members'])} equally",
        f"{weights}",
    )
    tuned, origin = said["tuned_member"]
    hold(
        fine_tuned_from(tuned) == origin,
        CHAPTER,
        f"{tuned} is {origin} fine-tuned",
        f"{tuned} starts from {fine_tuned_from(tuned)}",
    )


def check_privatetest(results: dict[str, dict], counts: dict[str, int], said: dict = WRITTEN) -> None:
    """Hold the text's sentences about PrivateTest: each model's lowest and highest recall, and that the
    lowest class has about as many Training faces as angry (within a tenth)."""
    from .claims import hold

    worst, angry = counts[said["pt_worst"]], counts["angry"]
    hold(
        abs(worst - angry) < 0.1 * max(worst, angry),
        CHAPTER,
        f"{said['pt_worst']} has about as many Training faces as angry",
        f"{worst:,} and {angry:,}",
    )

    for name, r in results.items():
        recall = {c: m["recall"] for c, m in r["per_class"].items()}
        ranked = sorted(recall, key=recall.get)
        hold(
            (ranked[0], ranked[-1]) == (said["pt_worst"], said["pt_best"]),
            CHAPTER,
            f"{name} recognises {said['pt_worst']} worst and {said['pt_best']} best on PrivateTest",
            f"{ranked[0]} and {ranked[-1]}",
        )


def _edges() -> dict[str, str]:
    """The probabilities the text names as the lowest band's top and the top band's bottom: the scoring's
    own edges, known with or without the development set."""
    from .devset import SURE_EDGES

    return {"ph_dev_unsure_edge": f"{SURE_EDGES[0]:.1f}", "ph_dev_sure_edge": f"{SURE_EDGES[-1]:.1f}"}


def _two(value: float | None) -> str:
    """A share to two decimals, "–" where there was nothing to count."""
    return NOT_MEASURED if value is None else f"{value:.2f}"


def _others(band: dict, cls: str) -> tuple[int, float]:
    """The answers in a band of the top probability that do not say ``cls``, and their share right."""
    n = band["photos"] - band["said"][cls][0]
    return n, (band["right"] - band["said"][cls][1]) / max(n, 1)


def _span(values: list[float], fmt: str = "{:.2f}") -> tuple[str, str]:
    """The lowest and highest of ``values``, formatted."""
    return fmt.format(min(values)), fmt.format(max(values))


def devset_values(dev: dict | None) -> dict[str, str]:
    """The development set's numbers the text reads, by glue name; "–" each where it was not measured."""
    if dev is None:
        names = ["n", "acc", "bal", "no_face", "no_face_share", "most_said_share", "fear_n", "disgust_n"]
        names += ["second_disgust", "disgust_found", "sure_share", "sure_right", "sure_mostly_n"]
        names += ["sure_others_n", "sure_others_right", "unsure_share", "unsure_right"]
        names += [f"recall_{c}" for c in CLASSES]
        status = (
            "The development set was not available to this run: its numbers below were not measured, and "
            "the sentences about them were not checked."
        )
        return {f"ph_dev_{k}": NOT_MEASURED for k in names} | _edges() | {"ph_dev_status": status}
    said = dev["most_said_share"]
    values = {
        "ph_dev_status": "These numbers were measured when this page was built; a run that would turn one "
        "of the sentences about them false stops with an error.",
        "ph_dev_n": f"{dev['n']:,}",
        "ph_dev_acc": f"{dev['accuracy']:.2f}",
        "ph_dev_bal": f"{dev['balanced_accuracy']:.2f}",
        "ph_dev_no_face": f"{dev['no_face']:,}",
        "ph_dev_no_face_share": f"{dev['no_face'] / max(dev['n'], 1):.0%}",
        "ph_dev_most_said_share": f"{said:.0%}",
        "ph_dev_fear_n": f"{dev['support']['fear']:,}",
        "ph_dev_disgust_n": f"{dev['support']['disgust']:,}",
        "ph_dev_second_disgust": _two(dev["second"]["disgust"]),
        "ph_dev_disgust_found": f"{dev['support']['disgust'] - dev['no_face_per_class']['disgust']:,}",
    }
    bands = dev["by_sureness"]
    for name, b in (("unsure", bands[0]), ("sure", bands[-1])):
        values[f"ph_dev_{name}_share"] = _share(b, bands)
        values[f"ph_dev_{name}_right"] = _two(_right(b))
    values |= _edges()
    others, others_right = _others(bands[-1], WRITTEN["sure_mostly"])
    values["ph_dev_sure_mostly_n"] = f"{bands[-1]['said'][WRITTEN['sure_mostly']][0]:,}"
    values["ph_dev_sure_others_n"] = f"{others:,}"
    values["ph_dev_sure_others_right"] = _two(others_right if others else None)
    return values | {f"ph_dev_recall_{c}": f"{r:.2f}" for c, r in dev["recall"].items()}


def chapter_values(
    reading: PhotoReading,
    results: dict[str, dict],
    data: FerData,
    model_name: str,
    method: str,
    dev: dict | None,
    checked: bool = True,
) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name, after its sentences have been held to this run:
    the portrait's reading and the method always, the development set's where it was measured, and
    PrivateTest's where ``checked`` (the data is the real FER2013, ``fer_report.claims.apply_to``)."""
    check_method(method)
    check_members()
    check_portrait(reading)
    accuracies = [r["accuracy"] for r in results.values()]
    if dev is not None:
        check_devset(dev, accuracies if checked else [])
    counts = data.counts()["Training"]
    if checked:
        check_privatetest(results, counts)
    recall = {c: [r["per_class"][c]["recall"] for r in results.values()] for c in CLASSES}
    top = [r[0][WRITTEN["portrait"]] for r in reading.readings.values() if r]
    values = {
        "ph_model": model_name,
        "ph_method": method.replace("_", " "),
        "ph_n_faces": f"{len(reading.faces)}",
        "ph_disgust_train_share": f"{counts['disgust'] / max(sum(counts.values()), 1):.1%}",
    }
    spans = {
        "portrait": top or [float("nan")],
        "pt_acc": accuracies,
        "pt_bal": [r["balanced_accuracy"] for r in results.values()],
        "pt_fear": recall["fear"],
        "pt_disgust": recall["disgust"],
        "pt_happy": recall["happy"],
    }
    for name, v in spans.items():
        values[f"ph_{name}_low"], values[f"ph_{name}_high"] = _span(v)
    return values | devset_values(dev)
