"""A training run's folder: one writer at a time, and checkpoints committed as a consistent pair.

An epoch that improves writes its weights to ``best.next.pt``, then ``last.pt`` (the commit point: its
history says which epoch best.pt must hold), then renames ``best.next.pt`` to ``best.pt``. Wherever a
process is killed, :meth:`RunFolder.settle` finds the best file that belongs to ``last.pt``, so that a
resumed run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from .checks import output_dir
from .errors import ConfigError, Note
from .files import NotOwnFile, open_lock, own_temp_files, save_checkpoint, write_failed, write_text
from .models import checkpoint_meta, read_checkpoint

RUN_FILES = ("last.pt", "best.pt", "history.json")
LOCK_NAME = ".lock"
PENDING_BEST = "best.next.pt"


# what a failed write of a run file says: the commit order keeps the last complete epoch
RESUME_HINT = (
    "the last complete checkpoint is kept, so free space or fix the folder and run the same command with "
    "--resume"
)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically (``fer_lib.files``), saying on failure that the run can be resumed."""
    save_checkpoint(obj, path, hint=RESUME_HINT)


def atomic_write_text(text: str, path: Path) -> None:
    write_text(path, text, hint=RESUME_HINT)


def best_epoch(history: list[dict]) -> int | None:
    """The epoch best.pt holds: the first with the highest val_acc (every epoch's weights when there is no
    validation)."""
    if not history:
        return None
    if "val_acc" not in history[0]:
        return history[-1]["epoch"]
    best = max(h["val_acc"] for h in history)
    return next(h["epoch"] for h in history if h["val_acc"] == best)


def best_mismatch(folder: Path, best_meta: dict) -> str | None:
    """Why ``best_meta`` (best.pt's) is not the best epoch of the run in ``folder/last.pt``; None where it is,
    or where the folder holds no readable last.pt."""
    last = folder / "last.pt"
    try:
        meta = checkpoint_meta(last)
    except ConfigError:
        return None
    history, got = meta.get("history") or [], best_meta.get("epoch")
    want = best_epoch(history)
    same_run = (
        isinstance(got, int)
        and all(best_meta.get(k) == meta.get(k) for k in ("model", "model_kwargs", "data_hash"))
        and best_meta.get("history") == history[:got]
    )
    if same_run and got == want:
        return None
    held = (
        f"it holds epoch {got}, not the best epoch {want}"
        if same_run
        else "its model, data or history differ"
    )
    return f"{folder / 'best.pt'} is not the best epoch of the run in {last} ({held})"


def recorded_val_acc(meta: dict) -> float | None:
    """The PublicTest accuracy a trainer checkpoint's own history recorded for the epoch it holds (None where
    it has none, or where its BatchNorm statistics were recomputed after training)."""
    epoch, history = meta.get("epoch"), meta.get("history") or []
    if meta.get("batchnorm") or not isinstance(epoch, int) or not 0 < epoch <= len(history):
        return None
    value = history[epoch - 1].get("val_acc") if isinstance(history[epoch - 1], dict) else None
    return value if isinstance(value, float) else None


def _epoch_or_none(path: Path) -> int | None:
    """The epoch a checkpoint holds, or None where it is missing or cannot be read."""
    try:
        return checkpoint_meta(path).get("epoch")
    except ConfigError:
        return None


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
            f = open_lock(lock_path)  # opened in place, never through a link: the file is truncated below
        except NotOwnFile as e:
            if e.link:
                raise ConfigError(
                    f"{lock_path} is a symbolic link, not the run's own lock file; remove the link and run "
                    "the command again."
                ) from None
            raise ConfigError(
                f"{lock_path} is not a plain file of the run's own (a special file, or a hard link to "
                "another file); remove it and run the command again."
            ) from None
        except OSError as e:
            raise ConfigError(
                f"cannot write into {self.path} ({e.strerror or e}); choose a folder you can write to with "
                "--out."
            ) from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read(32).strip() or "another process"
            f.close()
            raise ConfigError(
                f"{self.path} is in use: process {owner} is training into it; wait for it to finish, "
                "or choose another --out folder."
            ) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        except OSError as e:
            f.close()
            raise write_failed(lock_path, e) from None
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
        """Make best.pt and history.json agree with last.pt after a kill at any moment (or repair a damaged
        best.pt from last.pt where it holds the same epoch); remove the temporary files of killed writers."""
        for tmp in own_temp_files(self.path, (*RUN_FILES, PENDING_BEST)):  # the lock says no writer is alive
            tmp.unlink(missing_ok=True)
        last, pending = self.path / "last.pt", self.path / PENDING_BEST
        if not last.exists():
            pending.unlink(missing_ok=True)
            return
        meta = read_meta(last)
        if pending.exists():
            if _epoch_or_none(pending) == best_epoch(meta["history"]):
                os.replace(pending, self.path / "best.pt")  # killed after last.pt was committed
            else:
                pending.unlink()  # killed before (or while writing it): last.pt still names the older best
        self._check_best(meta)
        atomic_write_text(json.dumps(meta["history"], indent=1), self.path / "history.json")

    def _check_best(self, meta: dict) -> None:
        """A best.pt that is missing or cannot be read is rewritten from last.pt where that holds the best
        epoch, and refused otherwise."""
        best, want = self.path / "best.pt", best_epoch(meta["history"])
        if want is None or _epoch_or_none(best) is not None:
            return
        what = "missing" if not best.exists() else "truncated or damaged"
        if meta["epoch"] != want:
            raise ConfigError(
                f"{best} is {what}, and last.pt holds epoch {meta['epoch']}, not the best epoch {want}, so "
                "the best weights cannot be recovered; start the run again with --force, or train into a new "
                "--out folder."
            )
        ckpt = read_checkpoint(self.path / "last.pt")[0]
        atomic_save({"model": ckpt["model"], "meta": ckpt["meta"]}, best)  # what commit() writes as best
        warnings.warn(
            f"{best} was {what}; it was rewritten from last.pt, which holds the same epoch ({want}).",
            Note,
            stacklevel=2,
        )

    def commit(self, last: dict, best: dict | None, history: list[dict]) -> None:
        """Write one epoch: best (if it improved), last.pt, then history.json."""
        if best is not None:
            atomic_save(best, self.path / PENDING_BEST)
        atomic_save(last, self.path / "last.pt")
        if best is not None:
            os.replace(self.path / PENDING_BEST, self.path / "best.pt")
        atomic_write_text(json.dumps(history, indent=1), self.path / "history.json")
