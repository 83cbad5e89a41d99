"""Find the faces in a photo and crop each the way FER2013's faces were made.

Detection is OpenCV's Haar cascade for frontal faces, whose model file ships inside
opencv-python-headless 4.x, so it works offline. A crop is a square around the detected box,
grayscale, 48x48, from the photo turned upright by its EXIF orientation. Its size follows a
measurement on FER2013 itself: on its faces (scaled up 4x) the same detector's box spans
``FER_BOX_SHARE`` of the image side, centred, so a crop of ``box / FER_BOX_SHARE`` frames a new
face as FER2013 framed its own (tests/test_faces.py measures it again where FER2013 is present).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import IMAGE_SIZE, DataError, open_image, upright

# median share of the image side that the Haar box covers on FER2013 faces (PublicTest, 307 of
# the first 600 faces detected at 192 px; quartiles 0.79 and 0.86; box centre at 0.50, 0.49)
FER_BOX_SHARE = 0.84
MIN_FACE = 24  # pixels: smaller detections are noise more often than faces


@dataclass
class Face:
    """One face in a photo: its box (x, y, width, height in the photo's pixels) and its 48x48 crop.

    ``detected`` is False for an image taken whole as a face (cropped beforehand): its box is the image.
    """

    box: tuple[int, int, int, int]
    crop: np.ndarray
    probabilities: dict[str, float] = field(default_factory=dict)
    detected: bool = True

    @property
    def expression(self) -> str | None:
        return max(self.probabilities, key=self.probabilities.get) if self.probabilities else None

    def to_json(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "expression": self.expression,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
        }


def _cv2():
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


_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        cv2 = _cv2()
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        detector = cv2.CascadeClassifier(path)
        if detector.empty():
            raise DataError(
                f"cannot load OpenCV's face detector from {path}; reinstall opencv-python-headless 4.x."
            )
        _DETECTOR = detector
    return _DETECTOR


def to_gray(image: Any) -> np.ndarray:
    """A photo as an upright 8-bit grayscale array: a file path, a PIL image or an array (RGB, RGBA or
    gray)."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return np.asarray(open_image(Path(image)))
    if isinstance(image, Image.Image):
        return np.asarray(upright(image))
    a = np.asarray(image)
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


def detect_faces(gray: np.ndarray, min_size: int = MIN_FACE) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the frontal faces in a grayscale photo, largest first."""
    h, w = gray.shape
    if min(h, w) < min_size:
        return []
    boxes = _detector().detectMultiScale(
        np.ascontiguousarray(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size)
    )
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])


def crop_square(box: tuple[int, int, int, int], share: float = FER_BOX_SHARE) -> tuple[int, int, int]:
    """(left, top, side) of the square around ``box`` that the crop is taken from, in the photo's pixels."""
    x, y, w, h = box
    side = max(w, h) / share
    return int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), int(round(side))


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int], share: float = FER_BOX_SHARE) -> np.ndarray:
    """The 48x48 crop around ``box`` framed as FER2013's faces are (the box spans ``share`` of the side).

    Where the square runs past the photo's edge, the edge pixels are repeated, as a camera crop would be.
    """
    from PIL import Image

    left, top, s = crop_square(box, share)
    pad = max(0, -left, -top, left + s - gray.shape[1], top + s - gray.shape[0])
    src = np.pad(gray, pad, mode="edge") if pad else gray
    square = src[top + pad : top + pad + s, left + pad : left + pad + s]
    return np.asarray(
        Image.fromarray(square).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR if s < 96 else Image.BOX)
    )


def find_faces(image: Any, min_size: int = MIN_FACE) -> list[Face]:
    """Every frontal face in ``image`` (a path, PIL image or array), largest first, each with its box and
    crop."""
    gray = to_gray(image)
    return [Face(box, crop_face(gray, box)) for box in detect_faces(gray, min_size)]
