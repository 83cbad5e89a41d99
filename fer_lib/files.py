"""Writing a file whole or not at all: the one way fer_lib writes a file that a user keeps.

``write_atomic`` writes into a fresh temporary file beside the target (``NAME.<pid>.tmp``, created
with O_EXCL, so never through a link), fsyncs it and renames it over the target. A full disk, a
failing writer or Ctrl-C removes the temporary file and leaves the target as it was; a process
killed outright leaves its temporary file behind, and ``own_temp_files`` finds those of given
target names, so that a cleanup removes what fer_lib made and nothing else. Nothing here imports
torch until a checkpoint is saved.

A run folder's lock file is the one file opened in place (``open_lock``), by the same rule: never
through a link, never a special file or a hard link to another file.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import WriteError

TEMP_SUFFIX = ".tmp"

_WHY = {
    errno.ENOSPC: "the file system is full",
    getattr(errno, "EDQUOT", -1): "the disk quota is used up",
    errno.EFBIG: "the file is larger than the file system allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}
_NO_ROOM = (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG)


def temp_name(path: Path) -> Path:
    """Where this process writes ``path`` before renaming it: ``NAME.<pid>.tmp`` beside it."""
    return path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def own_temp_files(folder: Path, names: Iterable[str]) -> list[Path]:
    """The temporary files that a killed writer of ``names`` left in ``folder`` (``NAME.<pid>.tmp``, nothing
    else)."""
    pattern = re.compile("(?:" + "|".join(map(re.escape, names)) + r")\.\d+" + re.escape(TEMP_SUFFIX))
    return sorted(
        p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink()
    )


class _Recorded:
    """A file that remembers its last write error: torch.save reports a failed write as its own
    RuntimeError."""

    def __init__(self, f: Any) -> None:
        self._f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def write_failed(path: Path, e: OSError, hint: str | None = None) -> WriteError:
    """One sentence for a write that failed: what went wrong, that nothing half-written is left, what to
    do."""
    why = _WHY.get(e.errno, e.strerror or str(e))
    if hint is None:
        state = f"the earlier {path.name} is kept as it was" if path.exists() else "nothing was written"
        advice = "free some space" if e.errno in _NO_ROOM else "choose a place you can write to"
        hint = f"{state}, so {advice} and run the command again"
    return WriteError(f"cannot write {path}: {why}; {hint}.")


def write_atomic(path: str | os.PathLike, write: Callable[[Any], Any], *, hint: str | None = None) -> Path:
    """Call ``write(f)`` on a fresh binary temporary file beside ``path``, fsync it, rename it to ``path``.

    Any failure removes the temporary file and leaves ``path`` as it was; an OSError (a full disk,
    say) becomes one WriteError sentence, ending in ``hint`` (what to do next) where one is given.
    """
    p = Path(path)
    tmp = temp_name(p)
    recorded: _Recorded | None = None
    try:
        with _create(tmp) as f:
            recorded = _Recorded(f)
            write(recorded)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        failure = e if isinstance(e, OSError) else (recorded.error if recorded is not None else None)
        if failure is None or not isinstance(e, Exception):
            raise
        raise write_failed(p, failure, hint) from None
    _sync_folder(p.parent)
    return p


def write_bytes(path: str | os.PathLike, data: bytes, *, hint: str | None = None) -> Path:
    return write_atomic(path, lambda f: f.write(data), hint=hint)


def write_text(path: str | os.PathLike, text: str, *, hint: str | None = None) -> Path:
    return write_bytes(path, text.encode("utf-8"), hint=hint)


def save_checkpoint(obj: Any, path: str | os.PathLike, *, hint: str | None = None) -> Path:
    """torch.save, atomically."""
    import torch

    return write_atomic(path, lambda f: torch.save(obj, f), hint=hint)


def save_image(image: Any, path: str | os.PathLike) -> Path:
    """A PIL image, atomically, in the format its file name's suffix names."""
    from PIL import Image

    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    return write_atomic(path, lambda f: image.save(f, format=fmt))


def save_bgr(image: Any, path: str | os.PathLike) -> Path:
    """An OpenCV image (H, W, 3 uint8, BGR; a view will do), atomically, as PNG or JPEG by its file name's
    suffix: a PNG encoded a band of rows at a time, without a second copy of the image; a JPEG by OpenCV,
    byte for byte as PIL saves it (quality 75)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        import cv2
        import numpy as np

        # an upright view of a photo stored turned (fer_lib.photos.photo_bgr) is copied here, a PNG is not
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:  # pragma: no cover - OpenCV encodes any 8-bit 3-channel image
            raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as JPEG")
        return write_atomic(path, lambda f: f.write(data.data))
    if suffix != ".png":
        raise ValueError(f"{path}: an image is written as .png, .jpg or .jpeg, not {suffix or 'no suffix'}")
    return write_atomic(path, lambda f: _write_png(f, image))


def _png_chunk(f: Any, kind: bytes, data: bytes) -> None:
    import struct
    import zlib

    f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))


def _write_png(f: Any, bgr: Any, band: int = 2**19) -> None:
    """``bgr`` as an 8-bit RGB PNG, about ``band`` bytes of rows filtered and compressed at a time; each
    row's filter is the one whose bytes sum to least, as signed numbers (libpng's adaptive choice)."""
    import struct
    import zlib

    import numpy as np

    h, w = bgr.shape[:2]
    rows = max(1, band // (3 * w))
    f.write(b"\x89PNG\r\n\x1a\n")
    _png_chunk(f, b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    z = zlib.compressobj(6)
    above = np.zeros(3 * w, np.int16)  # the row before the first is zeros
    for top in range(0, h, rows):
        x = np.ascontiguousarray(bgr[top : top + rows, :, ::-1]).reshape(-1, 3 * w).astype(np.int16)
        up = np.vstack([above, x[:-1]])
        left, upleft = np.zeros_like(x), np.zeros_like(x)
        left[:, 3:], upleft[:, 3:] = x[:, :-3], up[:, :-3]
        guess = left + up - upleft
        pa, pb, pc = np.abs(guess - left), np.abs(guess - up), np.abs(guess - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        # filters 0-4: none, sub, up, average, Paeth; wrapped to bytes
        filtered = np.stack([x, x - left, x - up, x - ((left + up) >> 1), x - paeth]).astype(np.uint8)
        cost = np.abs(filtered.view(np.int8).astype(np.int16)).sum(axis=2)
        best = cost.argmin(axis=0)
        out = np.empty((len(x), 1 + 3 * w), np.uint8)
        out[:, 0] = best
        out[:, 1:] = filtered[best, np.arange(len(x))]
        data = z.compress(out.tobytes())
        if data:
            _png_chunk(f, b"IDAT", data)
        above = x[-1]
    _png_chunk(f, b"IDAT", z.flush())
    _png_chunk(f, b"IEND", b"")


def save_figure(fig: Any, path: str | os.PathLike, **kw: Any) -> Path:
    """A matplotlib figure, atomically, in the format its file name's suffix names."""
    return write_atomic(path, lambda f: fig.savefig(f, format=Path(path).suffix.lower().lstrip("."), **kw))


class NotOwnFile(OSError):
    """A name that is not a plain file of its own: a symbolic link (``link``), a special file or a hard
    link to another file."""

    def __init__(self, path: Path, link: bool) -> None:
        super().__init__(errno.ELOOP if link else errno.EPERM, "not a plain file of its own", str(path))
        self.link = link


def open_lock(path: str | os.PathLike) -> Any:
    """The lock file ``path``, created if absent, open for reading and writing; never through a link
    (O_NOFOLLOW), and refused (NotOwnFile) where it is a special file or a hard link to another file.

    A lock cannot be written whole and renamed as every other file here is: it must stay the one file
    that every process opens and flocks (one renamed over it would let a second process lock the new
    file while the first still holds the old), and it outlives a killed process, whose flock the system
    releases, so O_EXCL would refuse every later run. Its content (a process id) only informs."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError:
        if p.is_symlink():
            raise NotOwnFile(p, link=True) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise NotOwnFile(p, link=False)
    return os.fdopen(fd, "r+")


def _create(tmp: Path) -> Any:
    """A new file opened for writing; O_EXCL: an existing name, a link included, is never written through."""
    tmp.unlink(missing_ok=True)  # left by a killed process that had this process id
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    return os.fdopen(fd, "wb")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself survive a power cut, where the file system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
