"""Find the faces in a photo and crop each the way FER2013's faces were made.

Detection is OpenCV's Haar cascades, whose model files ship inside opencv-python-headless 4.x, so it
works offline. It runs in two steps. The frontal-face cascade searches a copy of the photo scaled to
at most ``DETECT_SIDE`` pixels a side: a 4000x3000 photo searched whole offers the cascade millions
of small windows on suits, walls and gravel, some of which pass (``benchmarks/bench_faces.py`` counts
them). Each face it finds is then confirmed on its own region, cut from the full photo and scaled so
that the face is ``CHECK_FACE`` pixels wide, by tests that the first cascade's false positives fail:
the two other frontal-face cascades (``alt`` and ``alt2``, trained apart from it) must both find the
face there, and an eye cascade an eye in its upper half unless both agree strongly.

A crop is a square around the detected box, grayscale, 48x48, from the photo turned upright by its
EXIF orientation. Its size follows a measurement on FER2013 itself: on its faces (scaled up 4x) the
same detector's box spans ``FER_BOX_SHARE`` of the image side, centred, so a crop of
``box / FER_BOX_SHARE`` frames a new face as FER2013 framed its own (tests/test_faces.py measures it
again where FER2013 is present).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import IMAGE_SIZE, DataError, open_image, pixels, upright

# median share of the image side that the Haar box covers on FER2013 faces (PublicTest, 307 of
# the first 600 faces detected at 192 px; quartiles 0.79 and 0.86; box centre at 0.50, 0.49)
FER_BOX_SHARE = 0.84
MIN_FACE = 24  # pixels: smaller detections are noise more often than faces
DETECT_SIDE = 1600  # pixels: the longest side of the copy the first cascade searches
CHECK_FACE = 96  # pixels: a face's width in the region its confirming cascades search
# raw windows of each other frontal cascade on a face's region (1600x1200 and 4000x3000 photos of
# benchmarks/bench_faces.py): on its true faces at least 23 for both; on the first cascade's phantoms at
# most 11 for one and 4 for both. On FER2013's first 1,000 PublicTest faces scaled up 4x, the first
# cascade finds the face's own box on 519 and these tests keep 505 (97.3%; 507 of the 539 faces with any
# box, 94.1%), and 7 of the 29 boxes it finds elsewhere in a face (bench_faces.py). Looser rules tried
# there and on the next 1,500 faces: one cascade's 12 windows alone kept 0.2 points more; an eye with
# either cascade's 3 or 5 windows 0.9-1.5 more, but also 1-4 more boxes elsewhere in a face: not kept
AGREE, AGREE_STRONGLY = 3, 8
# the edges repeated for this share of the longest side when a first search finds no face: on the
# development set of web photos (docs/DEVSET.md), 86 of the 128 photos without a face found then have one
PAD = 0.25
# a third search for a face in profile where the frontal ones find none (profile_faces): off, because on the
# development set it finds 22 of the 46 photos without a frontal face but the default model reads only 2 of
# them right (docs/DEVSET.md)
PROFILE = False
# the windows that must agree on a profile box: 3 finds 22 of the 46 development photos without a frontal
# face, 5 finds 15, 2 finds 24; none of them boxes anything on benchmarks/bench_faces.py's faceless photos
PROFILE_NEIGHBORS = 3
MAX_TILT = 30  # degrees: an eye line steeper than this is more likely a wrong eye than a tilted head
EYE_GAP = (0.25, 0.7)  # the distance between the eyes, in face-box widths, that a pair must have


@dataclass
class Face:
    """One face in a photo: its box (x, y, width, height in the photo's pixels) and its 48x48 crop.

    ``detected`` is False for an image taken whole as a face (cropped beforehand): its box is the image.
    """

    box: tuple[int, int, int, int]
    crop: np.ndarray
    probabilities: dict[str, float] = field(default_factory=dict)
    detected: bool = True
    angle: float = 0.0  # degrees the crop was turned by to level the eyes (``eye_angle``)

    @property
    def expression(self) -> str | None:
        return max(self.probabilities, key=self.probabilities.get) if self.probabilities else None

    def to_json(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "expression": self.expression,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
        }


def opencv():
    """OpenCV, imported once it is needed, with its own log messages silenced."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError(
            "face detection needs OpenCV: pip install 'opencv-python-headless>=4.8,<5'."
        ) from None
    cv2.utils.logging.setLogLevel(
        cv2.utils.logging.LOG_LEVEL_ERROR
    )  # its warnings are not the user's business
    if not hasattr(cv2, "data"):
        raise DataError(
            f"OpenCV {cv2.__version__} ships no face detector (5.x dropped it); "
            "pip install 'opencv-python-headless>=4.8,<5'."
        )
    return cv2


_CASCADES: dict[str, Any] = {}


def _cascade(name: str):
    """OpenCV's ``haarcascade_NAME.xml``, loaded once."""
    if name not in _CASCADES:
        cv2 = opencv()
        path = os.path.join(cv2.data.haarcascades, f"haarcascade_{name}.xml")
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise DataError(
                f"cannot load OpenCV's face detector from {path}; reinstall opencv-python-headless 4.x."
            )
        _CASCADES[name] = cascade
    return _CASCADES[name]


def to_gray(image: Any) -> np.ndarray:
    """A photo as an upright 8-bit grayscale array: a file path, a PIL image or an array (RGB, RGBA or
    gray; an 8-bit gray array is returned as it is)."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return pixels(open_image(Path(image)))
    if isinstance(image, Image.Image):
        return pixels(upright(image))
    a = np.asarray(image)
    if a.ndim == 2 and a.dtype == np.uint8:  # already one (find_faces is handed locate_faces's): no copy
        return a
    if a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8:
        # PIL's own conversion, as for a file: the same greys, and no float copy of a large photo
        return np.asarray(Image.fromarray(np.ascontiguousarray(a[..., :3])).convert("L"))
    if a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[..., :3].astype(np.float64)
        if a.dtype != np.uint8:
            rgb = rgb * (255.0 if rgb.max() <= 1.0 else 1.0)
        a = rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")
    elif a.ndim != 2:
        raise DataError(f"an image array must be HxW, HxWx3 or HxWx4, not {a.shape}.")
    elif a.dtype != np.uint8:
        a = a.astype(np.float64) * (255.0 if a.max() <= 1.0 else 1.0)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def scaled(gray: np.ndarray, scale: float) -> np.ndarray:
    """``gray`` resized by ``scale``, averaging the pixels it shrinks (no aliasing into false edges)."""
    from PIL import Image

    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.BOX if scale < 1 else Image.BILINEAR))


def candidate_faces(
    gray: np.ndarray,
    min_size: int = MIN_FACE,
    pad: float = 0.0,
    cascade: str = "frontalface_default",
    neighbors: int = 5,
) -> list[tuple[int, int, int, int]]:
    """The frontal-face cascade's boxes (x, y, w, h in ``gray``'s pixels), found on a copy of at most
    DETECT_SIDE pixels a side; unconfirmed. With ``pad``, the copy's edges are repeated for that share of
    its longest side all round and only faces at least half its shorter side wide are sought (a box found
    there may run past the photo's edge). ``cascade`` names another of OpenCV's cascades, ``neighbors`` the
    windows that must agree on a box (OpenCV's minNeighbors)."""
    h, w = gray.shape
    scale = min(1.0, DETECT_SIDE / max(h, w))
    small = scaled(gray, scale) if scale < 1 else gray
    if min(small.shape) < min_size:
        return []
    margin = int(round(pad * max(small.shape)))
    if margin:
        # only a face as wide as half the photo's shorter side can run past its edges: smaller windows
        # would search the photo again, slowly
        min_size = max(min_size, min(small.shape) // 2)
        small = np.pad(small, margin, mode="edge")
    boxes = _cascade(cascade).detectMultiScale(
        np.ascontiguousarray(small), scaleFactor=1.1, minNeighbors=neighbors, minSize=(min_size, min_size)
    )
    return [tuple(int(round(v / scale)) for v in (x - margin, y - margin, bw, bh)) for x, y, bw, bh in boxes]


def _overlap(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def face_region(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The square twice the box's side around it, cut from ``gray`` and scaled so that the box is
    CHECK_FACE pixels wide: (2 * CHECK_FACE, 2 * CHECK_FACE), edges repeated past the photo's."""
    x, y, w, h = box
    side = 2 * max(w, h)
    left, top = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
    square = _square(gray, left, top, side)
    return scaled(square, 2 * CHECK_FACE / side)


def confirmed(region: np.ndarray) -> bool:
    """Whether the face centred in a ``face_region`` passes the second tests: both other frontal
    cascades place a face there (AGREE raw windows each, AGREE_STRONGLY or an eye in its upper half)."""
    face = (CHECK_FACE / 2, CHECK_FACE / 2, CHECK_FACE, CHECK_FACE)
    votes = []
    for name in ("frontalface_alt", "frontalface_alt2"):
        # minNeighbors=0: every window that passed, ungrouped, so that their number can be counted
        boxes = _cascade(name).detectMultiScale(
            region,
            scaleFactor=1.1,
            minNeighbors=0,
            minSize=(int(CHECK_FACE * 0.6),) * 2,
            maxSize=(int(CHECK_FACE * 1.6),) * 2,
        )
        votes.append(sum(_overlap(tuple(b), face) >= 0.4 for b in boxes))
    if min(votes) >= AGREE_STRONGLY:
        return True
    if min(votes) < AGREE:
        return False
    upper = np.ascontiguousarray(
        region[
            CHECK_FACE // 2 : CHECK_FACE // 2 + CHECK_FACE * 6 // 10, CHECK_FACE // 2 : CHECK_FACE * 3 // 2
        ]
    )
    return any(
        len(
            _cascade(name).detectMultiScale(
                upper, scaleFactor=1.1, minNeighbors=3, minSize=(12, 12), maxSize=(40, 40)
            )
        )
        for name in ("eye", "eye_tree_eyeglasses")
    )


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Boxes in rows from top to bottom, each row left to right; a box whose centre lies within half
    a face's height of a row's first centre joins that row."""
    rows: list[list[tuple[int, int, int, int]]] = []
    for b in sorted(boxes, key=lambda b: (b[1] + b[3] / 2, b[0])):
        cy = b[1] + b[3] / 2
        if rows and abs(cy - (rows[-1][0][1] + rows[-1][0][3] / 2)) < 0.5 * max(b[3], rows[-1][0][3]):
            rows[-1].append(b)
        else:
            rows.append([b])
    return [b for row in rows for b in sorted(row, key=lambda b: (b[0], b[1]))]


def profile_faces(
    gray: np.ndarray, min_size: int = MIN_FACE, pad: float = PAD
) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the faces in profile that OpenCV's profile-face cascade finds in the photo or in
    its mirror image (the cascade knows faces turned one way only), in reading order: searched as the
    frontal ones are, on the photo, then with its edges repeated for ``pad`` of its longest side."""
    w = gray.shape[1]
    mirror = np.ascontiguousarray(gray[:, ::-1])
    for margin in (0.0, pad) if pad else (0.0,):
        found = candidate_faces(gray, min_size, margin, "profileface", PROFILE_NEIGHBORS) + [
            (w - x - bw, y, bw, bh)
            for x, y, bw, bh in candidate_faces(mirror, min_size, margin, "profileface", PROFILE_NEIGHBORS)
        ]
        kept: list[tuple[int, int, int, int]] = []
        for b in sorted(found, key=lambda b: -b[2] * b[3]):  # a face found both ways: the larger box
            if all(_overlap(b, k) < 0.3 for k in kept):
                kept.append(b)
        if kept:
            return reading_order(kept)
    return []


def detect_faces(
    gray: np.ndarray, min_size: int = MIN_FACE, pad: float = PAD, profile: bool = PROFILE
) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the confirmed frontal faces in a grayscale photo, in reading order.

    Where none is found, the search is run again with the photo's edges repeated all round for ``pad`` of
    its longest side (0: no second search): a face that fills the photo, as in a tight face crop, leaves
    the cascade no margin to find it in. Where that finds none either, ``profile`` adds a third search for
    a face in profile (``profile_faces``; PROFILE says whether it pays)."""
    for margin in (0.0, pad) if pad else (0.0,):
        boxes = [b for b in candidate_faces(gray, min_size, margin) if confirmed(face_region(gray, b))]
        if boxes:
            return reading_order(boxes)
    return profile_faces(gray, min_size, pad) if profile and pad else []


def crop_square(box: tuple[int, int, int, int], share: float = FER_BOX_SHARE) -> tuple[int, int, int]:
    """(left, top, side) of the square around ``box`` that the crop is taken from, in the photo's pixels."""
    x, y, w, h = box
    side = max(w, h) / share
    return int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), int(round(side))


def _square(gray: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """gray[top : top + side, left : left + side], its edge pixels repeated where it runs past the photo."""
    h, w = gray.shape
    y0, y1, x0, x1 = max(top, 0), min(top + side, h), max(left, 0), min(left + side, w)
    if y0 >= y1 or x0 >= x1:  # wholly outside: the nearest edge pixel everywhere
        return np.full((side, side), gray[min(max(top, 0), h - 1), min(max(left, 0), w - 1)], np.uint8)
    part = gray[y0:y1, x0:x1]
    pads = ((y0 - top, top + side - y1), (x0 - left, left + side - x1))
    return np.pad(part, pads, mode="edge") if any(p for pair in pads for p in pair) else part


def eye_angle(gray: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    """The angle in degrees of the line from the face's left eye (as the photo shows it) to its right one,
    positive where the right one is lower; None unless the eye cascades find one eye in each half of the
    box's upper part, at a plausible distance and at most MAX_TILT degrees."""
    region = face_region(gray, box)  # the box is CHECK_FACE pixels wide, from CHECK_FACE / 2 on
    top, bottom = CHECK_FACE // 2 + int(CHECK_FACE * 0.15), CHECK_FACE // 2 + int(CHECK_FACE * 0.65)
    band = np.ascontiguousarray(region[top:bottom, CHECK_FACE // 2 : CHECK_FACE * 3 // 2])
    best: dict[int, tuple[float, float, float]] = {}  # half (0 left, 1 right) -> (weight, x, y)
    for name in ("eye", "eye_tree_eyeglasses"):
        boxes, _, weights = _cascade(name).detectMultiScale3(
            band, scaleFactor=1.1, minNeighbors=3, minSize=(10, 10), maxSize=(40, 40), outputRejectLevels=True
        )
        for (ex, ey, ew, eh), wt in zip(boxes, np.ravel(weights)):
            cx, cy = ex + ew / 2, ey + eh / 2
            half = int(cx >= CHECK_FACE / 2)
            if float(wt) > best.get(half, (-np.inf,))[0]:
                best[half] = (float(wt), cx, cy)
    if len(best) < 2:
        return None
    (_, lx, ly), (_, rx, ry) = best[0], best[1]
    if not EYE_GAP[0] * CHECK_FACE <= np.hypot(rx - lx, ry - ly) <= EYE_GAP[1] * CHECK_FACE:
        return None
    angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    return angle if abs(angle) <= MAX_TILT else None


def crop_face(
    gray: np.ndarray, box: tuple[int, int, int, int], share: float = FER_BOX_SHARE, angle: float = 0.0
) -> np.ndarray:
    """The 48x48 crop around ``box`` framed as FER2013's faces are (the box spans ``share`` of the side),
    turned by ``angle`` degrees about the box's centre (``eye_angle``'s angle levels the eyes).

    Where the square runs past the photo's edge, the edge pixels are repeated, as a camera crop would be.
    Only the square is read: a crop from a 100-megapixel photo copies nothing else.
    """
    from PIL import Image

    left, top, s = crop_square(box, share)
    if angle:
        # a square 1.5 times as wide, turned about its centre, then the crop's square cut from its middle:
        # the turned square's corners lie inside it up to 45 degrees
        cv2 = opencv()
        margin = s // 4
        big = np.ascontiguousarray(_square(gray, left - margin, top - margin, s + 2 * margin))
        c = (big.shape[1] - 1) / 2
        turn = cv2.getRotationMatrix2D((c, c), angle, 1.0)
        big = cv2.warpAffine(
            big, turn, big.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        square = big[margin : margin + s, margin : margin + s]
    else:
        square = _square(gray, left, top, s)
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(square)).resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR if s < 96 else Image.BOX
        )
    )


def find_faces(
    image: Any, min_size: int = MIN_FACE, align: bool = True, profile: bool = PROFILE
) -> list[Face]:
    """Every frontal face in ``image`` (a path, PIL image or array), in reading order, each with its box
    and crop; with ``align``, each crop is turned so that its eyes are level where both are found
    (``eye_angle``), as FER2013's faces mostly are; with ``profile``, a face in profile where no frontal
    one is found (``detect_faces``)."""
    gray = to_gray(image)
    faces = []
    for box in detect_faces(gray, min_size, profile=profile):
        angle = (eye_angle(gray, box) if align else None) or 0.0
        faces.append(Face(box, crop_face(gray, box, angle=angle), angle=angle))
    return faces
