"""A training run's folder: one writer at a time, and checkpoints committed as a consistent pair.

An epoch that improves writes its weights to ``best.next.pt``, then ``last.pt`` (the commit point: its
history says which epoch best.pt must hold), then renames ``best.next.pt`` to ``best.pt``. Wherever a
process is killed, :meth:`RunFolder.settle` finds the best file that belongs to ``last.pt``, so that a
resumed run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import torch

from .checks import output_dir
from .errors import ConfigError, FerError
from .models import checkpoint_meta

RUN_FILES = ("last.pt", "best.pt", "history.json")
LOCK_NAME = ".lock"
PENDING_BEST = "best.next.pt"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def _write_failed(path: Path, e: OSError) -> FerError:
    why = "the file system is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    return FerError(
        f"cannot write {path}: {why}; the last complete checkpoint is kept, so free space or fix the folder "
        "and run the same command with --resume."
    )


def _atomic_write(path: Path, mode: str, write: Any) -> None:
    """Write through a temporary file of this process, fsync, then rename: a kill never leaves half a file."""
    tmp = _tmp_name(path)
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _write_failed(path, e) from None


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically."""
    _atomic_write(path, "wb", lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: Path) -> None:
    _atomic_write(path, "w", lambda f: f.write(text))


def best_epoch(history: list[dict]) -> int | None:
    """The epoch best.pt holds: the first with the highest val_acc (every epoch's weights when there is no
    validation)."""
    if not history:
        return None
    if "val_acc" not in history[0]:
        return history[-1]["epoch"]
    best = max(h["val_acc"] for h in history)
    return next(h["epoch"] for h in history if h["val_acc"] == best)


def read_meta(path: Path) -> dict:
    """A checkpoint's metadata; one sentence, saying what to do, when the file cannot be read."""
    try:
        return checkpoint_meta(path)
    except ConfigError:
        raise ConfigError(
            f"{path}: cannot be read: the file is truncated or damaged; start the run again with --force, "
            "or train into a new --out folder."
        ) from None


class RunFolder:
    """The folder of one training run, locked while a process trains into it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_file = None

    # ------------------------------------------------------------------ one writer at a time
    def lock(self) -> RunFolder:
        """Take the folder (created if needed) for this process; another training already in it is an
        error."""
        import fcntl

        output_dir(self.path, "--out")
        lock_path = self.path / LOCK_NAME
        try:
            f = open(lock_path, "a+")
        except OSError as e:
            raise ConfigError(
                f"cannot write into {self.path} ({e.strerror or e}); choose a folder you can write to with "
                "--out."
            ) from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            f.close()
            raise ConfigError(
                f"{self.path} is in use: process {owner} is training into it; wait for it to finish, "
                "or choose another --out folder."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f
        return self

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock; a killed process releases it too
            self._lock_file = None

    def __enter__(self) -> RunFolder:
        return self.lock()

    def __exit__(self, *exc: Any) -> None:
        self.unlock()

    # ------------------------------------------------------------------ what the folder holds
    def existing_run_files(self) -> list[str]:
        return [n for n in (*RUN_FILES, PENDING_BEST) if (self.path / n).exists()]

    def clear(self) -> None:
        """Remove a previous run's files (--force)."""
        for name in self.existing_run_files():
            (self.path / name).unlink()

    def settle(self) -> None:
        """Make best.pt and history.json agree with last.pt after a kill at any moment; remove stray
        temporary files."""
        for tmp in self.path.glob("*.tmp"):  # a killed writer's: the lock says no other is alive
            tmp.unlink(missing_ok=True)
        last, pending = self.path / "last.pt", self.path / PENDING_BEST
        if not last.exists():
            pending.unlink(missing_ok=True)
            return
        meta = read_meta(last)
        if pending.exists():
            if read_meta(pending)["epoch"] == best_epoch(meta["history"]):
                os.replace(pending, self.path / "best.pt")  # killed after last.pt was committed
            else:
                pending.unlink()  # killed before: last.pt still names the older best
        atomic_write_text(json.dumps(meta["history"], indent=1), self.path / "history.json")

    def commit(self, last: dict, best: dict | None, history: list[dict]) -> None:
        """Write one epoch: best (if it improved), last.pt, then history.json."""
        if best is not None:
            atomic_save(best, self.path / PENDING_BEST)
        atomic_save(last, self.path / "last.pt")
        if best is not None:
            os.replace(self.path / PENDING_BEST, self.path / "best.pt")
        atomic_write_text(json.dumps(history, indent=1), self.path / "history.json")
