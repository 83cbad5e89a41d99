"""Face detection: phantom and missed faces, the cascade alone on the whole photo against fer_lib's.

The photos are made from scikit-image's sample images, so the true number and place of every face is
known by construction (``tests/face_photos.py``): the astronaut's portrait scaled up, groups of 4, 12
and 24 of her in rows under a plain wall, and photos with no face (brick, grass, gravel, coffee,
the cat Chelsea, the rocket, noise, a wall, the suit below her chin), at each size. Baseline: what
``fer_lib.faces.detect_faces`` did before, OpenCV's frontal-face cascade run once on the whole photo
(scaleFactor 1.1, minNeighbors 5, faces of 24 pixels and up). A found box is a true face's where
their intersection over union is at least 0.3. The script prints, for each photo and in total, the
phantom and missed faces of each and the seconds each took; with ``--memory`` also the peak resident
memory of ``fer-lib predict`` and ``fer-lib explain`` on an 11600x8700 (100-megapixel) JPEG.

Usage: python benchmarks/bench_faces.py [WIDTHxHEIGHT ...] [--memory]   (default 1600x1200 4000x3000)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the photos are the tests' own

from fer_lib.faces import MIN_FACE, _cascade, detect_faces, to_gray  # noqa: E402
from tests.face_photos import photo_set, portrait, score  # noqa: E402


def cascade_alone(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The detector before: the frontal-face cascade on the whole photo, nothing confirmed."""
    boxes = _cascade("frontalface_default").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE)
    )
    return [tuple(int(v) for v in b) for b in boxes]


def timed(detect, gray):
    t0 = time.perf_counter()
    found = detect(gray)
    return found, time.perf_counter() - t0


def memory() -> None:
    from PIL import Image

    from tests.face_photos import peak_rss

    with tempfile.TemporaryDirectory() as d:
        big = np.full((8700, 11600, 3), (196, 188, 170), np.uint8)
        big[2000:5000, 6000:9000] = portrait(3000, 3000).image
        Image.fromarray(big).save(Path(d) / "big.jpg", quality=90)
        del big
        photo = str(Path(d) / "big.jpg")
        for what, args in (
            ("predict", ("predict", photo, "--device", "cpu")),
            ("explain", ("explain", photo, "-o", str(Path(d) / "why.png"), "--device", "cpu")),
        ):
            t0 = time.perf_counter()
            rss = peak_rss(*args)
            print(
                f"fer-lib {what} on 11600x8700: peak RSS {rss / 2**30:.2f} GiB, "
                f"{time.perf_counter() - t0:.0f} s"
            )


def main(argv: list[str]) -> None:
    sizes = tuple(tuple(int(v) for v in a.split("x")) for a in argv if "x" in a) or (
        (1600, 1200),
        (4000, 3000),
    )
    print(f"{'photo':28s} {'faces':>5s} | cascade alone: phantom missed    s | fer_lib: phantom missed    s")
    total = np.zeros(6)
    for scene in photo_set(sizes):
        gray = to_gray(scene.image)
        old, t_old = timed(cascade_alone, gray)
        new, t_new = timed(detect_faces, gray)
        row = (*score(old, scene.faces), t_old, *score(new, scene.faces), t_new)
        total += row
        print(
            f"{scene.name:28s} {len(scene.faces):5d} | {row[0]:15.0f} {row[1]:6.0f} {row[2]:8.1f} | "
            f"{row[3]:9.0f} {row[4]:6.0f} {row[5]:8.1f}",
            flush=True,
        )
    print(
        f"{'total':28s} {'':5s} | {total[0]:15.0f} {total[1]:6.0f} {total[2]:8.1f} | "
        f"{total[3]:9.0f} {total[4]:6.0f} {total[5]:8.1f}"
    )
    if "--memory" in argv:
        memory()


if __name__ == "__main__":
    main(sys.argv[1:])
