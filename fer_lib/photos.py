"""Expressions in photos and videos: faces found, classified, explained and drawn.

``read_expressions(image)`` is the one call: a path, PIL image or array in, the faces out, each
with its box in the photo, its 48x48 crop and the class probabilities. Images of at most
``CROP_MAX`` pixels a side are taken as faces already cropped (FER2013's own are 48x48); larger
ones go through face detection (``fer_lib.faces``), and their faces come in reading order (rows from
top to bottom, each left to right). A photo of 100 megapixels is held once, as 8-bit gray: detection
searches a scaled copy, and crops, maps and figures are made from the faces' regions only; drawn on
(``annotate_file``), it is held once more in colour and drawn in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .checks import number
from .data import CLASSES, IMAGE_SIZE, MIN_IMAGE_SIDE, DataError, open_image, upright
from .device import resolve_device
from .evaluate import predict_logits, to_float_images
from .faces import Face, crop_square, find_faces, to_gray
from .pretrained import DEFAULT_MODEL, PRIOR_ALPHA, TRAINING_COUNTS

if TYPE_CHECKING:
    from PIL import Image

# the mirror image averaged in helps one model a little on the photos but not the ensemble (docs/DEVSET.md)
DEFAULT_TTA = "none"
CROP_MAX = 96  # an image this small (each side) is a cropped face, not a photo to search
# a 6.4-inch figure saved at 150 dpi is 960 pixels wide: a photo sampled more finely would not show it
FIGURE_SIDE = 960  # pixels: the most a figure samples of a photo along the view's longer side


def load_photo(image: Any) -> np.ndarray:
    """A photo as upright RGB uint8 (H, W, 3), for drawing on: a path, a PIL image or an array."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return np.asarray(open_image(image, rgb=True))
    if isinstance(image, Image.Image):
        return np.asarray(upright(image, rgb=True))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8:
        return a[..., :3]
    return np.repeat(to_gray(a)[..., None], 3, axis=2)


def _model(model: str | Path | nn.Module, device: torch.device) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    from .pretrained import load_model

    return load_model(model, device=device)[0]


def whole_image_face(gray: np.ndarray) -> Face:
    """The whole image as one face (a crop made beforehand): squeezed to 48x48."""
    from PIL import Image

    h, w = gray.shape
    if min(h, w) < MIN_IMAGE_SIDE:
        raise DataError(
            f"the image is {w}x{h} pixels, too small to hold a face "
            f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}; FER2013's faces are 48x48)."
        )
    crop = np.asarray(Image.fromarray(gray).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
    return Face((0, 0, w, h), crop, detected=False)


def locate_faces(image: Any, detect: bool | None = None) -> tuple[np.ndarray, list[Face]]:
    """(the photo in gray, its faces): detected, or the whole image where ``detect`` is False
    (None: detect unless the image is a crop of at most CROP_MAX pixels a side)."""
    gray = to_gray(image)
    if detect is None:
        detect = max(gray.shape) > CROP_MAX
    return gray, (find_faces(gray) if detect else [whole_image_face(gray)])


def prior_corrected(probs: Any, alpha: float, prior: Any = None) -> np.ndarray:
    """Class probabilities (..., 7) divided by the training classes' frequencies (``prior``, counts or shares;
    FER2013 Training's by default) to the power ``alpha`` and summed to 1 again: 0 changes nothing, 1 gives
    what an even prior would have given. A row of NaN stays NaN."""
    alpha = number("the class prior's power (alpha)", alpha, 0.0, 5.0)
    freq = np.asarray(TRAINING_COUNTS if prior is None else prior, np.float64)
    if freq.shape != (len(CLASSES),) or not np.all(freq > 0):
        raise DataError(f"a class prior needs {len(CLASSES)} positive numbers, got {freq.tolist()}.")
    p = np.asarray(probs, np.float64) / (freq / freq.sum()) ** alpha
    return p / p.sum(-1, keepdims=True)


def default_prior(model: Any) -> float:
    """The class prior's power used when none is given: PRIOR_ALPHA for the default model, chosen for it on
    PublicTest, and 0 for any other model."""
    return PRIOR_ALPHA if isinstance(model, str) and model == DEFAULT_MODEL else 0.0


def classify_faces(
    faces: list[Face],
    model: str | Path | nn.Module = DEFAULT_MODEL,
    *,
    tta: str = DEFAULT_TTA,
    device: str | torch.device = "cpu",
    prior: float | None = None,
) -> list[Face]:
    """Fill in each face's class probabilities (softmax of the model's logits), divided by the class prior to
    the power ``prior`` (``prior_corrected``; None: ``default_prior(model)``, 0: not at all)."""
    if not faces:
        return faces
    alpha = default_prior(model) if prior is None else prior
    device = resolve_device(str(device))
    net = _model(model, device)
    probs = predict_logits(net, np.stack([f.crop for f in faces]), device=device, tta=tta).softmax(1).numpy()
    if alpha:
        probs = prior_corrected(probs, alpha)
    for f, p in zip(faces, probs):
        f.probabilities = {c: float(v) for c, v in zip(CLASSES, p)}
    return faces


def read_expressions(
    image: Any,
    model: str | Path | nn.Module = DEFAULT_MODEL,
    *,
    detect: bool | None = None,
    tta: str = DEFAULT_TTA,
    device: str | torch.device = "cpu",
    prior: float | None = None,
) -> list[Face]:
    """Every face in ``image`` (path, PIL image or array), in reading order, with box, crop and probabilities.

    An empty list means no face was found. ``model`` is a pretrained name, a checkpoint path, a model or
    ``"ensemble"``; the default, ``DEFAULT_MODEL``, is the one chosen on real photos (docs/DEVSET.md).
    ``prior`` is the power of FER2013's class prior divided out (``classify_faces``; 0 turns it off).
    """
    return classify_faces(locate_faces(image, detect)[1], model, tta=tta, device=device, prior=prior)


# --------------------------------------------------------------------------- drawing


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


class _Marks(NamedTuple):
    """What annotate draws for one face, in the photo's pixels (corners inclusive)."""

    box: tuple[int, int, int, int]
    label: str | None = None
    font: Any = None
    patch: tuple[int, int, int, int] | None = None  # the label's background
    text_at: tuple[int, int] | None = None

    def bounds(self, width: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), x1 and y1 excluded, of every pixel the marks can touch."""
        corners = [self.box, *([self.patch] if self.patch else [])]
        pad = width + 2  # the text lies inside its patch; a margin costs nothing
        return (
            min(c[0] for c in corners) - pad,
            min(c[1] for c in corners) - pad,
            max(c[2] for c in corners) + pad + 1,
            max(c[3] for c in corners) + pad + 1,
        )


def _line_width(size: tuple[int, int]) -> int:
    return max(2, round(max(size) / 300))


def _marks(f: Face, width: int) -> _Marks:
    """Where annotate draws ``f``'s box and label, lines ``width`` pixels wide."""
    from PIL import Image, ImageDraw

    x, y, w, h = f.box
    box = (x, y, x + w - 1, y + h - 1)
    if not f.probabilities:
        return _Marks(box)
    font = _font(max(12, w // 7))
    label = f"{f.expression} {f.probabilities[f.expression]:.2f}"
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), label, font=font)
    ty = y - (bottom - top) - 3 * width if y - (bottom - top) - 3 * width >= 0 else y + h + width
    patch = (x, ty, x + right - left + 2 * width, ty + bottom - top + 2 * width)
    return _Marks(box, label, font, patch, (x + width - left, ty + width - top))


def _draw_marks(draw: Any, m: _Marks, width: int, origin: tuple[int, int] = (0, 0)) -> None:
    """Draw ``m`` on an image whose top left pixel is the photo's ``origin``."""
    ox, oy = origin

    def moved(c: tuple[int, ...]) -> list[int]:
        return [v - (ox if i % 2 == 0 else oy) for i, v in enumerate(c)]

    draw.rectangle(moved(m.box), outline=(255, 210, 0), width=width)
    if m.label is not None:
        draw.rectangle(moved(m.patch), fill=(255, 210, 0))
        draw.text(tuple(moved(m.text_at)), m.label, fill=(0, 0, 0), font=m.font)


def annotate(photo: np.ndarray, faces: list[Face]) -> Image.Image:
    """The photo with each face's box and its top class and probability."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(photo)
    im = im if im.mode == "RGB" else im.convert("RGB")  # one copy of a large photo, not two
    draw = ImageDraw.Draw(im)
    width = _line_width(im.size)
    for f in faces:
        _draw_marks(draw, _marks(f, width), width)
    return im


def draw_faces(photo: np.ndarray, faces: list[Face], bgr: bool = False) -> np.ndarray:
    """What annotate draws, drawn in place on ``photo`` (H, W, 3 uint8; RGB, or OpenCV's BGR with ``bgr``).

    Each face's marks are drawn on a copy of the pixels around them alone and put back, in order: the
    photo is the same as annotate's, and a 100-megapixel one is not copied."""
    from PIL import Image, ImageDraw

    h, w = photo.shape[:2]
    width = _line_width((w, h))
    for f in faces:
        m = _marks(f, width)
        x0, y0, x1, y1 = m.bounds(width)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        part = photo[y0:y1, x0:x1]
        im = Image.fromarray(np.ascontiguousarray(part[..., ::-1] if bgr else part))
        _draw_marks(ImageDraw.Draw(im), m, width, (x0, y0))
        drawn = np.asarray(im)
        part[...] = drawn[..., ::-1] if bgr else drawn
    return photo


# each EXIF orientation as PIL's exif_transpose turns it, done by a view of the stored pixels (no copy)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


def photo_bgr(path: str | os.PathLike) -> np.ndarray:
    """A photo file as an upright (H, W, 3) BGR array, held once: a JPEG decoded by OpenCV into one array
    (the same pixels as PIL's, 3 bytes a pixel where PIL holds 4) and turned by its EXIF orientation as
    a view of it; anything else by PIL, copied out a band at a time."""
    from PIL import Image

    from .data import pixels
    from .faces import opencv

    cv2 = opencv()
    try:
        with Image.open(path) as im:  # the header alone
            jpeg = im.format == "JPEG" and im.mode in ("RGB", "L")
            size, orientation = im.size, im.getexif().get(0x0112, 1)  # the orientation exif_transpose reads
    except Exception:  # open_image below says what is wrong in one sentence
        jpeg = False
    if jpeg:
        stored = np.empty((size[1], size[0], 3), np.uint8)
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
        try:  # into the array: imread's own array is decoded into a second one first
            stored = cv2.imread(os.fspath(path), stored, flags)
        except cv2.error:  # OpenCV before 4.10 takes no array to read into
            stored = cv2.imread(os.fspath(path), flags)
        if stored is not None and stored.shape == (size[1], size[0], 3):
            return _UPRIGHT.get(orientation, lambda a: a)(stored)
    photo = pixels(open_image(path, rgb=True))
    return cv2.cvtColor(photo, cv2.COLOR_RGB2BGR, dst=photo)


def annotate_file(image: str | os.PathLike, faces: list[Face], out: str | os.PathLike) -> Path:
    """The photo file ``image`` as annotate draws it, written to ``out`` (.png, .jpg or .jpeg) whole or
    not at all, the photo held once (``photo_bgr``, ``draw_faces``, ``fer_lib.files.save_bgr``)."""
    from .files import save_bgr

    return save_bgr(draw_faces(photo_bgr(image), faces, bgr=True), out)


def explain_faces(
    gray: np.ndarray,
    faces: list[Face],
    model: str | Path | nn.Module,
    method: str,
    *,
    target: str | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """An attribution map for each face's predicted (or ``target``) class, put back onto the photo: (H, W) in
    [0, 1]."""
    from PIL import Image

    from .attribution import attribute, to_display

    device = resolve_device(str(device))
    net = _model(model, device)
    if target is not None and target not in CLASSES:
        raise DataError(f"unknown target '{target}'; expected one of {', '.join(CLASSES)}.")
    targets = torch.tensor([CLASSES.index(target or f.expression) for f in faces])
    # occlusion of one face by the ensemble: torch 3.0 s, onnxruntime 3.2 s with the making of its copy of the
    # model (~0.1 GB more); two faces: 4.6 s and 3.7 s, three: 7.2 s and 4.9 s
    engine = "torch" if len(faces) == 1 else "auto"
    faces_in = to_float_images(np.stack([f.crop for f in faces]), device)
    maps = to_display(attribute(net, faces_in, targets.to(device), method, engine=engine))
    # np.zeros maps its pages only where a map is written: a 100-megapixel photo's canvas costs the
    # faces' squares, not 400 MB, as long as the figure reads it sparsely (explanation_figure)
    canvas = np.zeros(gray.shape, np.float32)
    for f, m in zip(faces, maps):
        if not f.detected:  # the whole image was the face: the map is squeezed back to its shape
            w, h = f.box[2], f.box[3]
            canvas[:h, :w] = np.maximum(
                canvas[:h, :w],
                np.asarray(Image.fromarray(m.astype(np.float32)).resize((w, h), Image.BILINEAR)),
            )
            continue
        left, top, side = crop_square(f.box)
        big = np.asarray(Image.fromarray(m.astype(np.float32)).resize((side, side), Image.BILINEAR))
        if f.angle:  # the crop was turned to level the eyes: its map is turned back onto the photo
            from .faces import opencv

            cv2 = opencv()
            c = (side - 1) / 2
            big = cv2.warpAffine(big, cv2.getRotationMatrix2D((c, c), -f.angle, 1.0), (side, side))
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + side, gray.shape[0]), min(left + side, gray.shape[1])
        part = big[y0 - top : y1 - top, x0 - left : x1 - left]
        canvas[y0:y1, x0:x1] = np.maximum(canvas[y0:y1, x0:x1], part)
    return canvas


def explanation_figure(
    gray: np.ndarray,
    faces: list[Face],
    heat: np.ndarray,
    method: str,
    cmap: str = "inferno",
    zoom: bool = True,
):
    """The photo in gray, the attribution overlaid with a colour bar, each face boxed and labelled.

    With ``zoom`` the view is the part of the photo around the faces (their crop squares and as much
    again), so that a small face's map can be read."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from PIL import Image

    h, w = gray.shape
    x0, y0, x1, y1 = 0, 0, w, h
    if zoom and all(f.detected for f in faces) and faces:
        squares = [crop_square(f.box) for f in faces]
        pad = max(s for _, _, s in squares) // 2
        x0, y0 = max(0, min(x for x, _, _ in squares) - pad), max(0, min(y for _, y, _ in squares) - pad)
        x1, y1 = (
            min(w, max(x + s for x, _, s in squares) + pad),
            min(h, max(y + s for _, y, s in squares) + pad),
        )
    # the view at most FIGURE_SIDE pixels a side: the photo averaged, the map sampled (it is smooth at
    # that scale: each face's map is 48x48 cells scaled up)
    step = max(1, -(-max(x1 - x0, y1 - y0) // FIGURE_SIDE))
    heat_view = np.ascontiguousarray(heat[y0:y1:step, x0:x1:step])
    gray_view = gray[y0:y1, x0:x1]
    if step > 1:
        gray_view = np.asarray(
            Image.fromarray(np.ascontiguousarray(gray_view)).resize(heat_view.shape[::-1], Image.BOX)
        )
    extent = (x0 - 0.5, x0 + heat_view.shape[1] * step - 0.5, y0 + heat_view.shape[0] * step - 0.5, y0 - 0.5)
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * (y1 - y0) / (x1 - x0) + 0.3))
    ax.imshow(gray_view, cmap="gray", vmin=0, vmax=255, extent=extent)
    shown = ax.imshow(
        np.ma.masked_where(heat_view <= 0.02, heat_view), cmap=cmap, alpha=0.6, vmin=0, vmax=1, extent=extent
    )
    for f in faces:
        x, y, bw, bh = f.box
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, edgecolor="#ffd200", linewidth=1.5))
        if f.probabilities:
            ax.text(
                x,
                y - 4,
                f"{f.expression} {f.probabilities[f.expression]:.2f}",
                color="black",
                fontsize=9,
                va="bottom",
                bbox={"facecolor": "#ffd200", "edgecolor": "none", "pad": 1.5},
            )
    ax.set_xlim(x0 - 0.5, x1 - 0.5)
    ax.set_ylim(y1 - 0.5, y0 - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label=method.replace("_", " "))
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- video


class VideoTruncated(DataError):
    """A video file ended before the frames its header counts: truncated or damaged."""


def video_frames(source: str | int, every: float) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in seconds, RGB frame) every ``every`` seconds of a video file or camera index.

    A file is sampled by its own clock; a camera is read continuously and the newest frame is used,
    so a slow model skips frames instead of falling behind. A file that ends well before the frame
    count its header gives (more than 1% and one frame short) raises VideoTruncated after its last
    readable frame; one with no readable frame raises DataError.
    """
    import time

    from .faces import opencv

    cv2 = opencv()
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        what = f"camera {source}" if isinstance(source, int) else str(source)
        raise DataError(
            f"OpenCV cannot open {what}"
            + (
                "; check the index and that nothing else uses it."
                if isinstance(source, int)
                else "; is it a video file in a format FFmpeg reads?"
            )
        )
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        live = isinstance(source, int)
        step = 1 if live or fps <= 0 else max(1, round(every * fps))
        index, start, next_t = 0, time.perf_counter(), 0.0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = time.perf_counter() - start if live else (index / fps if fps > 0 else float(index))
            take = t >= next_t if live else index % step == 0
            if take:
                next_t = t + every
                yield index, t, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
    if not live and index == 0:
        raise DataError(
            f"{source}: OpenCV opened it but read no frame; the file is empty, truncated or damaged."
        )
    if not live and index < 0.99 * count - 1:
        raise VideoTruncated(
            f"{source}: the video ends after frame {index} of the {count} its header counts, so the file is "
            "truncated or damaged (copy or download it again)."
        )
