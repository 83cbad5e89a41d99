import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_lib import train as T
from fer_lib.errors import ConfigError, TrainingDiverged
from fer_lib.pretrained import load_model, training_models
from fer_lib.recipe import recipe_phases
from fer_lib.replay import replay
from fer_lib.train import TrainConfig, augment, stratified_sample, train

from .conftest import REPO, run_cli

FAST = dict(progress=False, batch_size=64)


def train_from(cfg: TrainConfig, data, out, **kw) -> list[dict]:
    """train() with the init and teacher the recipe names, loaded as the CLI loads them."""
    init, teacher = training_models(cfg, data)
    return train(cfg, data, out, init=init, teacher=teacher, **kw)


def test_augment_is_batched_seeded_and_keeps_shape():
    x = torch.rand(16, 1, 48, 48)
    cfg = TrainConfig(erase=0.5)
    a = augment(x, cfg, torch.Generator().manual_seed(1))
    b = augment(x, cfg, torch.Generator().manual_seed(1))
    c = augment(x, cfg, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    plain = augment(x, TrainConfig(flip=False, shift=0, rotate=0, scale=0), torch.Generator())
    assert torch.equal(plain, x)


def test_stratified_sample_keeps_class_shares():
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 480, 300, 480])
    idx = stratified_sample(labels, 280, seed=0)
    assert len(idx) == 280 and len(set(idx)) == 280
    counts = np.bincount(labels[idx], minlength=7)
    assert counts[1] >= 3 and abs(counts[3] - 700 * 280 / len(labels)) <= 2


def test_training_learns_the_generated_faces(synth, tmp_path):
    hist = train(TrainConfig(epochs=6, **FAST), synth, tmp_path)
    assert [h["epoch"] for h in hist] == list(range(1, 7))
    assert hist[-1]["val_acc"] > 0.6, hist[-1]  # chance is 1/7
    assert hist[-1]["loss"] < hist[0]["loss"]
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved == hist
    model, meta = load_model(tmp_path / "best.pt")
    assert meta["best_val_acc"] == max(h["val_acc"] for h in hist)
    assert meta["data_hash"] == synth.fingerprint() and meta["model"] == "report_cnn"
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(ck) == {"model", "optimizer", "scheduler", "meta"}
    assert not list(tmp_path.glob("*.tmp"))


def test_limit_trains_on_a_stratified_sample(synth, tmp_path):
    train(TrainConfig(epochs=1, limit=70, **FAST), synth, tmp_path)
    meta = json.loads(torch.load(tmp_path / "last.pt", weights_only=True)["meta"])
    assert meta["n_train"] == 70


@pytest.mark.parametrize("schedule,optimizer", [("onecycle", "sgd"), ("plateau", "adam"), ("cosine", "adam")])
def test_schedules_and_optimizers_resume(synth, tmp_path, schedule, optimizer):
    cfg = dict(epochs=2, limit=140, schedule=schedule, optimizer=optimizer, lr=0.01, **FAST)
    full = train(TrainConfig(**cfg), synth, tmp_path / "a")
    train(TrainConfig(**cfg), synth, tmp_path / "b", stop_after=1)
    assert len(json.loads((tmp_path / "b" / "history.json").read_text())) == 1
    resumed = train(TrainConfig(**cfg), synth, tmp_path / "b", resume=True)
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed) == strip(full)


def test_resume_after_kill_matches_an_uninterrupted_run(synth_csv, tmp_path):
    args = [
        "train",
        "--model",
        "report_cnn",
        "--data",
        str(synth_csv),
        "--epochs",
        "4",
        "--batch-size",
        "64",
        "--quiet",
        "--seed",
        "5",
    ]
    r = run_cli(*args, "--out", str(tmp_path / "full"))
    assert r.returncode == 0, r.stderr
    # the same run, killed with SIGKILL in the middle of its third epoch, then resumed
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_lib", *args, "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        h = out / "history.json"
        if h.exists() and len(json.loads(h.read_text())) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(json.loads((out / "history.json").read_text()))
    assert 2 <= done < 4, "the kill came too late to test anything"
    r = run_cli(*args, "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(out / "last.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    ha, hb = (json.loads(p.read_text()) for p in (tmp_path / "full" / "history.json", out / "history.json"))
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in ha] == [
        {k: v for k, v in e.items() if k != "seconds"} for e in hb
    ]


def test_resume_refuses_a_changed_schedule_length(synth, tmp_path):
    train(TrainConfig(epochs=3, limit=70, schedule="onecycle", **FAST), synth, tmp_path, stop_after=1)
    with pytest.raises(
        ConfigError, match="planned for 3 epochs with the 'onecycle' schedule; resume it with --epochs 3"
    ):
        train(TrainConfig(epochs=5, limit=70, schedule="onecycle", **FAST), synth, tmp_path, resume=True)


def test_resume_refuses_other_data_or_model(synth, tiny, tmp_path):
    train(TrainConfig(epochs=1, limit=70, **FAST), synth, tmp_path)
    with pytest.raises(ConfigError, match="trained on other data"):
        train(TrainConfig(epochs=2, **FAST), tiny, tmp_path, resume=True)
    with pytest.raises(ConfigError, match="holds a 'report_cnn' run; cannot resume it as 'simple_cnn'"):
        train(TrainConfig(model="simple_cnn", epochs=2, **FAST), synth, tmp_path, resume=True)


def test_resume_refuses_a_model_built_otherwise(synth, tmp_path):
    train(
        TrainConfig(
            model="simple_cnn", model_kwargs={"head": "dense", "hidden": 16}, epochs=1, limit=70, **FAST
        ),
        synth,
        tmp_path,
    )
    with pytest.raises(
        ConfigError,
        match=r"built with \{'head': 'dense', 'hidden': 16\}; cannot resume it as one built with \{\}",
    ):
        train(TrainConfig(model="simple_cnn", epochs=2, limit=70, **FAST), synth, tmp_path, resume=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(synth, tmp_path, monkeypatch):
    train(TrainConfig(epochs=1, limit=140, **FAST), synth, tmp_path)
    good = torch.load(tmp_path / "last.pt", weights_only=True)
    monkeypatch.setattr(
        T, "augment", lambda x, cfg, g, return_flips=False: (x * float("nan"), None)
    )  # the trainer asks for the flips
    with pytest.raises(
        TrainingDiverged, match=r"loss became nan at epoch 2, step 1; the last good checkpoint is kept at"
    ):
        train(TrainConfig(epochs=3, limit=140, **FAST), synth, tmp_path, resume=True)
    kept = torch.load(tmp_path / "last.pt", weights_only=True)
    assert json.loads(kept["meta"])["epoch"] == 1
    for k in good["model"]:
        assert torch.equal(good["model"][k], kept["model"][k])


def test_cuda_where_there_is_none(synth_csv, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = run_cli(
        "train",
        "--model",
        "report_cnn",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--device",
        "cuda",
    )
    assert r.returncode == 2 and "has no CUDA GPU" in r.stderr and "Traceback" not in r.stderr


def test_cli_train_then_evaluate(synth_csv, tmp_path):
    r = run_cli(
        "train",
        "--model",
        "simple_cnn",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "evaluate",
        str(tmp_path / "best.pt"),
        "--data",
        str(synth_csv),
        "--split",
        "PrivateTest",
        "--json",
        "--tta",
        "tencrop",
        "--save-predictions",
        str(tmp_path / "pred.npz"),
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["n"] == 140 and 0 <= res["accuracy"] <= 1 and res["tta"] == "tencrop"
    pred = np.load(tmp_path / "pred.npz")
    assert pred["logits"].shape == (140, 7)
    r = run_cli("evaluate", str(tmp_path / "best.pt"), "--data", str(synth_csv), "--tta", "sideways")
    assert r.returncode == 2 and "unknown TTA mode 'sideways'" in r.stderr


def test_cli_model_arg_builds_and_records_the_variant(synth_csv, tmp_path):
    r = run_cli(
        "train",
        "--model",
        "simple_cnn",
        "--model-arg",
        "head=dense",
        "--model-arg",
        "hidden=32",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--quiet",
        "--batch-size",
        "64",
    )
    assert r.returncode == 0, r.stderr
    model, meta = load_model(tmp_path / "best.pt")
    assert meta["model_kwargs"] == {"head": "dense", "hidden": 32}
    assert model.classifier[1].in_features == 32
    r = run_cli("evaluate", str(tmp_path / "best.pt"), "--data", str(synth_csv), "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "train",
        "--model",
        "simple_cnn",
        "--model-arg",
        "head",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path / "b"),
        "--epochs",
        "1",
    )
    assert r.returncode == 2 and "--model-arg takes KEY=VALUE" in r.stderr
    r = run_cli(
        "train",
        "--like",
        str(tmp_path),
        "--model-arg",
        "head=gap",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path / "c"),
    )
    assert r.returncode == 2 and "drop --model-arg" in r.stderr


def test_cli_train_like_replays_a_run_or_a_pretrained_recipe(synth_csv, tmp_path):
    common = ["--data", str(synth_csv), "--quiet", "--batch-size", "64"]
    r = run_cli(
        "train",
        "--model",
        "report_cnn",
        "--out",
        str(tmp_path / "a"),
        "--epochs",
        "2",
        "--limit",
        "70",
        "--lr",
        "0.01",
        *common,
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "train",
        "--like",
        str(tmp_path / "a"),
        "--seed",
        "4",
        "--out",
        str(tmp_path / "b"),
        "--data",
        str(synth_csv),
        "--quiet",
        "--stop-after",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert "1 of 2 epochs of the report_cnn recipe (seed 4)" in r.stdout
    meta = json.loads(torch.load(tmp_path / "b" / "last.pt", weights_only=True)["meta"])
    assert meta["config"]["seed"] == 4 and (
        meta["config"]["lr"],
        meta["config"]["limit"],
        meta["config"]["batch_size"],
    ) == (0.01, 70, 64)
    r = run_cli(
        "train", "--like", "report_cnn", "--lr", "0.1", "--out", str(tmp_path / "c"), "--data", str(synth_csv)
    )
    assert r.returncode == 2 and "--like takes the whole recipe from report_cnn; drop --lr." in r.stderr
    r = run_cli("train", "--out", str(tmp_path / "c"), "--data", str(synth_csv))
    assert r.returncode == 2 and "train needs --model and --epochs" in r.stderr


def test_distill_loss_is_the_tempered_kl_with_the_textbook_gradient():
    s = torch.randn(5, 7, requires_grad=True)
    t = torch.randn(5, 7)
    temp = 3.0
    loss = T.distill_loss(s, t, temp)
    p, q = (s / temp).softmax(1), (t / temp).softmax(1)
    assert torch.allclose(loss, temp**2 * (q * (q.log() - p.log())).sum(1).mean(), atol=1e-6)
    loss.backward()  # d/ds of temp^2 KL(q || p) per sample is temp * (p - q); the batch mean divides by 5
    assert torch.allclose(s.grad, temp * (p - q).detach() / 5, atol=1e-6)
    assert float(T.distill_loss(t, t, temp)) == pytest.approx(0.0, abs=1e-6)


def test_init_starts_from_given_weights_and_checks_the_model(synth, tmp_path):
    from fer_lib.models import checkpoint_meta, weights_fingerprint

    train(TrainConfig(epochs=1, limit=140, **FAST), synth, tmp_path / "a")
    src = torch.load(tmp_path / "a" / "best.pt", weights_only=True)["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same data: no warning
        train_from(
            TrainConfig(epochs=2, limit=140, lr=1e-30, init=str(tmp_path / "a" / "best.pt"), **FAST),
            synth,
            tmp_path / "b",
            stop_after=1,
        )
    got = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    for k in (
        "features.0.0.weight",
        "classifier.2.bias",
    ):  # parameters untouched at lr 1e-30 (below float32 resolution); BN statistics move
        assert torch.equal(got[k], src[k]), k
    # the run knows which weights it started from, also after a resume (which does not load them again)
    started_from = weights_fingerprint(load_model(tmp_path / "a" / "best.pt")[0])
    assert checkpoint_meta(tmp_path / "b" / "last.pt")["init_weights"] == started_from
    train_from(
        TrainConfig(epochs=2, limit=140, lr=1e-30, init=str(tmp_path / "a" / "best.pt"), **FAST),
        synth,
        tmp_path / "b",
        resume=True,
    )
    assert checkpoint_meta(tmp_path / "b" / "last.pt")["init_weights"] == started_from
    assert len(checkpoint_meta(tmp_path / "b" / "last.pt")["history"]) == 2
    fresh = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    train(TrainConfig(epochs=1, limit=140, lr=1e-30, **FAST), synth, tmp_path / "c")
    assert not torch.equal(
        torch.load(tmp_path / "c" / "last.pt", weights_only=True)["model"]["classifier.2.bias"],
        fresh["classifier.2.bias"],
    )
    assert checkpoint_meta(tmp_path / "c" / "last.pt")["init_weights"] is None
    with pytest.raises(ConfigError, match="init: .* holds a 'report_cnn' model, not 'simple_cnn'"):
        train_from(
            TrainConfig(model="simple_cnn", epochs=1, init=str(tmp_path / "a" / "best.pt"), **FAST),
            synth,
            tmp_path / "d",
        )
    with pytest.raises(
        ConfigError, match="teacher: 'nobody' is neither a checkpoint file nor a pretrained model"
    ):
        train_from(TrainConfig(epochs=1, teacher="nobody", distill=0.5, **FAST), synth, tmp_path / "e")
    with pytest.raises(ConfigError, match="needs both a teacher and a distill weight"):
        TrainConfig(teacher=str(tmp_path / "a" / "best.pt")).check()


def test_a_recipe_and_its_models_must_agree(synth, tmp_path):
    """The recipe names what the run records; the models come as arguments: one without the other is one
    sentence, before the folder is touched."""
    with pytest.raises(ConfigError, match="teacher: the recipe names 'fer_vgg_s' but no model came with it"):
        train(TrainConfig(epochs=1, teacher="fer_vgg_s", distill=0.5, **FAST), synth, tmp_path / "a")
    with pytest.raises(ConfigError, match="init: the recipe names 'report_cnn' but no model came with it"):
        train(TrainConfig(epochs=1, init="report_cnn", **FAST), synth, tmp_path / "a")
    with pytest.raises(ConfigError, match="init: a model came without a name in the recipe"):
        train(TrainConfig(epochs=1, **FAST), synth, tmp_path / "a", init=torch.nn.Linear(1, 1))
    assert not (tmp_path / "a").exists()
    assert training_models(TrainConfig(epochs=1), synth) == (None, None)


@pytest.fixture(scope="module")
def synth_teacher(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    hist = train(TrainConfig(epochs=6, **FAST), synth, out)
    assert max(h["val_acc"] for h in hist) > 0.6
    return out / "best.pt"


@pytest.mark.parametrize(
    "augmented", ["none", "flip", "shift"]
)  # none, flip: the teacher's logits are cached; shift: per batch
def test_a_student_learns_from_the_teacher_alone(synth, synth_teacher, tmp_path, augmented):
    """With distill weight 1 the labels are ignored: a student trained on shuffled labels still learns the
    faces."""
    noisy = synth.subset(np.arange(len(synth.labels)))
    is_train = noisy.splits == "Training"
    noisy.labels[is_train] = np.random.default_rng(0).permutation(noisy.labels[is_train])
    assert (
        noisy.labels[is_train] == synth.labels[is_train]
    ).mean() < 0.2  # the labels say next to nothing now
    setting = dict(
        epochs=6, flip=augmented != "none", shift=4 if augmented == "shift" else 0, rotate=0, scale=0, **FAST
    )
    with pytest.warns(
        UserWarning, match="the teacher .* was trained on other data"
    ):  # the shuffled labels change the hash
        student = train_from(
            TrainConfig(**setting, teacher=str(synth_teacher), distill=1.0), noisy, tmp_path / "student"
        )
    assert max(e["val_acc"] for e in student) > 0.4, student  # chance is 1/7


def test_cached_teacher_logits_follow_each_flip(synth, synth_teacher, tmp_path, monkeypatch):
    """With flips only, the teacher's logits come from a cache of each face and its mirror image:
    step by step they match the teacher run on the flipped batch itself."""
    seen: dict[str, list] = {"cached": [], "per batch": []}
    distill = T.distill_loss
    cfg = dict(
        epochs=1,
        flip=True,
        shift=0,
        rotate=0,
        scale=0,
        bf16=False,
        teacher=str(synth_teacher),
        distill=0.5,
        **FAST,
    )
    for way in seen:

        def record(student, teacher, temp, way=way):
            seen[way].append(teacher.detach().clone())
            return distill(student, teacher, temp)

        monkeypatch.setattr(T, "distill_loss", record)
        if way == "per batch":
            monkeypatch.setattr(T, "_only_mirrored", lambda cfg: False)
        train_from(TrainConfig(**cfg), synth, tmp_path / way)
    assert len(seen["cached"]) == len(seen["per batch"]) > 1
    for a, b in zip(seen["cached"], seen["per batch"]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    # the match says something: the teacher tells a face from its mirror image, so ignoring the flips would
    # show
    from fer_lib.evaluate import predict_logits

    teacher = load_model(synth_teacher)[0]
    faces = synth.split("Training").images[:256]
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    assert (predict_logits(teacher, faces) - predict_logits(teacher, mirrored)).abs().max() > 1e-2


def test_a_distilled_run_keeps_its_teachers_fingerprint_and_resumes_only_with_it(
    synth, synth_teacher, tmp_path
):
    from fer_lib.models import checkpoint_meta, weights_fingerprint

    cfg = dict(epochs=2, flip=True, shift=0, rotate=0, scale=0, distill=0.5, **FAST)
    train_from(TrainConfig(**cfg, teacher=str(synth_teacher)), synth, tmp_path / "student", stop_after=1)
    meta = checkpoint_meta(tmp_path / "student" / "last.pt")
    assert meta["teacher_weights"] == weights_fingerprint(load_model(synth_teacher)[0])
    # the same name, other weights: a re-shipped teacher, say
    ckpt = torch.load(synth_teacher, weights_only=True)
    key = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][key] = ckpt["model"][key] + 0.01
    torch.save(ckpt, tmp_path / "other.pt")
    assert weights_fingerprint(load_model(tmp_path / "other.pt")[0]) != meta["teacher_weights"]
    with pytest.raises(ConfigError, match="was distilled from other weights"):
        train_from(
            TrainConfig(**cfg, teacher=str(tmp_path / "other.pt")), synth, tmp_path / "student", resume=True
        )
    hist = train_from(
        TrainConfig(**cfg, teacher=str(synth_teacher)), synth, tmp_path / "student", resume=True
    )
    assert len(hist) == 2
    assert (
        train(TrainConfig(epochs=1, **FAST), synth, tmp_path / "plain")
        and checkpoint_meta(tmp_path / "plain" / "last.pt")["teacher_weights"] is None
    )


@pytest.mark.realdata
def test_short_training_run_on_real_fer2013(real_data, tmp_path):
    hist = train(TrainConfig(epochs=2, limit=8000, progress=False), real_data, tmp_path)
    assert len(hist) == 2 and all(np.isfinite([h["loss"], h["val_loss"]]).all() for h in hist)
    assert hist[-1]["val_acc"] > 0.28, hist  # above always answering 'happy' (24.9% of PublicTest)
    meta = json.loads(torch.load(tmp_path / "best.pt", weights_only=True)["meta"])
    assert meta["data_hash"] == real_data.fingerprint()


def test_recipe_phases_undo_the_changes_newest_first():
    last = {"epochs": 42, "lr": 3e-4, "schedule": "plateau", "flip": False, "shift": 0.0, "seed": 0}
    changes = [
        {
            "from_epoch": 11,
            "changed": {"epochs": [10, 30], "schedule": ["constant", "plateau"], "shift": [4.0, 0.0]},
        },
        {"from_epoch": 18, "changed": {"epochs": [30, 32], "lr": [1e-3, 3e-4], "flip": [True, False]}},
        {"from_epoch": 33, "changed": {"epochs": [32, 42]}},
    ]
    phases = recipe_phases(last, changes, 42)
    assert [end for _, end in phases] == [10, 17, 32, 42]
    assert phases[0][0] == {
        "epochs": 10,
        "lr": 1e-3,
        "schedule": "constant",
        "flip": True,
        "shift": 4.0,
        "seed": 0,
    }
    assert phases[1][0] == {
        "epochs": 30,
        "lr": 1e-3,
        "schedule": "plateau",
        "flip": True,
        "shift": 0.0,
        "seed": 0,
    }
    assert phases[2][0] == dict(last, epochs=32) and phases[3][0] == last
    assert recipe_phases(last, [], 40) == [(last, 40)]
    with pytest.raises(ConfigError, match="do not fit a run of 12 epochs"):
        recipe_phases(last, changes, 12)
    with pytest.raises(ConfigError, match="'lr' became 0.0003, but the next phase has 0.001"):
        recipe_phases(dict(last, lr=1e-3), changes, 42)


def test_replay_repeats_a_multi_phase_run_and_makes_seed_runs(synth, tmp_path):
    from fer_lib.ship import _recipe, export_pretrained, full_run_meta

    base = dict(limit=140, lr=0.01, **FAST)
    orig = tmp_path / "orig"
    train(TrainConfig(epochs=2, **base), synth, orig)  # phase 1: epochs 1-2, constant rate, augmented
    train(
        TrainConfig(**dict(base, epochs=5, lr=0.003, schedule="plateau", flip=False)),
        synth,
        orig,
        resume=True,
        stop_after=1,
    )
    train(
        TrainConfig(**dict(base, epochs=6, lr=0.003, schedule="plateau", flip=False)),
        synth,
        orig,
        resume=True,
        stop_after=1,
    )
    recipe = full_run_meta(orig, load_model(orig / "best.pt")[1])
    assert [c["from_epoch"] for c in recipe["config_changes"]] == [3, 4] and len(recipe["history"]) == 4

    same = tmp_path / "same"
    assert (
        len(replay(recipe, synth, same, seed=0, stop_after=2, runtime={"progress": False})) == 2
    )  # time-boxed
    again = replay(recipe, synth, same, seed=0, runtime={"progress": False})  # resumed to the end
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(again) == strip(recipe["history"])  # same seed, same phases: the same run
    a, b = (torch.load(p / "last.pt", weights_only=True) for p in (orig, same))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert json.loads(b["meta"])["config_changes"] == recipe["config_changes"]

    other = tmp_path / "seed1"
    replay(recipe, synth, other, seed=1, runtime={"progress": False})
    assert _recipe(full_run_meta(other, load_model(other / "best.pt")[1])) == _recipe(recipe)
    card = export_pretrained(orig, synth, name="toy", dest=tmp_path / "ship", seed_runs=[other])
    assert card["seeds"] == 2
    with pytest.raises(ConfigError, match="not a replay of this recipe with seed 2"):
        replay(recipe, synth, other, seed=2)


def _bn_net() -> torch.nn.Module:
    from fer_lib.models import Dropout

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        Dropout(0.9),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 46 * 46, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Linear(8, 7),
    )


def test_recompute_batchnorm_gives_the_test_time_statistics():
    net = _bn_net()
    images = (torch.rand(50, 48, 48) * 255).to(torch.uint8).numpy()
    with torch.no_grad():
        net[2].running_mean.fill_(5.0)
        net[2].running_var.fill_(40.0)
        net[2].num_batches_tracked.fill_(3)
        x = torch.as_tensor(images).float().div(255).unsqueeze(1)
        conv = net[0](x)  # what the first BatchNorm sees at test time: no dropout
    rng = torch.get_rng_state()
    assert T.recompute_batchnorm(net, images, batch_size=7) == 2  # 7 does not divide 50: a short last batch
    assert torch.equal(torch.get_rng_state(), rng)  # no random draws: a resumed run stays exact
    assert torch.allclose(net[2].running_mean, conv.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(net[2].running_var, conv.var((0, 2, 3), unbiased=False), rtol=1e-4)
    assert int(net[2].num_batches_tracked) == 3 and net[2].momentum == 0.1 and net.training
    assert all(n.running_var.min() > 0 for n in (net[2], net[6]))
    assert T.recompute_batchnorm(torch.nn.Linear(3, 2), images) == 0
    with pytest.raises(ConfigError, match="at least 2 images"):
        T.recompute_batchnorm(net, images[:1])


def test_bn_recompute_runs_validate_test_time_statistics_and_resume(synth, tmp_path):
    cfg = dict(epochs=2, limit=140, bn_recompute=70, lr=0.01, **FAST)
    full = train(TrainConfig(**cfg), synth, tmp_path / "a")
    saved, _ = load_model(tmp_path / "a" / "last.pt")
    part = synth.split("Training").subset(stratified_sample(synth.split("Training").labels, 140, 0))
    again, _ = load_model(tmp_path / "a" / "last.pt")
    with torch.no_grad():
        for m in again.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    T.recompute_batchnorm(again, part.images[stratified_sample(part.labels, 70, 0)])
    state, redo = saved.state_dict(), again.state_dict()
    assert all(
        torch.allclose(state[k], redo[k], rtol=1e-4, atol=1e-4) for k in state if "running" in k
    )  # last.pt holds them
    train(TrainConfig(**cfg), synth, tmp_path / "b", stop_after=1)
    resumed = train(TrainConfig(**cfg), synth, tmp_path / "b", resume=True)
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed) == strip(full)
    with pytest.raises(ConfigError, match="bn_recompute must be a whole number >= 7, got 3; 0 turns it off"):
        TrainConfig(bn_recompute=3).check()


def test_an_older_config_is_the_same_recipe():
    from fer_lib.recipe import recipe_settings

    now = TrainConfig(lr=0.01).to_json()
    old = {
        k: v
        for k, v in now.items()
        if k not in ("init", "teacher", "distill", "distill_temp", "bn_recompute")
    }
    assert recipe_settings(old) == recipe_settings(now)
    assert recipe_settings(dict(old, lr=0.02)) != recipe_settings(now)
    # settings earlier trainers wrote at the value every shipped model used are today's fixed behaviour
    written_before = dict(
        old, betas=[0.9, 0.99], momentum=0.9, nesterov=True, mixup=0.0, ema=0.0, compile=False
    )
    assert recipe_settings(written_before) == recipe_settings(now)
    assert TrainConfig.from_json(written_before) == TrainConfig.from_json(now)


def test_a_record_of_a_retired_option_keeps_its_history_but_is_not_trained_again(synth_csv, tmp_path):
    """rc_flipcos_b128_img_ema used a moving average of the weights, which the trainer no longer has:
    its record is read and described, but a --like replay of it is one sentence, not a wrong recipe."""
    from fer_lib.recipe import recipe_settings
    from fer_report.records import describe_recipe

    record = json.loads((REPO / "fer_lib/pretrained/experiments/rc_flipcos_b128_img_ema.json").read_text())
    config = record["config"]
    assert recipe_settings(config)["ema"] == 0.999  # never the same recipe as one without the average
    assert "a moving average of the weights (decay 0.999)" in describe_recipe(config)
    with pytest.raises(ConfigError, match="uses ema=0.999, which the trainer no longer offers"):
        TrainConfig.from_json(config)
    run = tmp_path / "like"
    run.mkdir()
    torch.save({"model": {}, "meta": json.dumps(dict(record, epoch=1))}, run / "last.pt")
    r = run_cli(
        "train", "--like", str(run), "--data", str(synth_csv), "--out", str(tmp_path / "out"), "--quiet"
    )
    assert r.returncode == 2 and "no longer offers" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_gpu_seeds_script_sizes_the_runs_to_its_budget_and_compacts_them(synth, tmp_path):
    """scripts/gpu_seeds.sh on a CPU with generated faces: probe, sized runs, float16 copies to export."""
    from fer_lib.data import write_packed
    from fer_lib.ship import export_pretrained

    write_packed(synth, tmp_path / "train.fer.xz", splits=("Training", "PublicTest"))
    env = {
        **os.environ,
        "BUDGET": "240",
        "SEEDS": "3",
        "MAX_EPOCHS": "2",
        "MODEL": "report_cnn",
        "PY": sys.executable,
        "RECIPE": "--batch-size 64 --lr 1e-3 --schedule onecycle --limit 140",
    }
    r = subprocess.run(
        [
            "bash",
            "scripts/gpu_seeds.sh",
            str(tmp_path / "train.fer.xz"),
            str(tmp_path / "runs"),
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = (tmp_path / "out" / "gpu_seeds.log").read_text()
    assert r.returncode == 0, log + r.stderr
    assert "probe: " in log and ": 2 epochs" in log and "best PublicTest" in log, log
    meta = json.loads((tmp_path / "runs" / "report_cnn_s3" / "history.json").read_text())
    assert len(meta) == 2
    out = tmp_path / "out" / "report_cnn_s3"
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt"]
    card = export_pretrained(out, synth, name="toy", dest=tmp_path / "ship")
    assert card["config"]["seed"] == 3 and card["config"]["epochs"] == 2 and len(card["history"]) == 2
    # a budget that leaves no room for an epoch after the probe is refused, not overrun
    env["BUDGET"] = "1"
    r = subprocess.run(
        [
            "bash",
            "scripts/gpu_seeds.sh",
            str(tmp_path / "train.fer.xz"),
            str(tmp_path / "runs2"),
            str(tmp_path / "out2"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1 and "give a larger BUDGET" in (tmp_path / "out2" / "gpu_seeds.log").read_text()


# the instruction set the replay reference was computed with, whatever the CPU offers beyond it
REPLAY_ISA = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2,STRICT"}


@pytest.mark.parametrize("name", ["fer_vgg_s", "report_cnn"])
def test_a_replay_of_a_shipped_recipe_trains_as_before_the_trainer_was_rewritten(name, tmp_path):
    """Two epochs of the shipped recipe on the generated faces, in float32 on the CPU, give the history
    that the trainer gave before its rewrite (tests/data/replay_reference.json, written by commit
    0991b50's `fer-lib train --like NAME --seed SEED --stop-after 2 --device cpu` on an AVX2 CPU, where
    it chose float32, with REPLAY_ISA's settings): fer_vgg_s covers SGD, erasing, shifts, label
    smoothing and the plateau schedule; report_cnn covers Adam, the cosine schedule, distillation with
    cached teacher logits and the BatchNorm recompute. The CLI's --like is the path taken.

    Kernels for wider vector units add in another order, and over two epochs that moves a loss by a
    few parts in a thousand (AVX-512 against AVX2: val_loss 2.0482 against 2.0522), so the run keeps
    to AVX2 kernels (torch's own, oneDNN's and MKL's), as the reference did. That reproduces the reference
    on the AMD CPUs it was made on, not on Intel's: an Intel Xeon under the same settings adds in other
    orders (report_cnn's val_loss 2.0502 against 2.0522 after one epoch, 2.0231 against 2.0179 and two
    faces more right after two), as far apart as AVX-512 is from AVX2, so the comparison runs on AMD CPUs
    only and says so elsewhere."""
    from fer_lib.data import write_csv
    from fer_lib.pretrained import pretrained_info
    from fer_lib.synthetic import synthetic_fer

    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("the replay reference was computed with AVX2 kernels, which this CPU lacks")
    cpuinfo = Path("/proc/cpuinfo")
    if not (cpuinfo.exists() and "AuthenticAMD" in cpuinfo.read_text()):
        pytest.skip("the replay reference was computed on an AMD CPU; others' kernels add in other orders")
    reference = json.loads((REPO / "tests" / "data" / "replay_reference.json").read_text())[name]
    csv = write_csv(synthetic_fer(700, 140, 140, seed=0), tmp_path / "faces.csv")
    seed = str(pretrained_info(name)["config"]["seed"])
    out = tmp_path / "run"
    r = run_cli(
        "train", "--like", name, "--seed", seed, "--data", str(csv), "--out", str(out),
        "--stop-after", "2", "--no-bf16", "--device", "cpu", "--quiet",
        env={"OMP_NUM_THREADS": "1", **REPLAY_ISA},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = json.loads((out / "history.json").read_text())
    assert len(got) == len(reference) == 2
    for old, new in zip(reference, got):
        for key in ("loss", "val_loss", "lr"):
            assert new[key] == pytest.approx(old[key], rel=1e-5, abs=1e-7), (key, old, new)
        for key, n in (("acc", 700), ("val_acc", 140)):  # a face at most
            assert abs(new[key] - old[key]) <= 1.01 / n, (key, old, new)
        assert "ce" in new
    if name == "report_cnn":  # "ce" is the cross-entropy alone; the loss trained adds the distillation term
        assert all(abs(h["ce"] - h["loss"]) > 0.1 for h in got)
