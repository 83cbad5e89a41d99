"""Ordinary mistakes and faults: each ends in one sentence and exit code 2, and no run is lost.

The CLI is called in this process (``main([...])``) where that is enough to see its exit code and
message; a few cases run it as a real process to see that no traceback reaches the user.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_lib.__main__ import main
from fer_lib.data import load_fer2013, read_any_image, write_csv
from fer_lib.errors import ConfigError, DataError, FerError
from fer_lib.rundir import RunFolder
from fer_lib.train import TrainConfig, train

from .conftest import REPO, run_cli


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, what it printed to stderr)."""
    rc = main(list(args))
    return rc, capsys.readouterr().err


def one_sentence(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-lib: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


def quick_cfg(**kw) -> TrainConfig:
    return TrainConfig(
        **{
            "model": "report_cnn",
            "epochs": 1,
            "batch_size": 64,
            "limit": 140,
            "progress": False,
            "device": "cpu",
            **kw,
        }
    )


# --------------------------------------------------------------------------- data


def test_a_gzip_file_of_several_members_is_read_whole(synth, tmp_path):
    plain = write_csv(synth, tmp_path / "whole.csv").read_bytes()
    cut = plain.index(b"\n", len(plain) // 2) + 1
    joined = tmp_path / "members.csv.gz"  # what `gzip -c a >> f; gzip -c b >> f` (or bgzip) writes
    joined.write_bytes(gzip.compress(plain[:cut]) + gzip.compress(plain[cut:]) + b"\0" * 16)
    data = load_fer2013(joined)
    assert len(data) == len(synth) and np.array_equal(data.images, synth.images)
    rc = main(["data", "info", str(joined), "--json"])
    assert rc == 0


def test_bytes_after_the_gzip_stream_are_an_error(synth, tmp_path):
    bad = tmp_path / "tail.csv.gz"
    bad.write_bytes(
        gzip.compress(write_csv(synth, tmp_path / "a.csv").read_bytes()) + b"<html>not data</html>"
    )
    with pytest.raises(DataError, match=r"21 bytes after the end of the gzip data are not gzip"):
        load_fer2013(bad)
    short = tmp_path / "short.csv.gz"
    short.write_bytes(bad.read_bytes()[:-200])
    with pytest.raises(DataError, match=r"truncated"):
        load_fer2013(short)


def test_a_csv_with_a_byte_order_mark_loads(tiny, tmp_path):
    csv = write_csv(tiny, tmp_path / "plain.csv")
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    data = load_fer2013(bom)
    assert np.array_equal(data.images, tiny.images) and np.array_equal(data.labels, tiny.labels)
    gz = tmp_path / "excel.csv.gz"
    gz.write_bytes(gzip.compress(bom.read_bytes()))
    assert len(load_fer2013(gz)) == len(tiny)


# --------------------------------------------------------------------------- images


def face_like(size: int = 96) -> np.ndarray:
    """A grey gradient with a dark block in the top-left corner: which way is up is plain to see."""
    a = np.tile(np.linspace(60, 200, size), (size, 1))
    a[: size // 4, : size // 3] = 10
    return a.round().astype(np.uint8)


def test_a_16_bit_png_keeps_its_greys(tmp_path):
    a8 = face_like()
    Image.fromarray(a8.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    Image.fromarray(a8).save(tmp_path / "plain.png")
    deep, plain = read_any_image(tmp_path / "deep.png"), read_any_image(tmp_path / "plain.png")
    assert np.abs(deep.astype(int) - plain.astype(int)).max() <= 1
    assert 100 < deep.mean() < 160  # not clipped to white


def test_exif_orientation_is_applied(tmp_path):
    upright = face_like()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the camera stored the picture turned a quarter left
    Image.fromarray(upright).rotate(90, expand=True).save(tmp_path / "phone.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    assert np.array_equal(read_any_image(tmp_path / "phone.png"), read_any_image(tmp_path / "upright.png"))


def test_images_that_cannot_be_faces_or_cannot_be_read(tmp_path, monkeypatch, capsys):
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(DataError, match=r"dot.png: the image is 1x1 pixels, too small to hold a face"):
        read_any_image(tmp_path / "dot.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match=r"notes.png: cannot read the image: not a format PIL knows"):
        read_any_image(tmp_path / "notes.png")
    with pytest.raises(DataError, match=r"no such file"):
        read_any_image(tmp_path / "gone.png")
    Image.fromarray(face_like()).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 96x96 is past twice this: PIL's bomb guard
    with pytest.raises(DataError, match=r"more pixels than PIL opens safely"):
        read_any_image(tmp_path / "big.png")
    monkeypatch.undo()
    rc, err = cli(capsys, "predict", str(tmp_path / "dot.png"))
    assert rc == 2
    one_sentence(err, "too small to hold a face")


# --------------------------------------------------------------------------- checkpoints


def test_weights_with_nan_are_refused(toy_run, tmp_path, synth_csv, capsys):
    ckpt = torch.load(toy_run / "best.pt", weights_only=True)
    key = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][key] = ckpt["model"][key].clone().fill_(float("nan"))
    torch.save(ckpt, tmp_path / "nan.pt")
    rc, err = cli(capsys, "evaluate", str(tmp_path / "nan.pt"), "--data", str(synth_csv))
    assert rc == 2
    one_sentence(err, "NaN or infinite", key)


def test_a_checkpoint_of_another_architecture_is_refused(toy_run, tmp_path, capsys):
    from fer_lib.models import build_model
    from fer_lib.pretrained import load_model

    ckpt = torch.load(toy_run / "best.pt", weights_only=True)
    ckpt["model"] = build_model("simple_cnn").state_dict()  # the metadata still says report_cnn
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=r"other.pt: its weights do not fit a 'report_cnn'"):
        load_model(tmp_path / "other.pt")
    torch.save({"model": {}, "meta": "{not json"}, tmp_path / "meta.pt")
    with pytest.raises(ConfigError, match=r"its metadata is not readable"):
        load_model(tmp_path / "meta.pt")


def test_evaluate_takes_a_run_folder(toy_run, synth_csv, tmp_path, capsys):
    rc = main(["evaluate", str(toy_run), "--data", str(synth_csv), "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["n"] > 0
    rc, err = cli(capsys, "evaluate", str(tmp_path), "--data", str(synth_csv))
    assert rc == 2
    one_sentence(err, "a folder without best.pt")


def test_unknown_model_arguments_name_the_ones_that_exist(capsys, synth_csv, tmp_path):
    from fer_lib.models import build_model

    with pytest.raises(
        ConfigError, match=r"report_cnn cannot be built .* it takes no argument 'hed' \(it takes dropout, "
    ):
        build_model("report_cnn", hed="dense")
    rc, err = cli(
        capsys,
        "train",
        "--model",
        "simple_cnn",
        "--model-arg",
        "head=wide",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
    )
    assert rc == 2
    one_sentence(err, "unknown head 'wide'")


def test_a_truncated_last_checkpoint_on_resume(toy_run, synth_csv, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    (run / "last.pt").write_bytes((run / "last.pt").read_bytes()[:1000])
    rc, err = cli(
        capsys,
        "train",
        "--model",
        "report_cnn",
        "--data",
        str(synth_csv),
        "--out",
        str(run),
        "--epochs",
        "3",
        "--resume",
    )
    assert rc == 2
    one_sentence(err, "last.pt: cannot be read", "truncated or damaged", "--force")


# --------------------------------------------------------------------------- training options and outputs


@pytest.mark.parametrize(
    "setting, value, words",
    [
        ("lr", 0.0, "lr must be > 0"),
        ("lr", -1e-3, "lr must be > 0"),
        ("lr", float("nan"), "lr must be > 0"),
        ("weight_decay", -1.0, "weight_decay must be >= 0"),
        ("weight_decay", float("nan"), "weight_decay must be >= 0"),
        ("label_smoothing", 1.0, "label_smoothing must be >= 0 and < 1"),
        ("label_smoothing", -0.1, "label_smoothing"),
        ("erase", 1.5, "erase must be >= 0 and <= 1"),
        ("shift", float("inf"), "shift must be >= 0"),
        ("epochs", 0, "epochs must be a whole number >= 1"),
        ("batch_size", 1, "batch_size must be a whole number >= 2"),
    ],
)
def test_settings_out_of_range_name_the_setting(setting, value, words):
    with pytest.raises(ConfigError, match="^" + words.replace("(", r"\(")):
        quick_cfg(**{setting: value}).check()


def test_the_cli_refuses_bad_numbers_without_a_traceback(synth_csv, tmp_path):
    r = run_cli(
        "train",
        "--model",
        "report_cnn",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--lr",
        "nan",
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "fer-lib: error: lr must be > 0, got nan; a learning rate such as 1e-3."
    assert not (tmp_path / "r").exists()


def test_output_folders_that_cannot_hold_a_run(synth_csv, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    common = ["train", "--model", "report_cnn", "--data", str(synth_csv), "--epochs", "1"]
    rc, err = cli(capsys, *common, "--out", str(tmp_path / "afile"))
    assert rc == 2
    one_sentence(err, "afile is a file, not a folder")
    rc, err = cli(capsys, *common, "--out", "/proc/fer_lib_run")
    assert rc == 2
    one_sentence(err, "cannot create the folder /proc/fer_lib_run")
    rc, err = cli(capsys, *common, "--out", str(tmp_path / "r"), "--stop-after", "0")
    assert rc == 2
    one_sentence(err, "stop_after must be a whole number >= 1")


def test_a_full_file_system_keeps_the_last_good_checkpoint(synth, tmp_path, monkeypatch):

    out = tmp_path / "run"
    train(quick_cfg(epochs=2), synth, out, stop_after=1)
    before = (out / "last.pt").read_bytes()
    real_save = torch.save

    def full(obj, f, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(
        FerError, match=r"cannot write .*: the file system is full; the last complete checkpoint is kept"
    ):
        train(quick_cfg(epochs=2), synth, out, resume=True)
    monkeypatch.setattr(torch, "save", real_save)
    assert (out / "last.pt").read_bytes() == before and not list(out.glob("*.tmp"))
    assert len(train(quick_cfg(epochs=2), synth, out, resume=True)) == 2


def test_a_run_is_never_replaced_without_force(synth, tmp_path, capsys, synth_csv):
    out = tmp_path / "run"
    train(quick_cfg(), synth, out)
    before = (out / "best.pt").read_bytes()
    with pytest.raises(
        ConfigError, match=r"already holds a training run \(last.pt, best.pt, history.json\); pass --resume"
    ):
        train(quick_cfg(lr=3e-3), synth, out)
    assert (out / "best.pt").read_bytes() == before
    history = train(quick_cfg(lr=3e-3, seed=5), synth, out, force=True)
    assert len(history) == 1 and json.loads((out / "history.json").read_text()) == history
    assert torch.load(out / "last.pt", weights_only=True)["meta"].count('"seed": 5') == 1
    rc, err = cli(
        capsys, "train", "--model", "report_cnn", "--data", str(synth_csv), "--out", str(out), "--epochs", "1"
    )
    assert rc == 2
    one_sentence(err, "already holds a training run", "--force")


def test_a_folder_in_use_is_refused(synth, tmp_path):
    out = tmp_path / "run"
    with RunFolder(
        out
    ):  # another training holds the lock (flock: per open file, so this process counts as another)
        with pytest.raises(ConfigError, match=rf"{out} is in use: process {os.getpid()} is training into it"):
            train(quick_cfg(), synth, out)
    assert not (out / "last.pt").exists()
    assert len(train(quick_cfg(), synth, out)) == 1  # free again once the other ends


KILLER = r"""
import os, signal, sys
from fer_lib import rundir
from fer_lib.synthetic import synthetic_fer
from fer_lib.train import TrainConfig, train

out, point, nth, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume"
real_replace, seen = os.replace, {"n": 0}

def replace(src, dst):
    real_replace(src, dst)
    dst = os.fspath(dst)
    if dst.endswith(rundir.PENDING_BEST):
        seen["n"] += 1
    pending = os.path.exists(os.path.join(out, rundir.PENDING_BEST))
    if seen["n"] == nth and ((point == "before-last" and dst.endswith(rundir.PENDING_BEST))
                             or (point == "before-rename" and dst.endswith("last.pt") and pending)):
        os.kill(os.getpid(), signal.SIGKILL)

rundir.os.replace = replace
cfg = TrainConfig(model="report_cnn", epochs=4, batch_size=64, lr=2e-3, progress=False, device="cpu")
train(cfg, synthetic_fer(700, 140, 140, seed=0), out, resume=resume)
"""


def run_killer(
    out: Path, point: str = "none", nth: int = 0, resume: bool = False
) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(out), point, str(nth), "resume" if resume else "fresh"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before-last", "before-rename"])
def test_a_kill_between_the_two_saves_resumes_to_the_uninterrupted_result(tmp_path, point):
    ref = tmp_path / "ref"
    assert run_killer(ref).returncode == 0
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    ref_history = strip(json.loads((ref / "history.json").read_text()))
    accs = [h["val_acc"] for h in ref_history]
    improvements = sum(a > max(accs[:i], default=-1) for i, a in enumerate(accs))
    assert improvements >= 2, f"the reference run must improve twice for this test to mean anything: {accs}"

    out = tmp_path / "killed"
    r = run_killer(out, point, nth=2)
    assert r.returncode == -signal.SIGKILL, r.stderr  # killed by its own process id at the chosen moment
    assert (out / "best.next.pt").exists()
    r = run_killer(out, resume=True)
    assert r.returncode == 0, r.stderr
    assert strip(json.loads((out / "history.json").read_text())) == ref_history
    for name in ("best.pt", "last.pt"):
        got, want = (torch.load(d / name, weights_only=True) for d in (out, ref))
        assert json.loads(got["meta"])["epoch"] == json.loads(want["meta"])["epoch"], name
        assert all(torch.equal(got["model"][k], want["model"][k]) for k in want["model"]), name
    assert not (out / "best.next.pt").exists() and not list(out.glob("*.tmp"))


# --------------------------------------------------------------------------- other outputs


def test_pack_onto_a_folder_leaves_nothing_behind(synth_csv, tmp_path, capsys):
    target = tmp_path / "copy.fer.xz"
    target.mkdir()
    rc, err = cli(capsys, "data", "pack", str(synth_csv), str(target))
    assert rc == 2
    one_sentence(err, "copy.fer.xz: a folder")
    assert not list(tmp_path.glob("*.part"))


def test_explain_output_names(tmp_path, capsys, toy_run):
    Image.fromarray(face_like(48)).save(tmp_path / "face.png")
    base = ["explain", str(tmp_path / "face.png"), "--model", str(toy_run / "best.pt"), "--device", "cpu"]
    rc, err = cli(capsys, *base, "-o", str(tmp_path / "missing" / "map.png"))
    assert rc == 2
    one_sentence(err, f"the folder {tmp_path / 'missing'} does not exist")
    rc, err = cli(capsys, *base, "-o", str(tmp_path / "map.gif"))
    assert rc == 2
    one_sentence(err, "must end in .png or .jpg")
    rc = main([*base, "-o", str(tmp_path / "map")])
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "map.png").exists() and f"written to {tmp_path / 'map.png'}" in out
