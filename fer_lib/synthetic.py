"""A small deterministic stand-in for FER2013: drawn 48x48 faces whose expression sets the class.

Each class changes the brows and the mouth the way the expression does (a smile for happy, an
open round mouth for surprise, brows drawn together for angry, ...), on faces that vary in
position, size, brightness and noise. Tests and quick runs use it where FER2013 is absent.
"""

from __future__ import annotations

import numpy as np

from .data import CLASSES, IMAGE_SIZE, FerData

# (brow tilt, brow height, mouth curve, mouth open, mouth width) per class, in face units
_SHAPES = {
    "angry": (0.35, 0.0, -0.05, 0.02, 0.28),
    "disgust": (0.2, 0.02, -0.15, 0.05, 0.22),
    "fear": (-0.2, 0.1, -0.02, 0.10, 0.34),
    "happy": (0.0, 0.02, 0.30, 0.04, 0.40),
    "sad": (-0.35, 0.03, -0.25, 0.01, 0.30),
    "surprise": (-0.05, 0.16, 0.0, 0.22, 0.20),
    "neutral": (0.0, 0.03, 0.0, 0.0, 0.30),
}


def draw_face(label: int, rng: np.random.Generator) -> np.ndarray:
    """One face of class ``label`` as a uint8 48x48 array."""
    tilt, brow_h, curve, open_, width = _SHAPES[CLASSES[label]]
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    cx, cy = 24 + rng.uniform(-3, 3), 25 + rng.uniform(-3, 3)
    r = rng.uniform(15, 19)
    u, v = (xx - cx) / r, (yy - cy) / r  # face coordinates: the face is the unit disc
    bg = rng.uniform(20, 90)
    skin = rng.uniform(130, 210)
    img = np.full_like(u, bg)
    face = (u / 0.85) ** 2 + (v / 1.05) ** 2 <= 1
    img[face] = skin + 25 * v[face]  # light from above, like most photographs
    dark = skin * rng.uniform(0.2, 0.4)
    for side in (-1, 1):
        ex, ey = 0.33 * side, -0.22
        img[((u - ex) / 0.12) ** 2 + ((v - ey) / 0.07) ** 2 <= 1] = dark
        # brow: a short thick segment whose inner end rises or falls with ``tilt``
        t = np.clip((u - ex) * side / 0.2, -1, 1)
        by = ey - 0.2 - brow_h + tilt * 0.12 * t
        brow = (np.abs(u - ex) <= 0.2) & (np.abs(v - by) <= 0.035)
        img[brow] = dark
    # mouth: a parabola v = my + curve * (1 - (u/width)^2), opened by ``open_``
    my = 0.45
    inside = np.abs(u) <= width
    mid = my + curve * (1 - (u / width) ** 2)
    lips = inside & (np.abs(v - mid) <= 0.035 + open_ * (1 - (u / width) ** 2))
    img[lips] = dark * 0.8
    img += rng.normal(0, rng.uniform(3, 12), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_fer(n_train: int = 700, n_public: int = 140, n_private: int = 140, seed: int = 0) -> FerData:
    """A balanced, seeded data set in FER2013's in-memory form (splits as FER2013 names them)."""
    rng = np.random.default_rng(seed)
    images, labels, splits = [], [], []
    for split, n in (("Training", n_train), ("PublicTest", n_public), ("PrivateTest", n_private)):
        for i in range(n):
            label = i % len(CLASSES)
            images.append(draw_face(label, rng))
            labels.append(label)
            splits.append(split)
    return FerData(
        np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        np.array(labels, np.int64),
        np.array(splits, dtype="<U11"),
        source=f"synthetic(seed={seed})",
        layout="synthetic",
    )
