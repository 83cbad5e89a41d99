"""Face detection: phantom and missed faces, the cascade alone on the whole photo against fer_lib's.

The photos are made from scikit-image's sample images, so the true number and place of every face is
known by construction (``tests/face_photos.py``): the astronaut's portrait scaled up, groups of 4, 12
and 24 of her in rows under a plain wall, and photos with no face (brick, grass, gravel, coffee,
the cat Chelsea, the rocket, noise, a wall, the suit below her chin), at each size. Baseline: what
``fer_lib.faces.detect_faces`` did before, OpenCV's frontal-face cascade run once on the whole photo
(scaleFactor 1.1, minNeighbors 5, faces of 24 pixels and up). A found box is a true face's where
their intersection over union is at least 0.3. The script prints, for each photo and in total, the
phantom and missed faces of each and the seconds each took; with ``--memory`` also the peak resident
memory of ``fer-lib predict``, ``predict -o`` and ``explain -o`` on an 11600x8700 (100-megapixel) JPEG,
beside predict's as it was before the photo was held once (``PREDICT_BEFORE``), and whether the two drew
the same picture. Where FER2013_CSV names the FER2013 CSV, it also counts what the second tests keep of
real faces: FER2013's first 1,000 PublicTest faces scaled up 4x (``tests.face_photos.confirmation``).

Usage: python benchmarks/bench_faces.py [WIDTHxHEIGHT ...] [--memory]   (default 1600x1200 4000x3000)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the photos are the tests' own

from fer_lib.faces import MIN_FACE, _cascade, detect_faces, to_gray  # noqa: E402
from tests.face_photos import confirmation, photo_set, portrait, score  # noqa: E402


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


# predict as it was before the photo was held once, call for call: open_image turned and converted PIL
# copies of the photo, np.asarray went through a bytes copy, find_faces converted locate_faces's gray array
# again (np.rint: float16), and predict -o drew on a PIL copy of an RGB array of the photo
PREDICT_BEFORE = """
import sys
import numpy as np
from PIL import Image, ImageOps
from fer_lib.faces import Face, crop_face, detect_faces
from fer_lib.files import save_image
from fer_lib.photos import annotate, classify_faces
from fer_lib.pretrained import load_model


def open_image(f, rgb=False):
    with Image.open(f) as im:
        if not rgb and im.format == "JPEG" and im.width * im.height > 2**24:
            im.draft("L", im.size)
        return ImageOps.exif_transpose(im).convert("RGB" if rgb else "L")


def find_faces(image):
    gray = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return [Face(b, crop_face(gray, b)) for b in detect_faces(gray)]


model, _ = load_model("report_cnn")
path, out = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
gray = np.asarray(open_image(path))
faces = classify_faces(find_faces(gray), model)
if out:
    save_image(annotate(np.asarray(open_image(path, rgb=True)), faces), out)
"""

PEAK = """
import resource, subprocess, sys
subprocess.run([sys.executable, *sys.argv[1:]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def peak_rss(*argv: str) -> float:
    """GiB: the peak resident memory of ``python ARGV`` run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"python {' '.join(argv[:3])} failed: {out.stderr}")
    return int(out.stdout.split()[-1]) / 2**30


def memory() -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        big = np.full((8700, 11600, 3), (196, 188, 170), np.uint8)
        big[2000:5000, 6000:9000] = portrait(3000, 3000).image
        Image.fromarray(big).save(Path(d) / "big.jpg", quality=90)
        del big
        photo = str(Path(d) / "big.jpg")
        before, after = str(Path(d) / "before.png"), str(Path(d) / "after.png")
        cpu = ("--device", "cpu")
        print(f"\n11600x8700 JPEG: peak resident memory, GiB {'before':>8s} {'fer_lib':>8s}     s")
        for what, old, new in (
            ("fer-lib predict", (photo,), ("predict", photo, *cpu)),
            ("fer-lib predict -o OUT.png", (photo, before), ("predict", photo, "-o", after, *cpu)),
            ("fer-lib explain -o OUT.png", None, ("explain", photo, "-o", str(Path(d) / "why.png"), *cpu)),
        ):
            t0 = time.perf_counter()
            was = f"{peak_rss('-c', PREDICT_BEFORE, *old):8.2f}" if old else f"{'':8s}"
            now = peak_rss("-m", "fer_lib", *new)
            print(f"{what:39s} {was} {now:8.2f} {time.perf_counter() - t0:5.0f}", flush=True)
        Image.MAX_IMAGE_PIXELS = None  # the benchmark's own photo
        same = np.array_equal(np.asarray(Image.open(before)), np.asarray(Image.open(after)))
        print(f"the photo drawn before and by fer_lib: {'the same pixels' if same else 'DIFFERENT PIXELS'}")


def fer2013(n: int = 1000) -> None:
    """What the second tests keep of real faces: FER2013's first ``n`` PublicTest faces, scaled up 4x."""
    csv = os.environ.get("FER2013_CSV")
    if not csv or not Path(csv).exists():
        print("\nFER2013's faces: skipped, FER2013_CSV is not set to the FER2013 CSV (see README)")
        return
    from fer_lib.data import load_fer2013

    t0 = time.perf_counter()
    c = confirmation(load_fer2013(csv).split("PublicTest").images[:n])
    print(
        f"\nFER2013's first {c.faces:,} PublicTest faces, scaled up 4x ({time.perf_counter() - t0:.0f} s):\n"
        f"  a box found on {c.found}, one kept on {c.kept}: {c.kept / c.found:.1%}\n"
        f"  the face's own box found on {c.on_face}, kept on {c.on_face_kept}: "
        f"{c.on_face_kept / c.on_face:.1%}\n"
        f"  boxes elsewhere in a face (phantoms): {c.off_face}, kept {c.off_face_kept}"
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
    fer2013()
    if "--memory" in argv:
        memory()


if __name__ == "__main__":
    main(sys.argv[1:])
