"""Photos whose faces are known by construction, made from scikit-image's sample images.

The astronaut (``skimage.data.astronaut()``) has one frontal face, drawn by hand at ``ASTRONAUT_FACE``;
scaled and tiled, it gives portraits and group photos whose every face's box is known. Textures
(brick, grass, gravel, coffee, the cat Chelsea, the rocket, noise, a plain wall, the astronaut's
suit without her head) have none. ``tests/test_faces.py`` and ``benchmarks/bench_faces.py`` use them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from PIL import Image

# drawn by hand on the 512x512 astronaut: brows to chin, cheek to cheek
ASTRONAUT_FACE = (180, 70, 92, 96)

Box = tuple[int, int, int, int]


class Scene(NamedTuple):
    name: str
    image: np.ndarray  # RGB uint8
    faces: list[Box]  # the true faces, (x, y, w, h)


def _skimage():
    from skimage import data

    return data


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def score(found: list[Box], truth: list[Box], overlap: float = 0.3) -> tuple[int, int]:
    """(phantom, missed): found boxes that are no true face, true faces that were not found.

    A found box is a true face's where their intersection over union is at least ``overlap`` (the
    hand-drawn box is tighter than a detector's); each true face is matched once, best overlap first.
    """
    pairs = sorted(
        ((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    for o, i, j in pairs:
        if o >= overlap and i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(found) - len(used_f), len(truth) - len(used_t)


def resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))


def wall(width: int, height: int, seed: int = 0, colour=(196, 188, 170)) -> np.ndarray:
    """A plain painted wall: one colour, a soft light gradient and a little sensor noise."""
    rng = np.random.default_rng(seed)
    shade = (
        np.linspace(0.85, 1.05, width, dtype=np.float32)[None, :, None]
        * np.linspace(1.0, 0.9, height, dtype=np.float32)[:, None, None]
    )
    img = np.asarray(colour, np.float32) * shade + rng.normal(0, 3, (height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def portrait(width: int, height: int) -> Scene:
    """The astronaut scaled to the photo's height, on a plain wall that fills the width."""
    astronaut = _skimage().astronaut()
    img = wall(width, height)
    side = min(width, height)
    x0 = (width - side) // 2
    img[:side, x0 : x0 + side] = resized(astronaut, side, side)
    k = side / 512
    x, y, w, h = ASTRONAUT_FACE
    return Scene(
        f"portrait {width}x{height}", img, [(round(x0 + x * k), round(y * k), round(w * k), round(h * k))]
    )


def group(n: int, width: int, height: int, seed: int = 0) -> Scene:
    """``n`` people (the astronaut, some mirrored, each lit a little differently) in rows in the lower
    part of the photo, a plain wall above them."""
    astronaut = _skimage().astronaut()
    rng = np.random.default_rng(seed)
    cols = {4: 2, 12: 4, 24: 6}.get(n, int(np.ceil(np.sqrt(n * 1.5))))
    rows = -(-n // cols)
    tile = min(width // cols, int(height * 0.75) // rows)
    img = wall(width, height, seed)
    top = height - rows * tile
    left = (width - cols * tile) // 2
    k = tile / 512
    faces = []
    for i in range(n):
        r, c = divmod(i, cols)
        person = astronaut[:, ::-1] if (r + c) % 2 else astronaut
        lit = np.clip(person.astype(np.float32) * rng.uniform(0.75, 1.15) + rng.uniform(-15, 15), 0, 255)
        x0, y0 = left + c * tile, top + r * tile
        img[y0 : y0 + tile, x0 : x0 + tile] = resized(lit.astype(np.uint8), tile, tile)
        x, y, w, h = ASTRONAUT_FACE
        if (r + c) % 2:
            x = 512 - x - w
        faces.append((round(x0 + x * k), round(y0 + y * k), round(w * k), round(h * k)))
    return Scene(f"group of {n} {width}x{height}", img, faces)


def texture(name: str, width: int, height: int) -> Scene:
    """A photo with no face: a sample texture or image scaled to the size, noise, a wall or a suit."""
    d = _skimage()
    if name == "noise":
        img = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif name == "wall":
        img = wall(width, height, seed=2)
    elif name == "suit":  # the astronaut below her chin: a busy picture with no face
        img = resized(d.astronaut()[200:, :], width, height)
    else:
        src = getattr(d, name)()
        img = resized(np.repeat(src[..., None], 3, axis=2) if src.ndim == 2 else src[..., :3], width, height)
    return Scene(f"{name} {width}x{height}", img, [])


TEXTURES = ("brick", "grass", "gravel", "coffee", "chelsea", "rocket", "noise", "wall", "suit")


def photo_set(sizes: tuple[tuple[int, int], ...] = ((1600, 1200), (4000, 3000))) -> Iterator[Scene]:
    """Portraits, groups of 4, 12 and 24 and the faceless textures, at each size."""
    for width, height in sizes:
        yield portrait(width, height)
        for n in (4, 12, 24):
            yield group(n, width, height)
        for name in TEXTURES:
            yield texture(name, width, height)


FER_SCALE = 4  # FER2013's 48x48 faces scaled up to 192 pixels: the size the face boxes were measured at


class Confirmation(NamedTuple):
    """What the second tests keep of the first cascade's boxes on FER2013's faces (``confirmation``)."""

    faces: int  # faces given
    found: int  # faces on which the first cascade found a box, the face's own or another
    kept: int  # of those, faces with a box confirmed
    on_face: int  # faces on which the first cascade found the face's own box
    on_face_kept: int  # of those, faces whose own box was confirmed
    off_face: int  # boxes elsewhere (on an eye and a nose, say): phantoms in a face
    off_face_kept: int  # of those, confirmed


def confirmation(images: np.ndarray) -> Confirmation:
    """The first cascade and the second tests (``fer_lib.faces``) on FER2013's faces scaled up FER_SCALE
    times. A face's own box is the one that overlaps (intersection over union 0.3 or more) the square
    where the detector's boxes on FER2013 lie: FER_BOX_SHARE of the side, centred at (0.50, 0.49)."""
    from fer_lib.faces import FER_BOX_SHARE, candidate_faces, confirmed, face_region

    side = 48 * FER_SCALE
    s = round(FER_BOX_SHARE * side)
    truth = (round(0.5 * side - s / 2), round(0.49 * side - s / 2), s, s)
    counts = np.zeros(6, int)
    for img in images:
        big = np.asarray(Image.fromarray(img).resize((side, side), Image.BILINEAR))
        boxes = candidate_faces(big)
        ok = [confirmed(face_region(big, b)) for b in boxes]
        own = [iou(b, truth) >= 0.3 for b in boxes]
        counts += (
            bool(boxes),
            any(ok),
            any(own),
            any(k and o for k, o in zip(ok, own)),
            own.count(False),
            sum(k and not o for k, o in zip(ok, own)),
        )
    return Confirmation(len(images), *map(int, counts))


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "fer_lib", *sys.argv[1:]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def peak_rss(*args: str) -> int:
    """Bytes: the peak resident memory of ``fer-lib ARGS`` run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"fer-lib {' '.join(args)} failed: {out.stderr}")
    return int(out.stdout.split()[-1])
