"""How well the shipped models read real photos: the development set beside FER2013 PublicTest.

For every shipped model (and their equal-weight ensemble) and every variant in ``VARIANTS``, prints
on the development set (``scripts/build_devset.py``): accuracy, balanced accuracy, per-class recall,
the share of the most-said class and the most frequent confusions; and on PublicTest the accuracy
and balanced accuracy. Photos in which no face is found count as wrong.

``shipped`` is what ``fer_lib.photos.read_expressions(path, model)`` does today (Haar detection,
the largest face, no TTA); the script checks that it gives the same probabilities on a few photos.
The other variants are measurements only, none of them is in the library:

- ``whole photo``: the whole photo squeezed to 48x48 instead of the detected face;
- ``prior``: the probabilities divided by FER2013 Training's class frequencies raised to a power
  chosen on PublicTest's balanced accuracy (per model; never on the development set);
- ``flip``: the face and its mirror image averaged (``tta="flip"``);
- ``flip + prior``: both, the power chosen again on PublicTest with flip.

A further step is one more ``(name, function)`` pair in ``VARIANTS``: the function takes the
``Bench``, a model name (or ``ENSEMBLE``) and a split ("dev" or "PublicTest") and returns (N, 7)
probabilities, a row of NaN where no face was found, or None where it does not apply. The column
"vs shipped" counts the photos a variant gets right that the shipped behaviour gets wrong (+) and
the reverse (-); ``--json`` keeps every photo's prediction for such paired comparisons.

Usage: FER2013_CSV=... python benchmarks/bench_photos.py [DEVSET] [--json OUT.json]
(DEVSET defaults to $FER_DEVSET)
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fer_lib.data import CLASSES, load_fer2013
from fer_lib.errors import DataError, FerError
from fer_lib.evaluate import predict_logits_tta
from fer_lib.photos import locate_faces, read_expressions, whole_image_face
from fer_lib.pretrained import load_model, shipped_names

ENSEMBLE = "ensemble"
ALPHAS = np.round(np.arange(0.0, 2.0001, 0.05), 2)  # the powers of the class prior tried on PublicTest
NO_FACE = len(CLASSES)  # the prediction of a photo without a face: wrong for every class


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


class Bench:
    """The photos, PublicTest and the models, with every prediction computed once and kept."""

    def __init__(self, paths: list[Path], labels: np.ndarray, fer_csv: str | None) -> None:
        self.paths, self.labels = paths, labels
        default = inspect.signature(read_expressions).parameters["model"].default
        self.models = sorted(shipped_names(), key=lambda m: m != default)  # today's default first
        self._nets: dict[str, torch.nn.Module] = {}
        self._raw: dict[tuple[str, str, str], np.ndarray] = {}
        t0 = time.perf_counter()
        face, whole = [], []
        for p in paths:
            gray, faces = locate_faces(
                p
            )  # read_expressions' own defaults: detect (photos > 96 px), largest first
            face.append(faces[0].crop if faces else None)
            whole.append(whole_image_face(gray).crop)
        self.found = np.array([c is not None for c in face])
        blank = np.zeros_like(whole[0])
        self.face_crops = np.stack([c if c is not None else blank for c in face])
        self.whole_crops = np.stack(whole)
        self.detect_seconds = time.perf_counter() - t0
        self.public = self.prior = None
        if fer_csv:
            data = load_fer2013(fer_csv)
            self.public = data.split("PublicTest")
            counts = np.bincount(data.split("Training").labels, minlength=len(CLASSES))
            self.prior = counts / counts.sum()

    def net(self, name: str) -> torch.nn.Module:
        if name not in self._nets:
            self._nets[name] = load_model(name)[0]
        return self._nets[name]

    def raw(self, view: str, model: str, split: str) -> np.ndarray | None:
        """Softmax probabilities (N, 7) of one view ("face", "whole", "face_flip"), NaN rows where no face
        was found; the ensemble's are the mean of the shipped models'."""
        key = (view, model, split)
        if split == "PublicTest" and self.public is None:
            return None
        if key not in self._raw:
            if model == ENSEMBLE:
                self._raw[key] = np.mean([self.raw(view, m, split) for m in self.models], axis=0)
                return self._raw[key]
            if split == "PublicTest":
                if self.public is None:
                    return None
                images, mask = self.public.images, np.ones(len(self.public), bool)
            elif view == "whole":
                images, mask = self.whole_crops, np.ones(len(self.paths), bool)
            else:
                images, mask = self.face_crops, self.found
            ttas = ("none",) if view == "whole" and split == "dev" else ("none", "flip")
            out = predict_logits_tta(self.net(model), images, ttas)
            for tta, logits in out.items():
                probs = logits.softmax(1).numpy().astype(np.float64)
                probs[~mask] = np.nan
                base = "whole" if view == "whole" and split == "dev" else "face"
                self._raw[(base + ("_flip" if tta == "flip" else ""), model, split)] = probs
            if split == "PublicTest":  # PublicTest's faces are crops: taken whole, as read_expressions does
                self._raw[("whole", model, split)] = self._raw[("face", model, split)]
        return self._raw[key]

    def alpha(self, view: str, model: str) -> float | None:
        """The power of the class prior that maximises PublicTest's balanced accuracy (this model, view)."""
        probs = self.raw(view, model, "PublicTest")
        if probs is None:
            return None
        scores = [
            score(corrected(probs, self.prior, a), self.public.labels)["balanced_accuracy"] for a in ALPHAS
        ]
        return float(ALPHAS[int(np.argmax(scores))])  # the first best: the smallest correction


def corrected(probs: np.ndarray, prior: np.ndarray, alpha: float) -> np.ndarray:
    """Probabilities divided by prior**alpha and renormalised (NaN rows stay NaN)."""
    p = probs / prior**alpha
    return p / p.sum(1, keepdims=True)


# --------------------------------------------------------------------------- variants


def shipped(b: Bench, model: str, split: str) -> np.ndarray | None:
    return b.raw("face", model, split)


def whole_photo(b: Bench, model: str, split: str) -> np.ndarray | None:
    return b.raw("whole", model, split)


def _with_prior(view: str) -> Callable[[Bench, str, str], np.ndarray | None]:
    def variant(b: Bench, model: str, split: str) -> np.ndarray | None:
        a = b.alpha(view, model)
        return None if a is None else corrected(b.raw(view, model, split), b.prior, a)

    return variant


def flip(b: Bench, model: str, split: str) -> np.ndarray | None:
    return b.raw("face_flip", model, split)


VARIANTS: list[tuple[str, Callable[[Bench, str, str], np.ndarray | None]]] = [
    ("shipped", shipped),
    ("whole photo", whole_photo),
    ("prior", _with_prior("face")),
    ("flip", flip),
    ("flip + prior", _with_prior("face_flip")),
]
PRIOR_VIEW = {"prior": "face", "flip + prior": "face_flip"}  # for printing the chosen power


# --------------------------------------------------------------------------- scores


def predictions(probs: np.ndarray) -> np.ndarray:
    """The class said for each photo, ``NO_FACE`` where its row is NaN."""
    found = ~np.isnan(probs).any(1)
    preds = np.full(len(probs), NO_FACE)
    preds[found] = probs[found].argmax(1)
    return preds


def score(probs: np.ndarray, labels: np.ndarray, top: int = 3) -> dict:
    """Accuracy, balanced accuracy, per-class recall, the most-said class and the largest confusions; a NaN
    row (no face) is a wrong answer."""
    preds = predictions(probs)
    found = preds != NO_FACE
    cm = np.zeros((len(CLASSES), len(CLASSES) + 1), int)
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
        "no_face": int((~found).sum()),
        "accuracy": float((preds == labels).mean()),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "recall": {c: float(r) for c, r in zip(CLASSES, recall)},
        "most_said": CLASSES[int(said.argmax())],
        "most_said_share": float(said.max() / len(labels)),
        "confusions": confusions,
    }


def check_read_expressions(b: Bench, model: str, k: int = 5) -> float:
    """The largest difference between read_expressions' probabilities and the cached ones on the first k
    photos with a face."""
    worst = 0.0
    for i in np.flatnonzero(b.found)[:k]:
        faces = read_expressions(b.paths[i], model)
        mine = b.raw("face", model, "dev")[i]
        worst = max(worst, float(np.abs(np.array([faces[0].probabilities[c] for c in CLASSES]) - mine).max()))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("devset", nargs="?", default=os.environ.get("FER_DEVSET"), help="default: $FER_DEVSET")
    ap.add_argument("--json", type=Path, help="also write every number to this file")
    args = ap.parse_args()
    if not args.devset:
        print("bench_photos: error: give the development set's folder or set FER_DEVSET.", file=sys.stderr)
        return 2
    fer_csv = os.environ.get("FER2013_CSV")
    try:
        paths, labels = read_devset(Path(args.devset))
        b = Bench(paths, labels, fer_csv)
    except FerError as e:
        print(f"bench_photos: error: {e}", file=sys.stderr)
        return 2
    n_class = np.bincount(labels, minlength=len(CLASSES))
    missed = np.bincount(labels[~b.found], minlength=len(CLASSES))
    per_class = ", ".join(f"{c} {n}" for c, n in zip(CLASSES, n_class))
    print(f"development set: {args.devset}, {len(paths)} photos ({per_class})")
    per_class = ", ".join(f"{c} {n}" for c, n in zip(CLASSES, missed))
    print(
        f"no face found in {int((~b.found).sum())} photos ({per_class}), counted wrong; "
        f"detection took {b.detect_seconds:.0f} s."
    )
    if b.public is None:
        print("FER2013_CSV is not set: no PublicTest column, no prior correction.")
    else:
        print(
            f"PublicTest: {len(b.public)} faces; Training's class frequencies: "
            + ", ".join(f"{c} {p:.3f}" for c, p in zip(CLASSES, b.prior))
        )
    print(f"torch threads: {torch.get_num_threads()}")
    t0 = time.perf_counter()
    models = [*b.models, ENSEMBLE]
    results = []
    for vname, fn in VARIANTS:
        for m in models:
            dev = fn(b, m, "dev")
            if dev is None:
                continue
            pt = fn(b, m, "PublicTest")
            row = {"variant": vname, "model": m, "dev": score(dev, labels)}
            right = predictions(dev) == labels
            base = predictions(shipped(b, m, "dev")) == labels
            row["fixed"], row["broken"] = int((right & ~base).sum()), int((base & ~right).sum())
            row["dev_predictions"] = predictions(dev).tolist()
            if pt is not None:
                row["PublicTest"] = {k: v for k, v in score(pt, b.public.labels).items() if k != "confusions"}
            if vname in PRIOR_VIEW:
                row["alpha"] = b.alpha(PRIOR_VIEW[vname], m)
            results.append(row)
    diff = check_read_expressions(b, b.models[0])
    print(
        f"predictions took {time.perf_counter() - t0:.0f} s; read_expressions('{b.models[0]}') on 5 photos "
        f"differs from 'shipped' by at most {diff:.1e}"
    )
    head = (
        f"\n{'variant':<13} {'model':<11} {'acc':>5} {'bal':>5}  {'most said':<15}"
        + "".join(f" {c[:5]:>5}" for c in CLASSES)
        + f"  {'vs shipped':>10}  {'PT acc':>6} {'PT bal':>6}  alpha"
    )
    print(head)
    print("-" * (len(head) - 1))
    for r in results:
        d, pt = r["dev"], r.get("PublicTest")
        print(
            f"{r['variant']:<13} {r['model']:<11} {d['accuracy']:>5.3f} {d['balanced_accuracy']:>5.3f}  "
            f"{d['most_said']:<8} {d['most_said_share']:>5.2f} "
            + "".join(f" {d['recall'][c]:>5.2f}" for c in CLASSES)
            + f"  {'+' + str(r['fixed']) + '/-' + str(r['broken']):>10}"
            + (f"  {pt['accuracy']:>6.3f} {pt['balanced_accuracy']:>6.3f}" if pt else f"  {'-':>6} {'-':>6}")
            + (f"  {r['alpha']:.2f}" if r.get("alpha") is not None else "")
        )
    print(
        f"\non the {int(b.found.sum())} photos where a face was found: accuracy of the face / the whole photo"
    )
    for m in models:
        face, whole = (predictions(b.raw(v, m, "dev"))[b.found] == labels[b.found] for v in ("face", "whole"))
        print(f"  {m:<11} {face.mean():.3f} / {whole.mean():.3f}")
    print("\nmost frequent confusions on the development set (true -> said: photos, share of the true class)")
    for r in results:
        conf = "; ".join(f"{t} -> {p}: {n} ({s:.0%})" for t, p, n, s in r["dev"]["confusions"])
        print(f"{r['variant']:<13} {r['model']:<11} {conf}")
    if args.json:
        files = [str(p.relative_to(args.devset)) for p in paths]
        doc = {"devset": str(args.devset), "files": files, "labels": labels.tolist(), "results": results}
        args.json.write_text(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
