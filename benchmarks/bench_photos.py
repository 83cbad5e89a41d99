"""How well the shipped models read real photos: the development set beside FER2013 PublicTest.

For every shipped model, the library's default ensemble and every variant in ``VARIANTS``, prints on
the development set (``scripts/build_devset.py``): accuracy, balanced accuracy, per-class recall,
the share of the most-said class and the most frequent confusions; and on PublicTest the accuracy
and balanced accuracy. Photos in which no face is found count as wrong.

``shipped`` is what ``read_expressions(path, "report_cnn")`` did before the steps below were kept (one
Haar search, the largest face, no TTA). Each further variant is one step on the crops or the
probabilities, on top of the last one kept:

- ``whole photo``: the whole photo squeezed to 48x48 instead of the detected face (a reference);
- ``+ padded``: the library's second, padded face search where the first finds none;
- ``+ level``: the crop turned to level the eyes, which is what ``read_expressions`` does now;
- ``+ equalised``, ``+ CLAHE``, ``+ mean/std``: photometric steps on every crop, PublicTest's too;
- ``+ flip``: the face and its mirror image averaged;
- ``+ flip + prior``: probabilities divided by FER2013 Training's class frequencies to a power chosen on
  PublicTest's balanced accuracy (never on the development set), on top of flip.

Measured after the ensemble became the default, each on top of ``+ level`` (the default's crops, no TTA):

- ``+ prior``: the class-prior correction (``fer_lib.photos.prior_corrected``), power chosen on PublicTest;
- ``+ profile``: a third search, for a face in profile, where the frontal ones find none (``profile_faces``);
- ``+ profile + prior``: both;
- ``+ whole if none``: the whole photo read as the face where no face is found;
- ``+ ten-crop``: ten-crop TTA, on the development set only (``--public-tencrop`` adds PublicTest).

The column "lowest" is the lowest per-class recall; the issue's bar for posed photos is 0.30, with the
most-said class at most 25% of the photos.

Each is printed for every shipped model, the library's ``ensemble`` (``ENSEMBLE_WEIGHTS``) and an
ensemble weighted by the grid point that PublicTest's balanced accuracy prefers. The script checks that
``read_expressions(path)`` with no options gives the probabilities of ``DEFAULT`` on a few photos;
``--private`` prints PrivateTest for the final choice only, and ``--cache`` keeps the crops between runs
(a cache it wrote for other photos or another fer_lib/faces.py is replaced; any other file is refused).

A further step is one more ``(name, function)`` pair in ``VARIANTS``: the function takes the
``Bench``, a model name (or ``ENSEMBLE``) and a split ("dev" or "PublicTest") and returns (N, 7)
probabilities, a row of NaN where no face was found, or None where it does not apply. The column
"vs shipped" counts the photos a variant gets right that the shipped behaviour gets wrong (+) and
the reverse (-); ``--json`` keeps every photo's prediction for such paired comparisons.

Usage: FER2013_CSV=... python benchmarks/bench_photos.py [DEVSET] [--json OUT [--force]] [--cache C.npz]
       [--private] [--variants "+ level,+ prior"] [--public-tencrop]
(DEVSET defaults to $FER_DEVSET)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fer_lib import faces as faces_module
from fer_lib.checks import output_file
from fer_lib.data import CLASSES, load_fer2013
from fer_lib.errors import FerError
from fer_lib.evaluate import predict_logits_tta
from fer_lib.faces import crop_face, detect_faces, find_faces, to_gray
from fer_lib.files import write_text
from fer_lib.photos import CROP_MAX, prior_corrected, read_expressions, whole_image_face
from fer_lib.pretrained import DEFAULT_MODEL, ENSEMBLE_WEIGHTS, PRIOR_ALPHA, load_model, shipped_names
from fer_report.devset import predictions, read_devset, score  # read and scored as the photos chapter does

BEFORE_MODEL = "report_cnn"  # the default model before the default was chosen on these photos
# the library's ensemble (fer_lib.pretrained.ENSEMBLE_WEIGHTS: equal weights), and one weighted by the grid
# point that PublicTest's balanced accuracy prefers
ENSEMBLE, WEIGHTED = "ensemble", "PT-weighted"
ENSEMBLES = (ENSEMBLE, WEIGHTED)
# the crops compared: the shipped detection's face (one search), with the padded second search, with the
# eyes levelled, the whole photo squeezed to 48x48, the level crop with a third search for a face in profile
# where the frontal ones find none (``profile``), and the level crop or, where no face is found, the whole
# photo (``fallback``)
VIEWS = ("face", "padded", "level", "whole", "profile", "fallback")


def _cv2_each(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda images: np.stack([fn(np.ascontiguousarray(i)) for i in images]) if len(images) else images


def _mean_std(images: np.ndarray) -> np.ndarray:
    """Each face's mean and spread set to FER2013 Training's average per face (129.5 and 54.1)."""
    f = images.astype(np.float64)
    m, s = f.mean((1, 2), keepdims=True), f.std((1, 2), keepdims=True) + 1e-6
    return np.clip(np.rint((f - m) / s * 54.1 + 129.5), 0, 255).astype(np.uint8)


def _light() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    cv2 = faces_module.opencv()
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
    return {
        "none": lambda images: images,
        "equalised": _cv2_each(cv2.equalizeHist),
        "clahe": _cv2_each(clahe.apply),
        "mean/std": _mean_std,
    }


LIGHT = _light()  # the photometric steps, applied to every crop (the photos' and PublicTest's alike)
ALPHAS = np.round(np.arange(0.0, 2.0001, 0.05), 2)  # the powers of the class prior tried on PublicTest


class Bench:
    """The photos, PublicTest and the models, with every crop and prediction computed once and kept."""

    def __init__(
        self, paths: list[Path], labels: np.ndarray, fer_csv: str | None, cache: Path | None = None
    ) -> None:
        self.paths, self.labels = paths, labels
        self.models = sorted(shipped_names(), key=lambda m: m != BEFORE_MODEL)  # the old default first
        self._nets: dict[str, torch.nn.Module] = {}
        self._raw: dict[tuple, np.ndarray] = {}
        t0 = time.perf_counter()
        self.crops, self.found = faces_of(paths, cache)
        self.detect_seconds = time.perf_counter() - t0
        self.public = self.prior = None
        self.fer: dict = {}  # FER2013's test splits by name
        self.public_tencrop = False  # whether ten-crop is run on PublicTest too (``_dev_only``)
        if fer_csv:
            data = load_fer2013(fer_csv)
            self.fer = {split: data.split(split) for split in ("PublicTest", "PrivateTest")}
            self.public = self.fer["PublicTest"]
            counts = np.bincount(data.split("Training").labels, minlength=len(CLASSES))
            self.prior = counts / counts.sum()

    def add_model(self, name: str, model: torch.nn.Module) -> None:
        """A model of the caller's (a study's run, say) measured under ``name`` like the shipped ones."""
        if name in self._nets or name in ENSEMBLES:
            raise ValueError(f"'{name}' is already a model of this benchmark")
        self._nets[name] = model

    def net(self, name: str) -> torch.nn.Module:
        if name not in self._nets:
            self._nets[name] = load_model(name)[0]
        return self._nets[name]

    def raw(
        self, view: str, model: str, split: str, light: str = "none", tta: str = "none"
    ) -> np.ndarray | None:
        """Softmax probabilities (N, 7) of one face view (``VIEWS``) under one photometric step (``LIGHT``)
        and TTA mode, NaN rows where no face was found; an ensemble's are its members' weighted mean."""
        if split != "dev":
            if split not in self.fer:
                return None
            view = "face"  # FER2013's faces are crops already: every view takes them whole
        key = (view, model, split, light, tta)
        if key not in self._raw:
            if model in ENSEMBLES:
                w = self.weights(model, light, tta)
                self._raw[key] = sum(w[m] * self.raw(view, m, split, light, tta) for m in self.models if w[m])
                return self._raw[key]
            images = self.fer[split].images if split != "dev" else self.crops[view]
            mask = np.ones(len(images), bool) if split != "dev" else self.found[view]
            ttas = ("tencrop",) if tta == "tencrop" else ("none", "flip")  # ten views: only where asked
            out = predict_logits_tta(self.net(model), LIGHT[light](images), ttas, engine="auto")
            for t, logits in out.items():
                probs = logits.softmax(1).numpy().astype(np.float64)
                probs[~mask] = np.nan
                self._raw[(view, model, split, light, t)] = probs
        return self._raw[key]

    def weights(self, ensemble: str, light: str = "none", tta: str = "none") -> dict[str, float]:
        """An ensemble's weights: the library's, or the grid point (tenths) that maximises PublicTest's
        balanced accuracy (the library's where FER2013 is not given)."""
        if ensemble == ENSEMBLE or self.public is None:
            total = sum(ENSEMBLE_WEIGHTS.get(m, 0.0) for m in self.models)  # a model outside it weighs 0
            return {m: ENSEMBLE_WEIGHTS.get(m, 0.0) / total for m in self.models}
        pt = {m: self.raw("face", m, "PublicTest", light, tta) for m in self.models}
        grid = [w for w in itertools.product(range(11), repeat=len(self.models)) if sum(w) == 10]
        best = max(
            grid,
            key=lambda w: score(sum(wi * pt[m] for wi, m in zip(w, self.models)) / 10, self.public.labels)[
                "balanced_accuracy"
            ],
        )  # max keeps the first best
        return {m: wi / 10 for wi, m in zip(best, self.models)}

    def alpha(self, probs_public: np.ndarray) -> float | None:
        """The class prior's power that gives PublicTest's probabilities their best balanced accuracy."""
        scores = [
            score(corrected(probs_public, self.prior, a), self.public.labels)["balanced_accuracy"]
            for a in ALPHAS
        ]
        return float(ALPHAS[int(np.argmax(scores))])  # the first best: the smallest correction


def faces_of(paths: list[Path], cache: Path | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each photo's crop in every view of ``VIEWS`` ((N, 48, 48), blank where no face) and where a face was
    found, the largest face of each photo; read from ``cache`` (.npz) where it holds these photos' crops
    made by this fer_lib/faces.py, else computed and written there."""
    stamp = hashlib.sha256(
        Path(faces_module.__file__).read_bytes() + "\n".join([*VIEWS, *map(str, paths)]).encode()
    ).hexdigest()
    if cache is not None and cache.suffix != ".npz":  # numpy would add the ending and write another file
        raise FerError(f"--cache {cache}: give a file name ending in .npz.")
    if cache is not None and cache.exists():
        keys = ["stamp", *(f"{k}_{v}" for k in ("crop", "found") for v in VIEWS)]
        try:
            z = np.load(cache)  # an .npz archive, or whatever else the file holds
            mine = isinstance(z, np.lib.npyio.NpzFile) and all(k in z.files for k in keys)
            kept = {k: z[k] for k in keys} if mine else {}
            if isinstance(z, np.lib.npyio.NpzFile):
                z.close()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # empty, cut short, or not numpy's
            mine = False
        if not mine:  # a stale cache of this benchmark is replaced; any other file is left alone
            raise FerError(f"--cache {cache} is not a crop cache written by this benchmark; name a new file.")
        if str(kept["stamp"]) == stamp:
            return {v: kept[f"crop_{v}"] for v in VIEWS}, {v: kept[f"found_{v}"] for v in VIEWS}
    crops: dict[str, list] = {v: [] for v in VIEWS}
    for p in paths:
        gray = to_gray(p)
        whole = whole_image_face(gray).crop
        # read_expressions' own path (detect in photos > 96 px, eyes level), frontal searches only
        faces = find_faces(gray, profile=False) if max(gray.shape) > CROP_MAX else []
        if faces:
            big = max(faces, key=lambda f: f.box[2] * f.box[3])
            before = detect_faces(gray, pad=0)  # the shipped search: no second, padded one
            old = max(before, key=lambda b: b[2] * b[3]) if before else None
            crops["face"].append(crop_face(gray, old) if old else None)
            crops["padded"].append(crop_face(gray, big.box))
            for v in ("level", "profile", "fallback"):
                crops[v].append(big.crop)
        elif max(gray.shape) <= CROP_MAX:  # a crop taken whole
            for v in ("face", "padded", "level", "profile", "fallback"):
                crops[v].append(whole)
        else:  # no frontal face found: the third search, for a face in profile
            for v in ("face", "padded", "level"):
                crops[v].append(None)
            side = find_faces(gray, profile=True)
            crops["profile"].append(max(side, key=lambda f: f.box[2] * f.box[3]).crop if side else None)
            crops["fallback"].append(whole)
        crops["whole"].append(whole)
    blank = np.zeros((48, 48), np.uint8)
    found = {v: np.array([c is not None for c in cs]) for v, cs in crops.items()}
    arrays = {v: np.stack([c if c is not None else blank for c in cs]) for v, cs in crops.items()}
    if cache is not None:
        np.savez_compressed(
            cache,
            stamp=stamp,
            **{f"crop_{v}": a for v, a in arrays.items()},
            **{f"found_{v}": f for v, f in found.items()},
        )
    return arrays, found


def corrected(probs: np.ndarray, prior: np.ndarray, alpha: float) -> np.ndarray:
    """The library's correction (``prior_corrected``): probabilities divided by prior**alpha, renormalised."""
    return prior_corrected(probs, alpha, prior)


# --------------------------------------------------------------------------- variants


def _step(
    view: str, light: str = "none", tta: str = "none"
) -> Callable[[Bench, str, str], np.ndarray | None]:
    def variant(b: Bench, model: str, split: str) -> np.ndarray | None:
        return b.raw(view, model, split, light, tta)

    return variant


def _with_prior(view: str, light: str, tta: str) -> Callable[[Bench, str, str], np.ndarray | None]:
    def variant(b: Bench, model: str, split: str) -> np.ndarray | None:
        if b.public is None:
            return None
        a = b.alpha(b.raw(view, model, "PublicTest", light, tta))
        return corrected(b.raw(view, model, split, light, tta), b.prior, a)

    variant.setting = (view, light, tta)  # where main finds the power that was chosen
    return variant


def _dev_only(view: str, tta: str) -> Callable[[Bench, str, str], np.ndarray | None]:
    """A step measured on the development set first (ten-crop costs ten passes a face): PublicTest only with
    ``--public-tencrop``, once it has paid on the photos."""

    def variant(b: Bench, model: str, split: str) -> np.ndarray | None:
        if split != "dev" and not b.public_tencrop:
            return None
        return b.raw(view, model, split, "none", tta)

    return variant


def _log_mean(view: str) -> Callable[[Bench, str, str], np.ndarray | None]:
    """An ensemble whose members' log-probabilities are averaged (a weighted geometric mean, renormalised)
    instead of their probabilities: a member sure of one class can no longer outvote the others' doubt.
    Ensembles only (no row for a single model, which would read as it does in ``view``), with the weights
    ``Bench.weights`` gives each (the PublicTest-weighted one keeps the weights chosen for the plain mean)."""

    def variant(b: Bench, model: str, split: str) -> np.ndarray | None:
        if model not in ENSEMBLES or (split != "dev" and b.public is None):
            return None
        w = b.weights(model)
        logs = sum(w[m] * np.log(np.maximum(b.raw(view, m, split), 1e-12)) for m in b.models if w[m])
        probs = np.exp(logs - logs.max(axis=1, keepdims=True))  # NaN rows (no face) stay NaN
        return probs / probs.sum(axis=1, keepdims=True)

    return variant


shipped = _step("face")

# the steps, each on top of the last one kept (docs/DEVSET.md says which were kept and why)
VARIANTS: list[tuple[str, Callable[[Bench, str, str], np.ndarray | None]]] = [
    ("shipped", shipped),
    ("whole photo", _step("whole")),
    ("+ padded", _step("padded")),
    ("+ level", _step("level")),
    ("+ equalised", _step("level", "equalised")),
    ("+ CLAHE", _step("level", "clahe")),
    ("+ mean/std", _step("level", "mean/std")),
    ("+ flip", _step("level", "none", "flip")),
    ("+ flip + prior", _with_prior("level", "none", "flip")),
    # measured after the ensemble became the default (docs/DEVSET.md): each on top of "+ level"
    ("+ prior", _with_prior("level", "none", "none")),
    ("+ profile", _step("profile")),
    ("+ profile + prior", _with_prior("profile", "none", "none")),
    ("+ whole if none", _step("fallback")),
    ("+ ten-crop", _dev_only("level", "tencrop")),
    ("+ log mean", _log_mean("level")),
]
DEFAULT = ("+ level", DEFAULT_MODEL)  # what read_expressions does with no options: checked on 5 photos


# --------------------------------------------------------------------------- scores


def check_read_expressions(b: Bench, k: int = 5) -> float:
    """The largest difference between read_expressions' probabilities with no options and the cached ones of
    ``DEFAULT`` on the first k photos with a face."""
    fn = dict(VARIANTS)[DEFAULT[0]]
    mine_all = fn(b, DEFAULT[1], "dev")
    worst = 0.0
    for i in np.flatnonzero(b.found["level"])[:k]:
        faces = read_expressions(b.paths[i])
        face = max(faces, key=lambda f: f.box[2] * f.box[3])
        theirs = np.array([face.probabilities[c] for c in CLASSES])
        worst = max(worst, float(np.abs(theirs - mine_all[i]).max()))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("devset", nargs="?", default=os.environ.get("FER_DEVSET"), help="default: $FER_DEVSET")
    ap.add_argument("--json", type=Path, help="also write every number to this file")
    ap.add_argument("--force", action="store_true", help="replace the --json file if it exists")
    ap.add_argument("--cache", type=Path, help="an .npz file that keeps the photos' crops between runs")
    ap.add_argument(
        "--private",
        action="store_true",
        help="also print PrivateTest for the default's step (only to check the final choice)",
    )
    ap.add_argument(
        "--variants",
        help="only these variants, comma-separated (shipped is always measured: the others pair with it)",
    )
    ap.add_argument(
        "--public-tencrop", action="store_true", help="also run ten-crop on PublicTest (40 passes a face)"
    )
    args = ap.parse_args()
    names = [n for n, _ in VARIANTS]
    chosen = names if not args.variants else ["shipped", *(v.strip() for v in args.variants.split(","))]
    unknown = [v for v in chosen if v not in names]
    if unknown:
        print(f"bench_photos: error: --variants: unknown {unknown}; known: {names}.", file=sys.stderr)
        return 2
    if not args.devset:
        print("bench_photos: error: give the development set's folder or set FER_DEVSET.", file=sys.stderr)
        return 2
    fer_csv = os.environ.get("FER2013_CSV")
    try:
        if args.json is not None:  # refused before the work, not after it
            output_file(args.json, (".json",), "--json", force=args.force)
        paths, labels = read_devset(Path(args.devset))
        b = Bench(paths, labels, fer_csv, args.cache)
        b.public_tencrop = args.public_tencrop
    except FerError as e:
        print(f"bench_photos: error: {e}", file=sys.stderr)
        return 2
    n_class = np.bincount(labels, minlength=len(CLASSES))
    missed = np.bincount(labels[~b.found["face"]], minlength=len(CLASSES))
    per_class = ", ".join(f"{c} {n}" for c, n in zip(CLASSES, n_class))
    print(f"development set: {args.devset}, {len(paths)} photos ({per_class})")
    per_class = ", ".join(f"{c} {n}" for c, n in zip(CLASSES, missed))
    print(
        f"no face found by the shipped search in {int((~b.found['face']).sum())} photos ({per_class}), "
        f"by the padded second search in {int((~b.found['padded']).sum())}; counted wrong; "
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
    models = [*b.models, *ENSEMBLES]
    results = []
    for vname, fn in VARIANTS:
        if vname not in chosen:
            continue
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
            if hasattr(fn, "setting") and b.public is not None:
                view, light, tta = fn.setting
                row["alpha"] = b.alpha(b.raw(view, m, "PublicTest", light, tta))
            results.append(row)
    diff = check_read_expressions(b)
    print(
        f"predictions took {time.perf_counter() - t0:.0f} s; read_expressions(photo) on 5 photos differs "
        f"from '{DEFAULT[0]}' with {DEFAULT[1]} by at most {diff:.1e}"
    )
    for light, tta in (("none", "none"), ("none", "flip")):
        w = b.weights(WEIGHTED, light, tta)
        print(f"weights chosen on PublicTest ({tta}): " + ", ".join(f"{m} {v:.2f}" for m, v in w.items()))
    print("the library's ENSEMBLE_WEIGHTS: " + ", ".join(f"{m} {v:.2f}" for m, v in ENSEMBLE_WEIGHTS.items()))
    if b.public is not None:
        chosen_alpha = b.alpha(b.raw("face", DEFAULT_MODEL, "PublicTest"))
        print(
            f"the class prior's power PublicTest's balanced accuracy chooses for {DEFAULT_MODEL} (no TTA): "
            f"{chosen_alpha:.2f}; the library's PRIOR_ALPHA: {PRIOR_ALPHA:.2f}"
        )
    head = (
        f"\n{'variant':<13} {'model':<11} {'acc':>5} {'bal':>5}  {'most said':<15}"
        + "".join(f" {c[:5]:>5}" for c in CLASSES)
        + f"  {'lowest':>5}  {'vs shipped':>10}  {'PT acc':>6} {'PT bal':>6}  alpha"
    )
    print(head)
    print("-" * (len(head) - 1))
    for r in results:
        d, pt = r["dev"], r.get("PublicTest")
        print(
            f"{r['variant']:<13} {r['model']:<11} {d['accuracy']:>5.3f} {d['balanced_accuracy']:>5.3f}  "
            f"{d['most_said']:<8} {d['most_said_share']:>5.2f} "
            + "".join(f" {d['recall'][c]:>5.2f}" for c in CLASSES)
            + f"  {min(d['recall'].values()):>6.2f}"
            + f"  {'+' + str(r['fixed']) + '/-' + str(r['broken']):>10}"
            + (f"  {pt['accuracy']:>6.3f} {pt['balanced_accuracy']:>6.3f}" if pt else f"  {'-':>6} {'-':>6}")
            + (f"  {r['alpha']:.2f}" if r.get("alpha") is not None else "")
        )
    found = b.found["level"]
    print(
        f"\non the {int(found.sum())} photos where a face was found: accuracy of the face / the whole photo"
    )
    for m in models:
        face, whole = (predictions(b.raw(v, m, "dev"))[found] == labels[found] for v in ("level", "whole"))
        print(f"  {m:<11} {face.mean():.3f} / {whole.mean():.3f}")
    if args.private and b.fer:
        private = b.fer["PrivateTest"]
        print("\nPrivateTest (no TTA and flip; weights from PublicTest), to check the final choice only:")
        for m in models:
            s = score(b.raw("face", m, "PrivateTest", "none", "flip"), private.labels)
            s0 = score(b.raw("face", m, "PrivateTest", "none", "none"), private.labels)
            print(
                f"  {m:<11} accuracy {s['accuracy']:.4f} balanced {s['balanced_accuracy']:.4f}   "
                f"(no TTA: {s0['accuracy']:.4f} {s0['balanced_accuracy']:.4f})"
            )
    print("\nmost frequent confusions on the development set (true -> said: photos, share of the true class)")
    for r in results:
        conf = "; ".join(f"{t} -> {p}: {n} ({s:.0%})" for t, p, n, s in r["dev"]["confusions"])
        print(f"{r['variant']:<13} {r['model']:<11} {conf}")
    if args.json:
        files = [str(p.relative_to(args.devset)) for p in paths]
        doc = {"devset": str(args.devset), "files": files, "labels": labels.tolist(), "results": results}
        write_text(args.json, json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
