"""What the CLI writes, under mistakes and faults: no file is replaced unless the user says so, an input
is never its own output, a full disk leaves no partial file, and each failure is one sentence with exit
code 2.

Each class of case has its tests: outputs, shipping, run folders, training, video, packed data and
checkpoints. The CLI runs in this process (``main([...])``); a full disk is simulated by a file whose
writes fail with ENOSPC after a number of bytes, wherever fer_lib's one writer (``fer_lib.files``)
opens its temporary file.
"""

from __future__ import annotations

import errno
import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_lib import files
from fer_lib.__main__ import main
from fer_lib.data import read_packed, write_packed
from fer_lib.errors import ConfigError, DataError, TrainingDiverged, WriteError
from fer_lib.rundir import RunFolder
from fer_lib.train import DivergenceGuard, train

from .test_mistakes import cli, face_like, one_sentence, quick_cfg


class _FillsUp:
    """A file on a disk with ``room`` bytes left: the write that passes it fails with ENOSPC."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self.f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def __getattr__(self, name: str):
        return getattr(self.f, name)


def disk_fills_up(monkeypatch, room: int = 1000) -> None:
    """Every file fer_lib writes from now on fails after ``room`` bytes, as on a full disk."""
    real = files._create
    monkeypatch.setattr(files, "_create", lambda tmp: _FillsUp(real(tmp), room))


def left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def small_run(synth, tmp_path_factory) -> Path:
    """One epoch of report_cnn on 140 generated faces: a finished run folder."""
    out = tmp_path_factory.mktemp("small") / "run"
    train(quick_cfg(), synth, out)
    return out


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    (to / ".lock").unlink(missing_ok=True)
    return to


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "face.png"
    Image.fromarray(face_like(48)).save(path)
    return path


# --------------------------------------------------------------------------- outputs


def test_predict_never_replaces_a_file_without_force_nor_its_own_input(photo, toy_run, tmp_path, capsys):
    base = ["predict", "--model", str(toy_run), "--device", "cpu"]
    before = photo.read_bytes()
    for force in ([], ["--force"]):
        rc, err = cli(capsys, *base, str(photo), "-o", str(photo), *force)
        assert rc == 2
        one_sentence(err, f"-o {photo} is also what this command reads", "never its own output")
    assert photo.read_bytes() == before
    drawn = tmp_path / "drawn.png"
    drawn.write_bytes(b"a user's file")
    rc, err = cli(capsys, *base, str(photo), "-o", str(drawn))
    assert rc == 2
    one_sentence(err, f"-o {drawn} already exists; pass --force to replace it")
    assert drawn.read_bytes() == b"a user's file"
    assert main([*base, str(photo), "-o", str(drawn), "--force"]) == 0
    assert Image.open(drawn).size == (48, 48)
    assert not left_behind(tmp_path)


def test_photos_of_one_name_from_two_folders_are_not_drawn_over_each_other(toy_run, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(face_like(48)).save(tmp_path / folder / "astro.png")
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "a/astro.png"), str(tmp_path / "b/astro.png"), "--model", str(toy_run)]
    rc, err = cli(capsys, *args, "-o", str(out), "--force")
    assert rc == 2
    one_sentence(err, "would both be drawn as", "astro.png", "give the photos different names")
    assert not list(out.iterdir())
    (out / "astro.png").write_text("kept")
    Image.fromarray(face_like(48)).save(tmp_path / "other.png")
    rc, err = cli(
        capsys,
        "predict",
        str(tmp_path / "a/astro.png"),
        str(tmp_path / "other.png"),
        *args[3:],
        "-o",
        str(out),
    )
    assert rc == 2
    one_sentence(err, "astro.png already exists; pass --force")
    assert (out / "astro.png").read_text() == "kept" and not (out / "other.png").exists()


def test_explain_never_replaces_its_photo(photo, toy_run, tmp_path, capsys):
    rc, err = cli(capsys, "explain", str(photo), "-o", str(photo), "--model", str(toy_run), "--force")
    assert rc == 2
    one_sentence(err, "is also what this command reads")
    figure = tmp_path / "map.png"
    figure.write_text("earlier")
    rc, err = cli(capsys, "explain", str(photo), "-o", str(figure), "--model", str(toy_run))
    assert rc == 2
    one_sentence(err, "map.png already exists; pass --force")
    assert figure.read_text() == "earlier"


def test_export_and_evaluate_outputs(toy_run, synth_csv, tmp_path, capsys):
    onnx = tmp_path / "model.onnx"
    onnx.write_text("earlier")
    rc, err = cli(capsys, "export", str(toy_run), "--onnx", str(onnx))
    assert rc == 2
    one_sentence(err, "model.onnx already exists; pass --force")
    assert onnx.read_text() == "earlier"
    base = ["evaluate", str(toy_run), "--data", str(synth_csv), "--device", "cpu"]
    rc, err = cli(capsys, *base, "--save-predictions", str(tmp_path / "preds.txt"))
    assert rc == 2
    one_sentence(err, "preds.txt must end in .npz")
    assert not list(tmp_path.glob("preds*"))
    assert main([*base, "--save-predictions", str(tmp_path / "preds.npz")]) == 0
    saved = (tmp_path / "preds.npz").read_bytes()
    rc, err = cli(capsys, *base, "--save-predictions", str(tmp_path / "preds.npz"))
    assert rc == 2
    one_sentence(err, "preds.npz already exists")
    assert (tmp_path / "preds.npz").read_bytes() == saved


def test_pack_never_replaces_its_source_or_another_file(synth_csv, tmp_path, capsys):
    packed = tmp_path / "copy.fer.xz"
    assert main(["data", "pack", str(synth_csv), str(packed)]) == 0
    before = packed.read_bytes()
    rc, err = cli(capsys, "data", "pack", str(synth_csv), str(packed))
    assert rc == 2
    one_sentence(err, "copy.fer.xz already exists; pass --force")
    rc, err = cli(capsys, "data", "pack", str(packed), str(packed), "--force")
    assert rc == 2
    one_sentence(err, "is also what this command reads")
    assert packed.read_bytes() == before
    assert main(["data", "pack", str(synth_csv), str(packed), "--force", "--splits", "Training"]) == 0
    assert read_packed(packed).split_names() == ["Training"]


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_leaves_no_partial_file_wherever_fer_lib_writes(synth, toy_model, tmp_path, monkeypatch):
    from fer_lib.evaluate import save_predictions

    earlier = tmp_path / "kept.pt"
    earlier.write_bytes(b"the earlier file")
    disk_fills_up(monkeypatch, room=2000)
    noise = np.random.default_rng(0)
    writers = {
        "kept.pt": lambda p: files.save_checkpoint({"w": torch.zeros(10_000)}, p),
        "copy.fer.xz": lambda p: write_packed(synth, p),
        "preds.npz": lambda p: save_predictions(p, "PublicTest", noise.normal(size=(500, 7)), np.zeros(500)),
        "drawn.png": lambda p: files.save_image(
            Image.fromarray(noise.integers(0, 255, (200, 200), np.uint8)), p
        ),
    }
    for name, write in writers.items():
        with pytest.raises(WriteError, match=rf"^cannot write .*{name}: the file system is full; "):
            write(tmp_path / name)
    assert earlier.read_bytes() == b"the earlier file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.pt"]


def test_a_full_disk_during_export_leaves_no_onnx_file(toy_run, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxscript")
    disk_fills_up(monkeypatch, room=10_000)
    rc, err = cli(capsys, "export", str(toy_run), "--onnx", str(tmp_path / "m.onnx"))
    assert rc == 2
    one_sentence(err, "m.onnx: the file system is full; nothing was written, so free some space")
    assert not list(tmp_path.iterdir())


def test_a_full_disk_inside_torch_save_keeps_the_run(small_run, synth, tmp_path, monkeypatch):
    run = copy_run(small_run, tmp_path / "run")
    before = (run / "last.pt").read_bytes()
    disk_fills_up(monkeypatch, room=50_000)  # torch.save reports this as its own RuntimeError
    with pytest.raises(WriteError, match=r"the file system is full; the last complete checkpoint is kept"):
        train(quick_cfg(epochs=2), synth, run, resume=True)
    monkeypatch.undo()
    assert (run / "last.pt").read_bytes() == before and not left_behind(run)
    assert len(train(quick_cfg(epochs=2), synth, run, resume=True)) == 2


# --------------------------------------------------------------------------- shipping


def test_ship_writes_only_where_it_is_told(toy_run, synth, synth_csv, tmp_path, capsys, monkeypatch):
    import fer_lib.pretrained as pretrained
    from fer_lib.ship import export_pretrained

    with pytest.raises(SystemExit) as stop:  # the parser's own refusal: exit 2, one line
        main(["ship", "record", str(toy_run), "--data", str(synth_csv), "--question", "q"])
    assert stop.value.code == 2
    one_sentence(capsys.readouterr().err, "one of the arguments --dest --package is required")
    dest = tmp_path / "dest"
    rc, err = cli(
        capsys,
        "ship",
        "export",
        str(toy_run),
        "--data",
        str(synth_csv),
        "--dest",
        str(dest),
        "--name",
        "../escaped",
    )
    assert rc == 2
    one_sentence(err, "--name '../escaped' is not a plain name")
    assert not dest.exists() and not (tmp_path / "escaped.pt").exists()

    export_pretrained(toy_run, synth, name="toy", dest=dest)
    card = (dest / "toy.json").read_bytes()
    rc, err = cli(
        capsys, "ship", "export", str(toy_run), "--data", str(synth_csv), "--dest", str(dest), "--name", "toy"
    )
    assert rc == 2
    one_sentence(err, "already ships a model named 'toy' (toy.pt, toy.json); pass --force")
    assert (dest / "toy.json").read_bytes() == card

    record = ["ship", "record", str(toy_run), "--data", str(synth_csv), "--question", "does it learn?"]
    assert main([*record, "--dest", str(dest)]) == 0
    first = (dest / "experiments" / f"{toy_run.name}.json").read_text()
    rc, err = cli(capsys, *record, "--dest", str(dest), "--note", "again")
    assert rc == 2
    one_sentence(err, "already records a run named", "pass --force")
    assert (dest / "experiments" / f"{toy_run.name}.json").read_text() == first
    assert main([*record, "--dest", str(dest), "--note", "again", "--force"]) == 0
    assert json.loads((dest / "experiments" / f"{toy_run.name}.json").read_text())["note"] == "again"
    rc, err = cli(capsys, "ship", "retire", "toy", "--question", "q", "--dest", str(dest))  # the same run
    assert rc == 2
    one_sentence(err, f"already records a run named '{toy_run.name}'")

    package = tmp_path / "package"  # --package names the installed package's folder, here stood in for
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", package)
    assert main([*record, "--package"]) == 0
    assert (package / "experiments" / f"{toy_run.name}.json").exists()


def test_shipped_names_stay_inside_the_folder(toy_run, synth, tmp_path):
    from fer_lib.ship import export_pretrained, record_predictions, retire_pretrained

    for bad in ("../up", "a/b", ".hidden", "", "x/../../y"):
        with pytest.raises(ConfigError, match="is not a plain name"):
            export_pretrained(toy_run, synth, name=bad, dest=tmp_path / "d")
    with pytest.raises(ConfigError, match="is not a plain name"):
        retire_pretrained("../toy", "q", source=tmp_path, dest=tmp_path / "r")
    with pytest.raises(ConfigError, match="is not a plain name"):
        record_predictions("../../toy", synth, dest=tmp_path)
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- run folders


def test_a_lock_that_is_a_link_is_not_followed(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("a user's file")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    with pytest.raises(ConfigError, match=r"\.lock is a symbolic link, not the run's own lock file; remove"):
        RunFolder(run).lock()
    (run / ".lock").unlink()
    (run / ".lock").hardlink_to(victim)
    with pytest.raises(ConfigError, match=r"not a plain file of the run's own"):
        RunFolder(run).lock()
    assert victim.read_text() == "a user's file"


def test_the_lock_stays_one_file_opened_in_place(tmp_path):
    """The lock is the one file not renamed into place: a killed run's is opened again, the same file, so that
    every process flocks one and the same."""
    import os

    from fer_lib.files import open_lock

    lock = tmp_path / ".lock"
    with open_lock(lock) as f:  # left by a killed run
        f.write("999999")
    inode = lock.stat().st_ino
    with RunFolder(tmp_path):
        assert lock.stat().st_ino == inode and lock.read_text() == str(os.getpid())
    assert not list(tmp_path.glob(".lock.*"))


def test_cleanup_removes_only_the_runs_own_temporary_files(small_run, synth, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    mine = ["notes.tmp", "best.pt.tmp", "last.pt.draft.tmp"]
    for name in mine:
        (run / name).write_text("a user's")
    (run / "last.pt.999999.tmp").write_bytes(b"half a checkpoint of a killed process")
    train(quick_cfg(epochs=2), synth, run, resume=True)
    assert sorted(p.name for p in run.glob("*.tmp")) == sorted(mine)


def test_contradictory_or_empty_resumes_are_refused(small_run, synth_csv, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    before = {n: (run / n).read_bytes() for n in ("last.pt", "best.pt")}
    common = ["train", "--model", "report_cnn", "--data", str(synth_csv), "--epochs", "2", "--limit", "140"]
    rc, err = cli(capsys, *common, "--out", str(run), "--force", "--resume")
    assert rc == 2
    one_sentence(err, "--force and --resume contradict each other")
    assert {n: (run / n).read_bytes() for n in before} == before
    rc, err = cli(capsys, *common, "--out", str(tmp_path / "empty"), "--resume")
    assert rc == 2
    one_sentence(err, "holds no run to resume (no last.pt); leave out --resume")
    assert not (tmp_path / "empty" / "last.pt").exists()
    with pytest.raises(ConfigError, match="contradict"):
        train(quick_cfg(), None, run, resume=True, force=True)


def test_a_damaged_best_checkpoint_is_repaired_from_last_or_refused(
    small_run, synth, synth_csv, tmp_path, capsys
):
    run = copy_run(small_run, tmp_path / "run")  # one epoch: last.pt holds the best epoch
    whole = torch.load(run / "best.pt", weights_only=True)
    (run / "best.pt").write_bytes((run / "best.pt").read_bytes()[:2000])
    resume = ["train", "--model", "report_cnn", "--data", str(synth_csv), "--epochs", "1", "--limit", "140"]
    rc = main([*resume, "--batch-size", "64", "--out", str(run), "--resume", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "best.pt was truncated or damaged; it was rewritten from last.pt" in err
    repaired = torch.load(run / "best.pt", weights_only=True)
    assert repaired["meta"] == whole["meta"]
    assert all(torch.equal(repaired["model"][k], v) for k, v in whole["model"].items())

    other = copy_run(small_run, tmp_path / "other")  # last.pt a later epoch than the best
    last = torch.load(other / "last.pt", weights_only=True)
    meta = json.loads(last["meta"])
    meta["history"].append(dict(meta["history"][0], epoch=2, val_acc=meta["history"][0]["val_acc"] - 0.1))
    meta.update(epoch=2, config=dict(meta["config"], epochs=2))
    torch.save(dict(last, meta=json.dumps(meta)), other / "last.pt")
    (other / "best.pt").write_bytes(b"")
    with pytest.raises(
        ConfigError, match=r"best.pt is truncated or damaged, and last.pt holds epoch 2, not the best epoch 1"
    ):
        train(quick_cfg(epochs=3), synth, other, resume=True)


# --------------------------------------------------------------------------- training


def test_the_divergence_rule():
    guard = DivergenceGuard(Path("/nonexistent/last.pt"), bf16=False)
    guard.check(1.0, 0, 0)  # below chance level: the reference is ln 7
    assert guard.start == pytest.approx(np.log(7))
    guard.check(20 * np.log(7) - 0.01, 0, 49)
    with pytest.raises(
        TrainingDiverged,
        match=r"reached 39\.1, more than 20 times where it started \(1\.95\) at epoch 1, step 51; no check",
    ):
        guard.check(39.1, 0, 50)
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 2, step 1"):
        guard.check(float("nan"), 1, 0)
    high = DivergenceGuard(Path("last.pt"), bf16=True)
    high.check(5.0, 0, 0)  # a loss that starts above chance (distillation, say) is its own reference
    high.check(99.0, 0, 50)
    with pytest.raises(TrainingDiverged, match=r"\(5\) .* or turn off bf16"):
        high.check(101.0, 0, 100)


def test_a_diverging_run_stops_with_one_sentence_and_keeps_its_last_good_epoch(
    small_run, synth_csv, tmp_path, capsys
):
    run = copy_run(small_run, tmp_path / "run")
    before = (run / "last.pt").read_bytes()
    args = ["train", "--model", "report_cnn", "--data", str(synth_csv), "--out", str(run), "--epochs", "2"]
    rc, err = cli(
        capsys,
        *args,
        "--limit",
        "140",
        "--batch-size",
        "64",
        "--lr",
        "1e6",
        "--resume",
        "--quiet",
        "--device",
        "cpu",
    )
    assert rc == 2
    one_sentence(
        err,
        "the training loss",
        "at epoch 2",
        f"the last good checkpoint is kept at {run / 'last.pt'}",
        "lower the learning rate",
    )
    assert (run / "last.pt").read_bytes() == before


# --------------------------------------------------------------------------- video


def write_video(path: Path, frames: int) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    for i in range(frames):
        w.write(np.full((64, 64, 3), 40 + 4 * i, np.uint8))
    w.release()
    return path


def test_a_truncated_video_is_an_error_and_keeps_what_was_read(toy_run, tmp_path, capsys):
    pytest.importorskip("cv2")
    whole = write_video(tmp_path / "clip.avi", 40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    base = ["predict", "--model", str(toy_run), "--every", "0.1", "--no-detect"]
    assert main([*base, "--video", str(whole), "-o", str(tmp_path / "whole.csv")]) == 0
    assert "40 frames read" in capsys.readouterr().err
    rc, err = cli(capsys, *base, "--video", str(cut), "-o", str(tmp_path / "cut.csv"))
    assert rc == 2
    one_sentence(
        err,
        "cut.avi: the video ends after frame",
        "of the 40 its header counts",
        "truncated or damaged",
        "are in",
    )
    read = (tmp_path / "cut.csv").read_text().splitlines()
    assert 1 < len(read) < 41  # a header and the frames read
    rc, err = cli(capsys, *base, "--video", str(whole), "--max-frames", "-1")
    assert rc == 2
    one_sentence(err, "--max-frames must be a whole number >= 1, got -1")
    rc, err = cli(capsys, *base, "--video", str(whole), "-o", str(tmp_path / "whole.csv"))
    assert rc == 2
    one_sentence(err, "whole.csv already exists")


# --------------------------------------------------------------------------- packed data


def packed_with(header: bytes, body: bytes = b"") -> bytes:
    return lzma.compress(b"FERPACK1\n" + header + b"\n" + body, format=lzma.FORMAT_XZ)


@pytest.mark.parametrize(
    "header, words",
    [
        (b"{not json", "the header of the packed copy is not readable"),
        (b"[1, 2]", "the header of the packed copy is not readable"),
        (b'{"splits": ["Training"], "fingerprint": "x"}', "lacks or garbles 'n'"),
        (b'{"n": "2", "splits": ["Training"], "fingerprint": "x"}', "lacks or garbles 'n'"),
        (b'{"n": 1, "splits": ["Other"], "fingerprint": "x"}', "lacks or garbles 'splits'"),
        (b'{"n": 1, "splits": ["Training"]}', "lacks or garbles 'fingerprint'"),
    ],
)
def test_a_packed_copy_with_broken_metadata_is_one_sentence(header, words, tmp_path, capsys):
    bad = tmp_path / "bad.fer.xz"
    bad.write_bytes(packed_with(header))
    with pytest.raises(DataError, match=words):
        read_packed(bad)
    rc, err = cli(capsys, "data", "info", str(bad))
    assert rc == 2
    one_sentence(err, words, "pack the data again")


def test_a_packed_copy_with_codes_out_of_range(tmp_path):
    bad = tmp_path / "codes.fer.xz"
    header = json.dumps({"n": 1, "splits": ["Training"], "fingerprint": "x"}).encode()
    bad.write_bytes(packed_with(header, bytes([9, 5]) + bytes(48 * 48)))
    with pytest.raises(DataError, match="labels or split codes out of range"):
        read_packed(bad)


def test_a_binary_file_is_not_quoted_to_the_terminal(tmp_path, capsys):
    blob = tmp_path / "photo.csv"
    blob.write_bytes(b"\x1b[2J\x1b]0;owned\x07emotion\x00\x01" + bytes(range(256)) * 40)
    rc, err = cli(capsys, "data", "info", str(blob))
    assert rc == 2
    one_sentence(err, "not a FER2013 file", "binary data, not a CSV header")
    assert not any(ord(c) < 32 for c in err.rstrip("\n"))
    text = tmp_path / "odd.csv"
    text.write_text("emotion,pixels,Usage\n0,1 2,Training\x1b[31m\n")
    rc, err = cli(capsys, "data", "info", str(text))
    assert rc == 2 and "\x1b" not in err and "\\x1b" in err


# --------------------------------------------------------------------------- checkpoints


def test_a_small_checkpoint_cannot_make_a_large_model(toy_run, tmp_path, capsys, monkeypatch):
    import fer_lib.models as models

    ckpt = torch.load(toy_run / "best.pt", weights_only=True)
    meta = json.loads(ckpt["meta"])
    meta.update(model="fer_vgg", model_kwargs={"widths": [2048, 2048]})  # 113M parameters, 450 MB
    tiny = tmp_path / "tiny.pt"
    torch.save({"model": {}, "meta": json.dumps(meta)}, tiny)
    assert tiny.stat().st_size < 4000
    built, real = [], models.build_model
    monkeypatch.setattr(models, "build_model", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    rc, err = cli(capsys, "evaluate", str(tiny), "--data", "unused.csv")
    assert rc == 2
    one_sentence(err, "its weights do not fit a 'fer_vgg'", "missing key")
    assert built and all(p.is_meta for m in built for p in m.parameters())  # shapes only, no memory


def test_compact_run_on_a_crafted_file_is_one_sentence(tmp_path):
    import pickle

    from fer_lib.ship import compact_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(
        pickle.dumps(print, protocol=2)
    )  # not weights: torch refuses to unpickle it
    with pytest.raises(ConfigError, match=r"best.pt: not a readable fer_lib checkpoint"):
        compact_run(run, tmp_path / "out")
    torch.save({"model": {"w": "not a tensor"}, "meta": "{}"}, run / "best.pt")
    with pytest.raises(ConfigError, match=r"its weights are not a state dict of tensors"):
        compact_run(run, tmp_path / "out")


def test_evaluate_checks_best_against_the_folders_history(small_run, toy_run, synth_csv, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    shutil.copy(toy_run / "best.pt", run / "best.pt")  # another run's weights
    base = ["--data", str(synth_csv), "--device", "cpu"]
    rc, err = cli(capsys, "evaluate", str(run), *base)
    assert rc == 2
    one_sentence(
        err, "best.pt is not the best epoch of the run in", "its model, data or history differ", "pass"
    )
    assert (
        main(["evaluate", str(run / "best.pt"), *base]) == 0
    )  # the file itself, taken as it is, with a note
    assert "fer-lib: note: " in capsys.readouterr().err

    swapped = copy_run(toy_run, tmp_path / "swapped")  # other weights under the run's own metadata
    ckpt = torch.load(swapped / "best.pt", weights_only=True)
    ckpt["model"] = {k: v * 0 if k.endswith("weight") else v for k, v in ckpt["model"].items()}
    torch.save(ckpt, swapped / "best.pt")
    preds = tmp_path / "preds.npz"
    rc, err = cli(capsys, "evaluate", str(swapped), *base, "--save-predictions", str(preds))
    assert rc == 2
    one_sentence(
        err, "gives PublicTest accuracy", "but its history recorded", "not the ones that epoch saved"
    )
    assert not preds.exists() and not list(tmp_path.glob("preds.npz.*"))  # refused: nothing written
    assert main(["evaluate", str(swapped / "best.pt"), *base, "--save-predictions", str(preds)]) == 0
    assert "fer-lib: note: " in capsys.readouterr().err and len(np.load(preds)["labels"]) > 0
    assert main(["evaluate", str(toy_run), *base]) == 0 and "note" not in capsys.readouterr().err
