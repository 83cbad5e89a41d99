"""A user's own face crop, framed tighter or looser than FER2013's: read whole, as the library does, or found
again and framed as FER2013's faces are?

An image of at most ``CROP_MAX`` pixels a side is taken for a face cropped beforehand (a frame from a video's
face tracker, a crop another detector made, a 48x48 face from another data set). Such a crop may be framed
tighter or looser than FER2013 framed its faces. The faces here are framed on purpose: FER2013 PublicTest's,
zoomed in (a centred square of 1/zoom of the side, scaled back to 48 pixels) or out (the edges repeated),
and with ``--devset`` the development set's photos (docs/DEVSET.md), each face found by the library and cut
with a box share of ``FER_BOX_SHARE x zoom`` (above 1: tighter than FER2013's framing). Each is read

- ``whole``: the whole image squeezed to 48x48, as ``fer_lib.photos.locate_faces`` reads a small crop;
- ``found again``: the face found in the crop scaled up ``SCALE_UP`` times (``find_faces``: both searches,
  eyes levelled) and cut as a photo's face is, the largest where there are several; the whole crop where
  none is found;
- ``if tight``: found again only where that face spans more than ``TIGHT`` of the crop's shorter side (it
  was cut much tighter than FER2013's faces, whose box spans ``FER_BOX_SHARE``), else whole.

For each zoom it prints the share of crops with a face found again, the default model's (``DEFAULT_MODEL``)
accuracy each way, how many crops ``if tight`` found again, and the faces ``if tight`` gets right that
``whole`` gets wrong (+) and the reverse (-). A development photo in which ``find_faces`` finds no face at
the start is left out. ``--small`` reads the
development set's own small photos (``CROP_MAX`` pixels a side or less, read as crops) both ways.

Usage: FER2013_CSV=... python benchmarks/bench_crop_framing.py [--zoom 0.7,1,1.3,1.5] [--limit N]
       [--devset DIR [--small]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fer_lib.data import CLASSES, IMAGE_SIZE, load_fer2013
from fer_lib.faces import FER_BOX_SHARE, Face, crop_face, find_faces, to_gray
from fer_lib.photos import CROP_MAX, classify_faces, whole_image_face
from fer_lib.pretrained import DEFAULT_MODEL

SCALE_UP = 4  # as FER_BOX_SHARE was measured on FER2013's faces
TIGHT = 1.2  # the face's share of the crop's side above which ``if tight`` finds it again


def zoomed(face: np.ndarray, zoom: float) -> np.ndarray:
    """A 48x48 face framed ``zoom`` times tighter (above 1: a centred square of 1/zoom of the side) or
    looser (below 1: the edges repeated), scaled back to 48x48."""
    if zoom >= 1:
        side = int(round(IMAGE_SIZE / zoom))
        o = (IMAGE_SIZE - side) // 2
        square = face[o : o + side, o : o + side]
    else:
        pad = int(round((IMAGE_SIZE / zoom - IMAGE_SIZE) / 2))
        square = np.pad(face, pad, mode="edge")
    return np.asarray(Image.fromarray(np.ascontiguousarray(square)).resize((IMAGE_SIZE,) * 2, Image.BILINEAR))


def largest(faces: list[Face]) -> Face | None:
    """The face with the largest box; None if there is none."""
    return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None


def found_again(crop: np.ndarray) -> Face | None:
    """The largest face that ``find_faces`` finds in ``crop`` scaled up SCALE_UP times; None if none."""
    h, w = crop.shape
    big = np.asarray(Image.fromarray(crop).resize((w * SCALE_UP, h * SCALE_UP), Image.BILINEAR))
    return largest(find_faces(big))


def tight(face: Face | None, crop: np.ndarray) -> bool:
    """Whether the face found again spans more than TIGHT of the crop's shorter side."""
    return face is not None and max(face.box[2:]) > TIGHT * SCALE_UP * min(crop.shape)


def said(faces: list[Face]) -> np.ndarray:
    """The class index the default model gives each face."""
    classify_faces(faces, DEFAULT_MODEL)
    return np.array([CLASSES.index(f.expression) for f in faces])


def public_faces(limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    public = load_fer2013(os.environ["FER2013_CSV"]).split("PublicTest")
    n = limit or len(public)
    return list(public.images[:n]), public.labels[:n]


def dev_photos(devset: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The development set's photos in gray, and their labels."""
    from fer_report.devset import read_devset

    paths, labels = read_devset(devset)
    return [to_gray(p) for p in paths], np.asarray(labels)


def photo_faces(
    grays: list[np.ndarray], labels: np.ndarray
) -> tuple[list[tuple[np.ndarray, Face]], np.ndarray]:
    """Each photo with the largest face ``find_faces`` finds in it, and the labels; photos without one left
    out."""
    found = [largest(find_faces(g)) for g in grays]
    kept = [i for i, f in enumerate(found) if f is not None]
    return [(grays[i], found[i]) for i in kept], labels[kept]


def measure(crops: list[np.ndarray], labels: np.ndarray) -> str:
    """One printed row: found again, accuracy whole / found again / if tight, if tight against whole."""
    whole = [whole_image_face(c) for c in crops]
    again = [found_again(c) for c in crops]
    found = np.array([f is not None for f in again])
    right_whole = said(whole) == labels
    right_again = said([f if f is not None else w for f, w in zip(again, whole)]) == labels
    use = np.array([tight(f, c) for f, c in zip(again, crops)])
    right_tight = np.where(use, right_again, right_whole)
    gained, lost = int((right_tight & ~right_whole).sum()), int((right_whole & ~right_tight).sum())
    return (
        f"{found.mean():11.3f}   {right_whole.mean():.4f}   {right_again.mean():12.4f}   "
        f"{right_tight.mean():.4f}   {int(use.sum()):7d}   +{gained} / -{lost}"
    )


def small_photos(grays: list[np.ndarray], labels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The photos of at most CROP_MAX pixels a side, which the library reads as crops, and their labels."""
    small = [i for i, g in enumerate(grays) if max(g.shape) <= CROP_MAX]
    return [grays[i] for i in small], labels[small]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoom", default="0.7,1,1.3,1.5", help="comma-separated zooms (above 1: tighter)")
    ap.add_argument("--limit", type=int, default=0, help="the first N PublicTest faces only (0: all)")
    ap.add_argument("--devset", type=Path, help="also the development set's photos, framed the same ways")
    ap.add_argument("--small", action="store_true", help="the development set's own small photos, both ways")
    a = ap.parse_args()
    if a.small and a.devset is None:
        ap.error("--small reads the development set: give it with --devset DIR.")
    if not os.environ.get("FER2013_CSV"):
        print("bench_crop_framing.py: FER2013_CSV is not set: point it at the FER2013 CSV.", file=sys.stderr)
        return 2
    print(f"the default model ({DEFAULT_MODEL})")
    header = "zoom   share found   whole   always again   if tight   tight n   if tight vs whole"
    grays, dev_labels = dev_photos(a.devset) if a.devset is not None else ([], np.array([], int))
    if a.small:
        crops, y = small_photos(grays, dev_labels)
        counts = ", ".join(f"{CLASSES[c]} {n}" for c, n in zip(*np.unique(y, return_counts=True)))
        print(f"\nthe development set's own photos of {CROP_MAX} pixels a side or less: {len(y)} ({counts})")
        if len(y):
            print(f"{header}\n{'as is':<6} {measure(crops, y)}", flush=True)
    faces, labels = public_faces(a.limit)
    sets = [("PublicTest", lambda zoom: [zoomed(f, zoom) for f in faces], labels)]
    if a.devset is not None:
        photos, found_labels = photo_faces(grays, dev_labels)
        sets.append(
            (
                "development set",
                lambda zoom: [
                    crop_face(g, f.box, share=FER_BOX_SHARE * zoom, angle=f.angle) for g, f in photos
                ],
                found_labels,
            )
        )
    for name, cut, y in sets:
        print(f"\n{name}: {len(y)} faces\n{header}")
        for zoom in (float(z) for z in a.zoom.split(",")):
            t0 = time.perf_counter()
            row = measure(cut(zoom), y)
            print(f"{zoom:<6g} {row}   ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
