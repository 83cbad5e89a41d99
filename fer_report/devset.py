"""The development set of labelled photos (docs/DEVSET.md), read the way a user's photos are read.

The set is rebuilt on each machine by ``scripts/build_devset.py`` and never committed (its licence does
not cover the photos), so a chapter finds it through a parameter or ``$FER_DEVSET`` and runs without it.
Reading and scoring follow ``benchmarks/bench_photos.py``: the largest face of each photo, and a photo in
which no face is found counts as a wrong answer.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fer_lib.data import CLASSES
from fer_lib.errors import DataError

DEVSET_ENV = "FER_DEVSET"  # the folder benchmarks/bench_photos.py reads too
NO_FACE = len(CLASSES)  # the prediction of a photo without a face: wrong for every class
SURE_EDGES = (0.4, 0.6, 0.8)  # the bands of the top probability that ``score`` counts photos and answers in


def devset_folder(path: str = "") -> Path | None:
    """The development set's folder: ``path``, else ``$FER_DEVSET``; None where neither is given."""
    chosen = path or os.environ.get(DEVSET_ENV, "")
    return Path(chosen) if chosen else None


def read_devset(root: Path) -> tuple[list[Path], np.ndarray]:
    """The development set's photos and labels: from manifest.csv where present, else the class folders."""
    if not root.is_dir():
        raise DataError(f"the development set {root} is not a folder; build it with scripts/build_devset.py.")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [(root / r["file"], r["label"]) for r in csv.DictReader(fh)]
    else:
        rows = [(f, c) for c in CLASSES if (root / c).is_dir() for f in sorted((root / c).iterdir())]
    if not rows:
        raise DataError(f"{root} holds no photos in class folders ({', '.join(CLASSES)}).")
    bad = sorted({c for _, c in rows if c not in CLASSES})
    if bad:
        raise DataError(f"{manifest}: unknown labels {', '.join(bad)}; expected FER2013's seven classes.")
    return [p for p, _ in rows], np.array([CLASSES.index(c) for _, c in rows])


def default_reader() -> Callable[[Path], list]:
    """``read_expressions(path)`` with no options, its default model loaded once rather than per photo."""
    from fer_lib.photos import read_expressions
    from fer_lib.pretrained import DEFAULT_MODEL, load_model

    net = load_model(DEFAULT_MODEL)[0]
    return lambda path: read_expressions(path, net)


def read_photos(paths: list[Path], reader: Callable[[Path], list]) -> np.ndarray:
    """Each photo's class probabilities (N, 7) as ``reader`` gives them for its largest face; a row of NaN
    where no face was found."""
    out = np.full((len(paths), len(CLASSES)), np.nan)
    for i, path in enumerate(paths):
        faces = reader(path)
        if faces:
            face = max(faces, key=lambda f: f.box[2] * f.box[3])
            out[i] = [face.probabilities[c] for c in CLASSES]
    return out


def predictions(probs: np.ndarray) -> np.ndarray:
    """The class said for each photo, ``NO_FACE`` where its row is NaN."""
    found = ~np.isnan(probs).any(1)
    preds = np.full(len(probs), NO_FACE)
    preds[found] = probs[found].argmax(1)
    return preds


def score(probs: np.ndarray, labels: np.ndarray, top: int = 3) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class recall and photos, the most-said class and its share, the
    ``top`` largest confusions and the photos without a face; a photo without a face is a wrong answer.

    The photos with a face found are scored further: ``second``, each class's share of them whose class is
    among the two the model finds likeliest (None for a class with none); ``by_sureness``, for each band of
    the top probability (below ``SURE_EDGES[0]``, from each edge up to the next, and from the last edge
    up), the photos in it and the answers right, in all and by the class said (``said``: class ->
    [photos, right])."""
    preds = predictions(probs)
    found = preds != NO_FACE
    above = (probs[found] > probs[found, labels[found]][:, None]).sum(1)  # classes likelier than the true one
    in_two, truth = above <= 1, labels[found]
    band = np.digitize(probs[found].max(1), SURE_EDGES)
    said_found, right = preds[found], preds[found] == labels[found]
    edges = (0.0, *SURE_EDGES, 1.0)
    cm = np.zeros((len(CLASSES), len(CLASSES) + 1), int)  # the last column: no face found
    np.add.at(cm, (labels, preds), 1)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm[:, : len(CLASSES)]), support, out=np.zeros(len(CLASSES)), where=support > 0)
    said = np.bincount(preds, minlength=len(CLASSES) + 1)[: len(CLASSES)]
    off = cm[:, : len(CLASSES)].copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None, kind="stable")[::-1][:top]
    confusions = [
        (CLASSES[t], CLASSES[p], int(off[t, p]), float(off[t, p] / support[t]))
        for t, p in (divmod(int(i), len(CLASSES)) for i in order)
        if off[t, p] > 0
    ]
    return {
        "n": int(len(labels)),
        "no_face": int((preds == NO_FACE).sum()),
        "no_face_per_class": {c: int(n) for c, n in zip(CLASSES, cm[:, NO_FACE])},
        "accuracy": float((preds == labels).mean()),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "recall": {c: float(r) for c, r in zip(CLASSES, recall)},
        "support": {c: int(n) for c, n in zip(CLASSES, support)},
        "second": {
            c: float(in_two[truth == i].mean()) if (truth == i).any() else None for i, c in enumerate(CLASSES)
        },
        "by_sureness": [
            {
                "from": lo,
                "to": hi,
                "photos": int((band == b).sum()),
                "right": int(right[band == b].sum()),
                "said": {
                    c: [
                        int(((band == b) & (said_found == i)).sum()),
                        int(right[(band == b) & (said_found == i)].sum()),
                    ]
                    for i, c in enumerate(CLASSES)
                },
            }
            for b, (lo, hi) in enumerate(zip(edges, edges[1:]))
        ],
        "most_said": CLASSES[int(said.argmax())],
        "most_said_share": float(said.max() / len(labels)),
        "confusions": confusions,
    }


def measure(path: str = "", reader: Callable[[Path], list] | None = None) -> dict[str, Any] | None:
    """The library's default read on the development set (``score``), or None where no set is given."""
    root = devset_folder(path)
    if root is None:
        return None
    paths, labels = read_devset(root)
    return score(read_photos(paths, reader or default_reader()), labels)
