"""Read FER2013 in every layout users bring into one in-memory form.

Layouts (detected from the path and the CSV header):

* ``fer2013``: ``fer2013.csv[.gz]`` with columns ``emotion,pixels,Usage``;
* ``icml``: ``icml_face_data.csv`` with header ``emotion, Usage, pixels``;
* ``ntu``: the NTU course ``train.csv`` with ``label,feature`` and no Usage column
  (a seeded, class-stratified validation fraction becomes ``PublicTest``);
* ``image_folder``: ``train/<class>/Training_*.jpg`` and ``test/<class>/{PublicTest,PrivateTest}_*.jpg``;
* ``packed``: ``*.fer.xz`` written by ``write_packed`` (``fer-lib pack``): the uint8 arrays, xz with a
  delta filter, about 0.7 of the raw pixels; it carries the fingerprint, so a model trained on a packed
  copy names the same data as one trained on the CSV.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .checks import printable
from .errors import DataError
from .files import write_atomic
from .names import CLASSES

if TYPE_CHECKING:
    from PIL import Image

SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

try:  # a compiled single pass over the pixel text: about 5x faster than numpy's parser
    from numba import njit

    @njit(cache=True, nogil=True)
    def _parse_rows(buf, starts, ends, out, lo, hi):  # pragma: no cover - compiled
        """Fill out[lo:hi] from buf; return the first bad row, or -1."""
        for r in range(lo, hi):
            k = 0
            v = 0
            nd = 0
            for i in range(starts[r], ends[r] + 1):
                c = buf[i] if i < ends[r] else 32
                if 48 <= c <= 57:
                    v = v * 10 + (c - 48)
                    nd += 1
                    if v > 255:
                        return r
                elif c == 32 or c == 9 or c == 13:
                    if nd > 0:
                        if k >= out.shape[1]:
                            return r
                        out[r, k] = v
                        k += 1
                        v = 0
                        nd = 0
                else:
                    return r
            if k != out.shape[1]:
                return r
        return -1
except ImportError:  # pragma: no cover - numba is a declared dependency
    _parse_rows = None

try:  # igzip is about 3x faster than zlib at inflating the 95 MB file
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a declared dependency
    _inflate_lib = zlib


@dataclass
class FerData:
    """FER2013 in memory: uint8 images (N, 48, 48), int64 labels (N,), split names (N,)."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    source: str = ""
    layout: str = ""
    origin: str = ""  # a packed copy of some splits: the fingerprint of the whole data set it was cut from

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or self.images.dtype != np.uint8:
            raise DataError(
                f"{self.source or 'data'}: images must be uint8 of shape (N, 48, 48), got "
                f"{self.images.dtype} {self.images.shape}."
            )
        if len(self.labels) != n or len(self.splits) != n:
            raise DataError(
                f"{self.source or 'data'}: {n} images but {len(self.labels)} labels and {len(self.splits)} "
                "split names."
            )

    def __len__(self) -> int:
        return len(self.images)

    def split(self, name: str) -> FerData:
        """The rows of one split (Training, PublicTest or PrivateTest)."""
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}'; expected one of {', '.join(SPLITS)}.")
        mask = self.splits == name
        if not mask.any():
            raise DataError(
                f"{self.source or 'data'} has no '{name}' rows (splits present: "
                f"{', '.join(self.split_names())})."
            )
        return FerData(self.images[mask], self.labels[mask], self.splits[mask], self.source, self.layout)

    def subset(self, idx: np.ndarray) -> FerData:
        """The rows ``idx`` picks (indices or a boolean mask), in that order."""
        return FerData(self.images[idx], self.labels[idx], self.splits[idx], self.source, self.layout)

    def split_names(self) -> list[str]:
        """Split names present, in FER2013 order."""
        present = set(np.unique(self.splits).tolist())
        return [s for s in SPLITS if s in present]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class name."""
        out: dict[str, dict[str, int]] = {}
        for s in self.split_names():
            lab = self.labels[self.splits == s]
            out[s] = {c: int((lab == i).sum()) for i, c in enumerate(CLASSES)}
        return out

    def fingerprint(self) -> str:
        """sha256 over images, labels and splits: identifies the data a model saw."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(self.labels.astype(np.int64).tobytes())
        h.update("\n".join(self.splits.tolist()).encode())
        return h.hexdigest()[:16]

    def copied_from(self, split: str, sources: tuple[str, ...] = ("Training",)) -> np.ndarray:
        """For each face of ``split``, whether the same 48x48 pixels (exactly) are also a face of ``sources``.

        FER2013 holds such copies across its splits: a model may have trained on a test face, so a
        test accuracy without them says how much they count.
        """
        part = self.split(split)
        seen = {
            np.ascontiguousarray(img).tobytes()
            for s in sources
            if s in self.split_names()
            for img in self.split(s).images
        }
        return np.fromiter(
            (np.ascontiguousarray(img).tobytes() in seen for img in part.images), bool, len(part)
        )

    def data_hash(self) -> str:
        """The hash a model trained on this data records: the whole data set's fingerprint, also for
        a packed copy of some of its splits, so that the copy's models match the source's."""
        return self.origin or self.fingerprint()


def detect_layout(path: str | os.PathLike) -> str:
    """Name the layout of ``path``: fer2013, icml, ntu, image_folder or packed."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder.")
    if p.is_dir():
        if (p / "train").is_dir() or (p / "test").is_dir():
            return "image_folder"
        raise DataError(f"{p}: a folder must hold train/<class>/ and/or test/<class>/ image folders.")
    if _head(p)[:6] == _XZ_MAGIC:
        if not p.name.endswith(PACK_SUFFIX):
            raise DataError(
                f"{p}: an xz file; fer_lib reads xz only as a packed copy named *{PACK_SUFFIX} (fer-lib "
                "pack)."
            )
        return "packed"
    head = _read_bytes(p, header_only=True)
    names = set(_header_names(head, p))
    raw_header = head.split(b"\n", 1)[0]
    if {"emotion", "pixels", "usage"} <= names:
        return "icml" if b", " in raw_header else "fer2013"
    if {"label", "feature"} <= names:
        return "ntu"
    if "pixels" in names or "feature" in names:
        missing = "emotion" if "pixels" in names else "label"
        if "pixels" in names and "emotion" in names:
            missing = "Usage"
        raise DataError(f"{p}: missing column '{missing}' (found: {_found_columns(raw_header)}).")
    raise DataError(
        f"{p}: not a FER2013 file: expected the columns emotion,pixels,Usage or label,feature, "
        f"found: {_found_columns(raw_header) or 'nothing'}."
    )


def load_fer2013(
    path: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    resize: bool = False,
) -> FerData:
    """Load FER2013 from any supported layout; ``path`` defaults to $FER2013_CSV."""
    if path is None:
        path = os.environ.get("FER2013_CSV")
        if not path:
            raise DataError("no data path given and FER2013_CSV is not set.")
    p = Path(path)
    layout = detect_layout(p)
    if layout == "image_folder":
        return _load_image_folder(p, resize=resize)
    if layout == "packed":
        return read_packed(p)
    data = _load_csv(p, layout)
    if layout == "ntu":
        data = _assign_validation(data, val_fraction, seed)
    return data


# --------------------------------------------------------------------------- CSV layouts

_BOM = b"\xef\xbb\xbf"  # spreadsheets save UTF-8 CSVs with a byte-order mark


def _read_bytes(p: Path, header_only: bool = False) -> bytes:
    try:
        blob = p.read_bytes() if not header_only else _head(p)
    except OSError as e:
        raise DataError(f"{p}: cannot read the file ({e.strerror or e}).") from None
    if blob[:2] == b"\x1f\x8b":
        if header_only:
            d = zlib.decompressobj(31)
            try:
                blob = d.decompress(blob, 65536)
            except zlib.error:
                raise DataError(f"{p}: not a valid gzip file.") from None
        else:
            blob = _gunzip(blob, p)
    return blob[len(_BOM) :] if blob.startswith(_BOM) else blob


def _gunzip(blob: bytes, p: Path) -> bytes:
    """Every member of a gzip file (``gzip >>`` and bgzip write several); anything else after them is an
    error."""
    parts, rest = [], blob
    errors = (zlib.error, getattr(_inflate_lib, "error", zlib.error), EOFError, OSError)
    while True:
        d = _inflate_lib.decompressobj(31)
        try:
            parts.append(d.decompress(rest))
        except errors:
            raise DataError(
                f"{p}: the gzip stream is truncated or corrupt; download the file again."
            ) from None
        if not d.eof:
            raise DataError(f"{p}: the gzip stream is truncated or corrupt; download the file again.")
        rest = d.unused_data
        if not rest.strip(b"\0"):  # the end, or the zero padding some tools add
            break
        if rest[:2] != b"\x1f\x8b":
            raise DataError(
                f"{p}: {len(rest):,} bytes after the end of the gzip data are not gzip; the file is damaged "
                "or something was appended to it."
            )
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _head(p: Path) -> bytes:
    with open(p, "rb") as f:
        return f.read(1 << 16)


def _header_raw(line: bytes) -> list[str]:
    return [c.decode("latin-1").strip().strip('"') for c in line.rstrip(b"\r").split(b",") if c.strip()]


def _found_columns(line: bytes) -> str:
    """A header line as a message shows it: binary bytes named as such, text escaped and cut short."""
    if any(b < 32 and b not in b"\t\r" for b in line[:4096]):
        return "binary data, not a CSV header"
    return printable(", ".join(_header_raw(line)), limit=120)


def _header_names(blob: bytes, p: Path) -> list[str]:
    if not blob.strip():
        raise DataError(f"{p}: the file is empty.")
    return [c.lower() for c in _header_raw(blob.split(b"\n", 1)[0])]


def _load_csv(p: Path, layout: str) -> FerData:
    raw = _read_bytes(p)
    if b'"' in raw:  # quoted fields: pixels hold no commas, so quotes can go
        raw = raw.replace(b'"', b" ")
    hend = raw.find(b"\n")
    names = _header_names(raw[:hend] if hend >= 0 else raw, p)
    label_col = names.index("emotion" if layout != "ntu" else "label")
    pixel_col = names.index("pixels" if layout != "ntu" else "feature")
    usage_col = names.index("usage") if layout != "ntu" else None
    ncols = len(names)
    size = len(raw)
    while size and raw[size - 1] in b" \t\r\n":  # trailing blank lines (no copy of the buffer)
        size -= 1
    if hend < 0 or hend >= size:
        raise DataError(f"{p}: the file has a header but no rows.")

    # Walk the rows with C-level find(): cheaper than any full-buffer pass in numpy.
    view = memoryview(raw)
    labels_f, usage_f, pixels_f = [], [], []
    pos, row, find = hend + 1, 0, raw.find
    while pos < size:
        end = find(b"\n", pos, size)
        if end < 0:
            end = size
        row += 1
        bounds = [pos - 1]
        for _ in range(ncols - 1):
            c = find(b",", bounds[-1] + 1, end)
            if c < 0:
                break
            bounds.append(c)
        if len(bounds) < ncols or find(b",", bounds[-1] + 1, end) >= 0:
            line = raw[pos:end].strip()
            found = raw.count(b",", pos, end) + 1
            what = "is empty" if not line else f"has {found} fields, expected {ncols} ({', '.join(names)})"
            raise DataError(f"{p}: row {row} (line {row + 1}) {what}.")
        bounds.append(end)
        labels_f.append(raw[bounds[label_col] + 1 : bounds[label_col + 1]])
        pixels_f.append(view[bounds[pixel_col] + 1 : bounds[pixel_col + 1]])
        if usage_col is not None:
            usage_f.append(raw[bounds[usage_col] + 1 : bounds[usage_col + 1]])
        pos = end + 1

    labels = _parse_labels(labels_f, p)
    splits = _parse_usage(usage_f, p) if usage_col is not None else np.full(row, "Training", dtype="<U11")
    images = _parse_pixels(pixels_f, p)
    return FerData(images, labels, splits, str(p), layout)


def _lookup_column(fields: list[bytes], table: dict, dtype: str, p: Path, complaint: str) -> np.ndarray:
    """Map each field through ``table``; the first miss is one error naming the row and the value."""
    out = np.empty(len(fields), dtype=dtype)
    for i, f in enumerate(fields):
        v = table.get(f)
        if v is None:
            v = table.get(f.strip())
        if v is None:
            value = printable(f.strip().decode("latin-1"), limit=40)
            raise DataError(f"{p}: row {i + 1} (line {i + 2}): {complaint.format(value=value)}.")
        out[i] = v
    return out


def _parse_labels(fields: list[bytes], p: Path) -> np.ndarray:
    table = {str(i).encode(): i for i in range(len(CLASSES))}
    return _lookup_column(fields, table, "int64", p, "label '{value}' is not an integer in 0..6")


def _parse_usage(fields: list[bytes], p: Path) -> np.ndarray:
    table = {s.encode(): s for s in SPLITS}
    return _lookup_column(
        fields, table, "<U11", p, "unknown Usage '{value}'; expected one of " + ", ".join(SPLITS)
    )


def _parse_pixels(fields: list, p: Path) -> np.ndarray:
    """Parse the space-separated pixel strings; on any doubt, find and name the bad row."""
    n = len(fields)
    if _parse_rows is not None and n:
        return _parse_pixels_compiled(fields, p)
    joined = b" ".join(fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short read is detected below and explained
        try:
            flat = np.fromstring(joined, dtype=np.int16, sep=" ")  # noqa: NPY201 - text mode is supported
        except ValueError:
            flat = np.empty(0, np.int16)
    if flat.size == n * N_PIXELS and (n == 0 or (flat.min() >= 0 and flat.max() <= 255)):
        return flat.astype(np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE)
    _explain_bad_pixels(fields, p)
    raise DataError(f"{p}: the pixel columns could not be parsed.")  # pragma: no cover


def _parse_pixels_compiled(fields: list, p: Path) -> np.ndarray:
    n = len(fields)
    base = fields[0].obj
    buf = np.frombuffer(base, np.uint8)
    # memoryview slices of one buffer: recover their offsets without copying
    addr0 = np.frombuffer(base, np.uint8).ctypes.data
    starts = np.fromiter((np.frombuffer(f, np.uint8).ctypes.data - addr0 for f in fields), np.int64, n)
    ends = starts + np.fromiter((len(f) for f in fields), np.int64, n)
    out = np.empty((n, N_PIXELS), np.uint8)
    halves = [(0, n // 2), (n // 2, n)]
    with ThreadPoolExecutor(2) as pool:  # the kernel releases the GIL
        bad = list(pool.map(lambda h: _parse_rows(buf, starts, ends, out, h[0], h[1]), halves))
    bad_rows = [b for b in bad if b >= 0]
    if bad_rows:
        r = min(bad_rows)
        _explain_bad_pixels(fields[r : r + 1], p, first_row=r)
        raise DataError(f"{p}: row {r + 1}: the pixel column could not be parsed.")  # pragma: no cover
    return out.reshape(n, IMAGE_SIZE, IMAGE_SIZE)


def _explain_bad_pixels(fields: list, p: Path, first_row: int = 0) -> None:
    for i, f in enumerate(fields, start=first_row):
        tokens = bytes(f).split()
        where = f"{p}: row {i + 1} (line {i + 2})"
        for t in tokens:
            if not t.isdigit():
                raise DataError(f"{where}: pixel '{printable(t, limit=40)}' is not an integer in 0..255.")
            if int(t) > 255:
                raise DataError(f"{where}: pixel value {int(t)} is out of range 0..255.")
        if len(tokens) != N_PIXELS:
            raise DataError(f"{where}: expected {N_PIXELS} pixels (48x48), found {len(tokens)}.")


def hold_out(data: FerData, fraction: float = 0.1, seed: int = 0) -> FerData:
    """The Training split alone, with a seeded, class-stratified ``fraction`` of it renamed PublicTest.

    This is what the NTU course's ``train.csv`` (the Training split, without Usage) gives when it is
    loaded with ``val_fraction=fraction`` and ``seed``: the same faces in the same order give the
    same hold-out and the same fingerprint. It is the validation an original homework report could
    measure, since the course kept the test labels back.
    """
    if "Training" not in data.split_names():
        raise DataError(f"{data.source}: no Training split to hold faces out of.")
    return _assign_validation(data.split("Training"), fraction, seed)


def _assign_validation(data: FerData, val_fraction: float, seed: int) -> FerData:
    """Hold out a seeded, class-stratified fraction of an NTU train.csv as PublicTest."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    splits = np.full(len(data), "Training", dtype="<U11")
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(data.labels == c)
        k = int(round(len(idx) * val_fraction))
        splits[rng.permutation(idx)[:k]] = "PublicTest"
    return FerData(data.images, data.labels, splits, data.source, data.layout)


# --------------------------------------------------------------------------- image folders


def _load_image_folder(root: Path, resize: bool = False) -> FerData:
    files: list[tuple[Path, int, str]] = []
    for sub in ("train", "test"):
        d = root / sub
        if not d.is_dir():
            continue
        for cdir in sorted(d.iterdir()):
            if not cdir.is_dir():
                continue
            name = cdir.name.lower()
            if name not in CLASSES:
                raise DataError(
                    f"{cdir}: unknown class folder '{cdir.name}'; expected one of {', '.join(CLASSES)}."
                )
            for f in sorted(cdir.iterdir()):
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                files.append((f, CLASSES.index(name), _split_from_name(f, sub)))
    if not files:
        raise DataError(f"{root}: no images found under train/<class>/ or test/<class>/.")
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        images = list(pool.map(lambda t: _read_image(t[0], resize), files))
    return FerData(
        np.stack(images),
        np.array([t[1] for t in files], np.int64),
        np.array([t[2] for t in files], dtype="<U11"),
        str(root),
        "image_folder",
    )


def _split_from_name(f: Path, sub: str) -> str:
    for s in SPLITS:
        if f.name.startswith(s + "_"):
            return s
    if sub == "train":
        return "Training"
    raise DataError(f"{f}: cannot tell the split: test images must be named PublicTest_* or PrivateTest_*.")


MIN_IMAGE_SIDE = 16  # below this a photo holds no recognisable face


def gray8(im: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit grayscale: 16- and 32-bit images scaled to 0-255, not clipped to white."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8))
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = a * 255.0 if a.max() <= 1.0 else a
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    return im.convert("L")


def upright(im: Image.Image, rgb: bool = False) -> Image.Image:
    """A PIL image turned by its EXIF orientation, as 8-bit grayscale (or RGB with ``rgb``; deep images
    scaled, not clipped)."""
    from PIL import ImageOps

    return _in_mode(ImageOps.exif_transpose(im), rgb)  # a copy: the caller's image is left as it was


def _in_mode(im: Image.Image, rgb: bool) -> Image.Image:
    """An image of the caller's own as 8-bit grayscale or RGB: itself where it already is one (PIL's
    convert copies even then, and a 100-megapixel photo's copy is 0.1-0.4 GB)."""
    if im.mode == ("RGB" if rgb else "L"):
        return im
    if not rgb:
        return gray8(im)
    return gray8(im).convert("RGB") if im.mode.startswith(("I", "F")) else im.convert("RGB")


def pixels(im: Image.Image, rows: int = 256) -> np.ndarray:
    """``np.asarray(im)`` filled a band of ``rows`` rows at a time: np.asarray goes through a bytes copy of
    the whole image made of chunks joined (twice the image at once), a band costs a band."""
    first = np.asarray(im.crop((0, 0, im.width, min(rows, im.height))))
    out = np.empty((im.height, *first.shape[1:]), first.dtype)
    out[: len(first)] = first
    for top in range(len(first), im.height, rows):
        out[top : top + rows] = np.asarray(im.crop((0, top, im.width, min(top + rows, im.height))))
    return out


def open_image(f: str | os.PathLike, rgb: bool = False) -> Image.Image:
    """An image file as upright 8-bit grayscale (or RGB with ``rgb``); one DataError sentence for any
    failure."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    f = Path(f)
    if f.is_dir():
        raise DataError(f"{f}: a folder, not an image file.")
    try:
        with Image.open(f) as im:
            if not rgb and im.format == "JPEG" and im.width * im.height > 2**24:
                im.draft("L", im.size)  # a large JPEG decoded straight to gray: a quarter of the memory
            im.load()
            ImageOps.exif_transpose(im, in_place=True)  # the decoded image is ours: turned without a copy
            return _in_mode(im, rgb)
    except Image.DecompressionBombError:
        raise DataError(
            f"{f}: the image has more pixels than PIL opens safely ({2 * Image.MAX_IMAGE_PIXELS:,}); "
            "scale it down before passing it."
        ) from None
    except FileNotFoundError:
        raise DataError(f"{f}: no such file.") from None
    except UnidentifiedImageError:
        raise DataError(
            f"{f}: cannot read the image: not a format PIL knows (PNG, JPEG, BMP, TIFF, WebP, ...)."
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{f}: cannot read the image ({type(e).__name__}: {e}).") from None


def _read_image(f: Path, resize: bool) -> np.ndarray:
    from PIL import Image

    im = open_image(f)
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        if not resize:
            raise DataError(
                f"{f}: image is {im.size[0]}x{im.size[1]}, expected 48x48 (pass resize=True, or --resize, "
                "to scale it)."
            )
        if min(im.size) < MIN_IMAGE_SIDE:
            raise DataError(
                f"{f}: the image is {im.size[0]}x{im.size[1]} pixels, too small to hold a face "
                f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}; FER2013's faces are 48x48)."
            )
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8).copy()


def read_any_image(path: str | os.PathLike) -> np.ndarray:
    """Any image file as a 48x48 uint8 grayscale array (upright, converted and resized)."""
    return _read_image(Path(path), resize=True)


# --------------------------------------------------------------------------- packed copies

PACK_SUFFIX = ".fer.xz"
_PACK_MAGIC = b"FERPACK1\n"
_XZ_MAGIC = b"\xfd7zXZ\x00"
# a delta against the pixel one row above (48 bytes back) before LZMA2: 0.71 of the raw size on FER2013
_PACK_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": IMAGE_SIZE}, {"id": lzma.FILTER_LZMA2, "preset": 6}]


def write_packed(data: FerData, path: str | os.PathLike, splits: tuple[str, ...] | None = None) -> dict:
    """Write ``data`` (or only ``splits`` of it) losslessly as ``*.fer.xz``; return its header.

    The header records the fingerprint of what was written, which ``read_packed`` checks, and the
    data hash of the whole data set, so that a model trained on a copy of some of its splits (say
    Training and PublicTest, to train where the full file cannot go) carries the same data hash as
    one trained on the source, and exports and resumes against it.
    """
    p = Path(path)
    if not p.name.endswith(PACK_SUFFIX):
        raise DataError(f"{p}: a packed copy must be named *{PACK_SUFFIX}.")
    if p.is_dir():
        raise DataError(f"{p}: a folder; give the packed copy a file name ending in {PACK_SUFFIX}.")
    origin = data.data_hash()
    if splits:
        for s in splits:
            data.split(s)  # unknown or absent splits fail here, with the splits present
        keep = np.isin(data.splits, list(splits))
        data = FerData(data.images[keep], data.labels[keep], data.splits[keep], data.source, data.layout)
    names = data.split_names()
    header = {
        "n": len(data),
        "splits": names,
        "source": Path(data.source).name if data.source else "",
        "layout": data.layout,
        "fingerprint": data.fingerprint(),
        "origin": origin,
    }
    codes = np.zeros(len(data), np.uint8)
    for i, name in enumerate(names):
        codes[data.splits == name] = i
    comp = lzma.LZMACompressor(format=lzma.FORMAT_XZ, filters=_PACK_FILTERS)

    def write(f: Any) -> None:
        for chunk in (
            _PACK_MAGIC,
            json.dumps(header).encode() + b"\n",
            data.labels.astype(np.uint8).tobytes(),
            codes.tobytes(),
            np.ascontiguousarray(data.images).tobytes(),
        ):
            f.write(comp.compress(chunk))
        f.write(comp.flush())

    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot write {p} ({e.strerror or e}); choose a place you can write to.") from None
    write_atomic(p, write)
    return header


def read_packed(path: str | os.PathLike) -> FerData:
    """Read a ``*.fer.xz`` copy written by ``write_packed``, checking its fingerprint."""
    p = Path(path)
    try:
        raw = lzma.decompress(p.read_bytes())
    except (lzma.LZMAError, EOFError):
        raise DataError(f"{p}: the xz stream is truncated or corrupt; pack the data again.") from None
    if not raw.startswith(_PACK_MAGIC):
        raise DataError(f"{p}: not a packed FER2013 copy (no {_PACK_MAGIC.strip().decode()} header).")
    end = raw.find(b"\n", len(_PACK_MAGIC))
    header = _pack_header(raw[len(_PACK_MAGIC) : end] if end >= 0 else b"", p)
    n, body = header["n"], memoryview(raw)[end + 1 :]
    if len(body) != n * (2 + N_PIXELS):
        raise DataError(
            f"{p}: holds {len(body)} bytes of arrays, expected {n * (2 + N_PIXELS)} for {n} images."
        )
    labels = np.frombuffer(body[:n], np.uint8).astype(np.int64)
    codes = np.frombuffer(body[n : 2 * n], np.uint8)
    if n and (labels.max() >= len(CLASSES) or codes.max() >= len(header["splits"])):
        raise DataError(f"{p}: holds labels or split codes out of range; pack the data again.")
    splits = np.array(header["splits"], dtype=object)[codes].astype(str)
    images = np.frombuffer(body[2 * n :], np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE).copy()
    fingerprint = header["fingerprint"]
    origin = header.get("origin", fingerprint)  # copies packed before 'origin' existed
    data = FerData(images, labels, splits, str(p), "packed", "" if origin == fingerprint else origin)
    if data.fingerprint() != fingerprint:
        raise DataError(
            f"{p}: the arrays do not match the fingerprint recorded when packing; pack the data again."
        )
    return data


def _pack_header(line: bytes, p: Path) -> dict:
    """A packed copy's header, checked field by field; one sentence for whatever is missing or wrong."""
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise DataError(f"{p}: the header of the packed copy is not readable; pack the data again.")
    want = {"n": int, "splits": list, "fingerprint": str}
    bad = [k for k, t in want.items() if not isinstance(header.get(k), t) or isinstance(header.get(k), bool)]
    splits = header.get("splits")
    if not bad and (
        header["n"] < 0 or not all(s in SPLITS for s in splits) or len(set(splits)) != len(splits)
    ):
        bad = ["n" if header["n"] < 0 else "splits"]
    if not bad and not isinstance(header.get("origin", ""), str):
        bad = ["origin"]
    if bad:
        raise DataError(
            f"{p}: the header of the packed copy lacks or garbles '{bad[0]}'; pack the data again."
        )
    return header


# --------------------------------------------------------------------------- writers


def write_csv(data: FerData, path: str | os.PathLike, layout: str = "fer2013") -> Path:
    """Write ``data`` as fer2013.csv[.gz], icml_face_data.csv or an NTU train.csv."""
    import gzip

    p = Path(path)
    flat = data.images.reshape(len(data), -1)
    pix = [" ".join(map(str, row)) for row in flat.tolist()]
    if layout == "fer2013":
        lines = ["emotion,pixels,Usage"] + [
            f"{lab},{x},{s}" for lab, x, s in zip(data.labels, pix, data.splits)
        ]
    elif layout == "icml":
        lines = ["emotion, Usage, pixels"] + [
            f"{lab},{s},{x}" for lab, x, s in zip(data.labels, pix, data.splits)
        ]
    elif layout == "ntu":
        lines = ["label,feature"] + [f"{lab},{x}" for lab, x in zip(data.labels, pix)]
    else:
        raise DataError(f"unknown CSV layout '{layout}'; expected fer2013, icml or ntu.")
    text = ("\n".join(lines) + "\n").encode()
    p.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(p, lambda f: f.write(gzip.compress(text, compresslevel=1) if p.suffix == ".gz" else text))
    return p


def write_image_folder(data: FerData, root: str | os.PathLike, fmt: str = "png") -> Path:
    """Write ``data`` as the image-folder release (train/<class>/Training_i.png, test/...).

    A fixture for tests and examples of the folder layout, not a file a user keeps: each image is PIL's
    own save, not fer_lib.files's atomic write (a folder cut short is simply made again)."""
    from PIL import Image

    r = Path(root)
    for i, (img, lab, s) in enumerate(zip(data.images, data.labels, data.splits)):
        d = r / ("train" if s == "Training" else "test") / CLASSES[int(lab)]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{s}_{i:05d}.{fmt}")
    return r
