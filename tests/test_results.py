"""The results chapter's library side: run changes on resume, the results table, the targets' verdicts."""

import json
import shutil

import numpy as np
import pytest
import torch

from fer_lib.data import FerData
from fer_lib.errors import ConfigError
from fer_lib.evaluate import predict_logits
from fer_lib.pretrained import load_model
from fer_lib.synthetic import synthetic_fer
from fer_lib.train import TrainConfig, train
from fer_report import appendix as book_appendix
from fer_report import holdout
from fer_report import records as book_recipes
from fer_report import results as book_results
from fer_report import sources as book_runs

from .conftest import run_cli

FAST = dict(batch_size=64, progress=False, limit=140)


def test_resume_with_other_settings_records_the_change(synth, tmp_path):
    train(TrainConfig(epochs=1, **FAST), synth, tmp_path)
    train(TrainConfig(epochs=2, schedule="plateau", **FAST), synth, tmp_path, resume=True)
    meta = json.loads(torch.load(tmp_path / "last.pt", weights_only=True)["meta"])
    assert meta["config_changes"] == [
        {"from_epoch": 2, "changed": {"epochs": [1, 2], "schedule": ["constant", "plateau"]}}
    ]
    assert meta["config"]["schedule"] == "plateau"
    text = book_recipes.describe_changes(meta["config_changes"])
    assert "from epoch 2" in text and "`schedule` constant → plateau" in text
    # a resume that changes nothing that matters adds no entry
    train(
        TrainConfig(epochs=3, schedule="plateau", **dict(FAST, progress=True)), synth, tmp_path, resume=True
    )
    meta = json.loads(torch.load(tmp_path / "last.pt", weights_only=True)["meta"])
    assert [c["from_epoch"] for c in meta["config_changes"]] == [
        2,
        3,
    ]  # epochs 2 -> 3 is a change, progress is not
    assert set(meta["config_changes"][1]["changed"]) == {"epochs"}
    assert book_recipes.describe_changes([]) == ""


def test_cli_train_passes_the_recipe_options(synth_csv, tmp_path):
    r = run_cli(
        "train",
        "--model",
        "fer_vgg_s",
        "--data",
        str(synth_csv),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--quiet",
        "--limit",
        "70",
        "--optimizer",
        "sgd",
        "--schedule",
        "onecycle",
        "--lr",
        "0.05",
        "--weight-decay",
        "5e-4",
        "--label-smoothing",
        "0.1",
        "--erase",
        "0.25",
        "--no-flip",
        "--shift",
        "2",
        "--rotate",
        "5",
        "--scale",
        "0.05",
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads(torch.load(tmp_path / "last.pt", weights_only=True)["meta"])["config"]
    assert cfg["model"] == "fer_vgg_s" and cfg["optimizer"] == "sgd" and cfg["schedule"] == "onecycle"
    assert (cfg["weight_decay"], cfg["label_smoothing"], cfg["erase"]) == (5e-4, 0.1, 0.25)
    assert (cfg["flip"], cfg["shift"], cfg["rotate"], cfg["scale"]) == (False, 2, 5, 0.05)


def test_results_table_and_targets(toy_run, synth, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(toy_run, runs / "report_cnn")
    shutil.copytree(toy_run, runs / "my_strong")  # any other model counts as a strong-model candidate
    table = book_results.results_table(
        ["report_cnn", "my_strong", "toy_untrained"], synth, runs
    )  # neither a run nor a card
    assert table.loc["toy_untrained", "source"].startswith("not trained")
    row = table.loc["report_cnn"]
    assert row["epochs"] == 5 and 1 <= row["best epoch"] <= 5 and row["seeds"] == 1
    assert (
        row["trainable params"] == 318_055
    )  # the Keras summary's trainable count; BN running stats are buffers
    assert str(table["seeds"].dtype) == "Int64"  # printed as 1, not 1.000000
    for col in (
        "PublicTest",
        "PublicTest ten-crop",
        "PrivateTest",
        "PrivateTest flip",
        "PrivateTest ten-crop",
    ):
        assert 0 <= row[col] <= 1
    compared = book_results.comparison_table(table)
    assert {
        "the original report (Keras, 4-block CNN)",
        "this report: report_cnn",
        "this report: my_strong",
    } <= set(compared.index)
    assert "this report: toy_untrained" not in compared.index  # untrained models have no row
    ours = compared.loc["this report: report_cnn"]
    assert (ours["PublicTest"], ours["PrivateTest (TTA)"]) == (row["PublicTest"], row["PrivateTest ten-crop"])
    assert ours["protocol"].endswith("; one seed") and f"(epoch {row['best epoch']} of 5)" in ours["protocol"]
    seeded = table.copy()
    seeded.loc["report_cnn", "seeds"] = 3
    assert (
        book_results.comparison_table(seeded)
        .loc["this report: report_cnn", "protocol"]
        .endswith("the shipped one of 3 seeds, the best on PublicTest")
    )
    assert "BatchNorm" not in ours["protocol"]
    seeded.attrs["batchnorm"] = {
        "report_cnn": {"PublicTest before": {"accuracy": 0.61}, "PublicTest after": {"accuracy": 0.625}}
    }
    protocols = book_results.comparison_table(seeded)["protocol"]
    assert (
        "BatchNorm statistics recomputed on Training afterwards, kept because PublicTest rose (0.6100 → "
        "0.6250); PrivateTest" in protocols["this report: report_cnn"]
    )
    assert "BatchNorm" not in protocols["this report: my_strong"]
    text = book_results.describe_targets(table)
    acc = row["PublicTest"]
    assert f"PublicTest accuracy {acc:.4f}" in text
    assert ("reaches" if acc >= 0.651 else "falls short of") in text
    assert "simple_cnn**: not trained" in text
    assert "**my_strong**" in text and "single seed" in text


def test_targets_choose_the_strong_model_on_public_test():
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "model": "a",
                "seeds": 1,
                "PublicTest": 0.70,
                "PublicTest ten-crop": 0.72,
                "PrivateTest": 0.70,
                "PrivateTest ten-crop": 0.70,
            },
            {
                "model": "b",
                "seeds": 1,
                "PublicTest": 0.69,
                "PublicTest ten-crop": 0.71,
                "PrivateTest": 0.74,
                "PrivateTest ten-crop": 0.745,
            },
        ]
    ).set_index("model")
    text = book_results.describe_targets(table)
    assert (
        "**a**, PrivateTest 0.7000 with ten-crop TTA, below" in text
    )  # b is better on PrivateTest but not chosen


def test_targets_give_the_seed_spread_where_a_model_has_seed_runs():
    import pandas as pd

    from fer_lib.ship import seed_summary

    table = pd.DataFrame(
        [
            {
                "model": "report_cnn",
                "seeds": 3,
                "PublicTest": 0.64,
                "PublicTest ten-crop": 0.63,
                "PrivateTest": 0.645,
                "PrivateTest ten-crop": 0.64,
            },
            {
                "model": "simple_cnn",
                "seeds": 1,
                "PublicTest": 0.60,
                "PublicTest ten-crop": 0.59,
                "PrivateTest": 0.59,
                "PrivateTest ten-crop": 0.58,
            },
        ]
    ).set_index("model")
    rows = [
        {"PublicTest": a, "PrivateTest": b, "PrivateTest ten-crop": c}
        for a, b, c in [(0.64, 0.645, 0.64), (0.62, 0.65, 0.63), (0.63, 0.64, 0.62)]
    ]
    table.attrs["seed_summary"] = {"report_cnn": seed_summary(rows)}
    text = book_results.describe_targets(table)
    line = next(x for x in text.splitlines() if x.startswith("- **report_cnn**"))
    assert (
        "Over 3 seeds (mean ± sample sd): PublicTest 0.6300 ± 0.0100 (mean -0.0210 from the target)" in line
    )
    assert "PrivateTest 0.6450 ± 0.0050" in line
    assert "Over" not in next(x for x in text.splitlines() if x.startswith("- **simple_cnn**"))
    assert "simple_cnn rests on a single seed (one training run), so no spread can be given for it." in text
    assert "recomputed" not in text
    bn = {
        "PublicTest before": {"accuracy": 0.63, "accuracy_tencrop": 0.62},
        "PublicTest after": {"accuracy": 0.64, "accuracy_tencrop": 0.63},
    }
    table.attrs["batchnorm"] = {"report_cnn": bn, "simple_cnn": bn}
    lines = book_results.describe_targets(table).splitlines()
    assert (
        "recomputed on Training after the epoch was chosen (PublicTest 0.6300 → 0.6400); the seed runs are "
        "the weights as trained." in lines[0]
    )
    assert lines[1].endswith("(PublicTest 0.6300 → 0.6400).")  # one seed: nothing to say about seed runs
    card = {"batchnorm": dict(bn, kept=True, statistics="recomputed on all 7 Training images")}
    assert book_results.describe_batchnorm(card).endswith(
        "0.6300 → 0.6400 (0.6200 → 0.6300 with ten-crop), kept because PublicTest rose."
    )
    # only a card with seed runs has seed-run numbers to speak of
    assert book_results.describe_batchnorm(dict(card, seed_runs=[{"seed": 0}])).endswith(
        " Seed-run numbers are those of the weights as trained."
    )
    fell = dict(
        card["batchnorm"], kept=False, **{"PublicTest after": {"accuracy": 0.625, "accuracy_tencrop": 0.62}}
    )
    tried = book_results.describe_batchnorm({"batchnorm": fell, "seed_runs": [{"seed": 0}]})
    assert tried.startswith(
        "After its epoch was chosen, new BatchNorm statistics (recomputed on all 7 Training images) were "
        "tried"
    )
    assert tried.endswith(
        "PublicTest 0.6300 → 0.6250, so they were not kept and the shipped weights are as trained."
    )
    assert "in place of the trainer's running averages:" in tried
    # a run validated with a BatchNorm sample saved that sample's statistics, not running averages, with its
    # best.pt
    sampled = {"config": {"bn_recompute": 4096}}
    assert (
        "in place of the statistics of the 4,096 Training images its epochs were validated with: PublicTest "
        "0.6300 → 0.6250" in (book_results.describe_batchnorm(dict(sampled, batchnorm=fell)))
    )
    kept = book_results.describe_batchnorm(dict(card, **sampled))
    assert (
        "in place of the statistics of the 4,096 Training images its epochs were validated with: PublicTest "
        "0.6300 → 0.6400" in kept
    )
    assert "running averages" not in kept
    assert (
        "(the last few dozen batches, gathered with dropout on): PublicTest"
        in book_results.describe_batchnorm(card)
    )
    assert book_results.describe_batchnorm({}) == ""


@pytest.mark.parametrize("name", ["report_cnn", "simple_cnn"])
def test_models_pretrained_by_name(name):
    from fer_lib.pretrained import PRETRAINED_DIR, load_model

    model, card = load_model(name)
    assert not model.training and card["card"]["model"] == name
    ref, _ = load_model(PRETRAINED_DIR / f"{name}.pt")  # the same weights by path
    x = torch.rand(2, 1, 48, 48)
    assert torch.equal(model(x), ref(x))


def test_resume_with_a_new_rate_starts_from_it(synth, tmp_path):
    train(TrainConfig(epochs=2, schedule="plateau", lr=1e-3, **FAST), synth, tmp_path)
    hist = train(
        TrainConfig(epochs=3, schedule="plateau", lr=2e-4, shift=0, rotate=0, scale=0, **FAST),
        synth,
        tmp_path,
        resume=True,
    )
    assert [h["lr"] for h in hist] == [1e-3, 1e-3, 2e-4]
    meta = json.loads(torch.load(tmp_path / "last.pt", weights_only=True)["meta"])
    assert meta["config_changes"][0]["changed"]["lr"] == [1e-3, 2e-4]
    assert meta["config_changes"][0]["changed"]["shift"] == [4.0, 0]


def test_resume_refuses_a_one_cycle_taking_over(synth, tmp_path):
    train(TrainConfig(epochs=1, **FAST), synth, tmp_path)
    with pytest.raises(ConfigError, match="cannot take over in the middle of a run"):
        train(TrainConfig(epochs=1, schedule="onecycle", **FAST), synth, tmp_path, resume=True)


def test_describe_recipe_says_when_a_run_stopped_early():
    cfg = TrainConfig(
        model="simple_cnn",
        epochs=30,
        optimizer="sgd",
        lr=0.05,
        schedule="onecycle",
        weight_decay=5e-4,
        label_smoothing=0.1,
        shift=0,
        erase=0.25,
    ).to_json()
    text = book_recipes.describe_recipe(cfg, epochs_run=17)
    assert "stopped after 17 of 30 planned epochs" in text
    assert "SGD (Nesterov momentum 0.9)" in text and "one-cycle learning rate peaking at 0.05" in text
    assert "weight decay 0.0005" in text and "label smoothing 0.1" in text
    assert "random erasing (p = 0.25)" in text and "shifts" not in text
    assert "photo-like" not in text
    assert "photo-like brightness, blur or sharpening and noise" in book_recipes.describe_recipe(
        cfg | {"photo": True}
    )
    assert "30 epochs" in book_recipes.describe_recipe(
        cfg, epochs_run=30
    ) and "stopped" not in book_recipes.describe_recipe(cfg)
    cfg.update(
        optimizer="adam",
        schedule="constant",
        flip=False,
        rotate=0,
        scale=0,
        erase=0,
        weight_decay=0,
        label_smoothing=0,
    )
    assert book_recipes.describe_recipe(cfg).endswith("augmentation: none.")
    older = {k: v for k, v in cfg.items() if k not in ("init", "teacher", "distill", "distill_temp", "ema")}
    assert book_recipes.describe_recipe(older).endswith(
        "augmentation: none."
    )  # configs written before these settings existed
    cfg.update(init="report_cnn", teacher="fer_vgg_s", distill=0.7, distill_temp=4.0, ema=0.999)
    assert book_recipes.describe_recipe(cfg).endswith(
        "augmentation: none; started from the weights of `report_cnn`; distilled from `fer_vgg_s` (weight "
        "0.7, temperature 4); "
        "a moving average of the weights (decay 0.999) validated and kept."
    )
    cfg.update(init=None, teacher=None, distill=0.0, ema=0.0, model_kwargs={"head": "dense"})
    assert book_recipes.describe_recipe(cfg).endswith("augmentation: none; the model built with head=dense.")


def test_holdout_study_ships_and_measures_a_run_trained_on_a_training_hold_out(synth, tmp_path):
    from fer_lib.data import hold_out

    held = hold_out(synth, 0.2, seed=1)
    train(TrainConfig(epochs=2, batch_size=64, progress=False, flip=False), held, tmp_path / "run")
    with pytest.raises(ConfigError, match="not on the 0.1 hold-out of Training with seed 0"):
        holdout.export_holdout_study(tmp_path / "run", synth, dest=tmp_path / "x.pt")
    path = holdout.export_holdout_study(tmp_path / "run", synth, 0.2, seed=1, dest=tmp_path / "study.pt")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="study.pt already exists; pass --force to replace it"):
        holdout.export_holdout_study(tmp_path / "run", synth, 0.2, seed=1, dest=path)
    assert path.read_bytes() == before
    assert holdout.export_holdout_study(tmp_path / "run", synth, 0.2, seed=1, dest=path, force=True) == path
    assert holdout.holdout_study_check(synth, path) == ""
    assert "no hold-out study model at" in holdout.holdout_study_check(synth, tmp_path / "none.pt")
    assert "its hold-out cannot be rebuilt from this data" in holdout.holdout_study_check(
        synthetic_fer(700, 140, 140, seed=5), path
    )
    assert "not a hold-out study checkpoint" in holdout.holdout_study_check(
        synth, tmp_path / "run" / "best.pt"
    )
    table, meta = holdout.holdout_study(synth, path)
    assert list(table.index) == ["hold-out: 20% of Training", "PublicTest", "PrivateTest"]
    assert list(table["n"]) == [len(held.split("PublicTest")), 140, 140]
    assert meta["holdout"] == {"fraction": 0.2, "seed": 1} and meta["n_train"] == len(held.split("Training"))
    net, _ = load_model(path)
    pred = predict_logits(net, synth.split("PublicTest").images).argmax(1).numpy()
    assert table.loc["PublicTest", "accuracy"] == pytest.approx(
        (pred == synth.split("PublicTest").labels).mean()
    )
    text = holdout.describe_holdout(table, meta)
    held_acc, pub = table["accuracy"].iloc[0], table["accuracy"].iloc[1]
    assert f"**{held_acc:.4f}** on its hold-out, **{pub:.4f}** on PublicTest" in text
    assert f"the best of {len(meta['history'])} epochs measured on it" in text
    fake = table.copy()
    fake["accuracy"] = [
        0.70,
        0.60,
        0.61,
    ]  # 2,872 faces would give +-0.017; on synth's 140 the error is +-0.08
    fake["n"] = [2872, 3589, 3589]
    assert "higher than both test splits by more than its sampling error (±0.017" in holdout.describe_holdout(
        fake, meta
    )
    fake["accuracy"] = [0.624, 0.611, 0.635]
    said = holdout.describe_holdout(fake, meta)
    assert (
        "lead over PublicTest (+0.0130) is within its sampling error (±0.018" in said
        and "reads +0.0110 against" in said
    )
    assert "does not reach the original's val_acc of 0.6510 (-0.0270)" in said
    assert f"Trained on the other {meta['n_train']:,} Training faces" in text
    assert list(table["exact copy among the training faces"]) == [0.0, 0.0, 0.0]  # generated faces all differ
    assert "about as common in each split (hold-out 0.0%, PublicTest 0.0%, PrivateTest 0.0%)" in text
    images = synth.images.copy()  # copy three faces the model trained on into PublicTest
    pub_rows = np.flatnonzero(synth.splits == "PublicTest")[:3]
    images[pub_rows] = held.split("Training").images[:3]
    copied = FerData(images, synth.labels, synth.splits, "copied", synth.layout)
    table2, _ = holdout.holdout_study(copied, path)
    assert table2.loc["PublicTest", "exact copy among the training faces"] == pytest.approx(3 / 140)
    assert "not equally common: hold-out 0.0%, PublicTest 2.1%" in holdout.describe_holdout(table2, meta)
    with pytest.raises(ConfigError, match="its faces may overlap the training faces"):
        holdout.holdout_study(synthetic_fer(700, 140, 140, seed=5), path)
    with pytest.raises(ConfigError, match="not a hold-out study checkpoint"):
        holdout.holdout_study(synth, tmp_path / "run" / "best.pt")


def test_appendix_lists_local_and_shipped_runs(toy_run, tmp_path, monkeypatch):
    from fer_lib import pretrained as pre

    shutil.copytree(toy_run, tmp_path / "runs" / "report_cnn_try")
    local = book_recipes.local_runs(tmp_path / "runs")
    assert [r["run"] for r in local] == ["report_cnn_try"]
    assert local[0]["epochs"] == local[0]["planned epochs"] == 5 and local[0]["model"] == "report_cnn"
    assert book_recipes.local_runs(tmp_path / "nothing here") == []
    shipped = book_recipes.shipped_runs()  # from the cards: a fresh checkout has them, unlike runs/
    names = sorted(p.stem for p in pre.PRETRAINED_DIR.glob("*.json"))
    assert {r["model"] for r in shipped} == set(names)
    for name in names:
        card = pre.pretrained_info(name)
        rows = [r for r in shipped if r["model"] == name]
        assert len(rows) == card["seeds"] and sum(r["shipped"] for r in rows) == 1
        ship = next(r for r in rows if r["shipped"])
        assert ship["best epoch"] == card["best_epoch"] and ship["minutes"] == card["minutes"]
        assert ship["PublicTest"] == max(r["PublicTest"] for r in rows)  # chosen on PublicTest
        assert all(r["minutes"] is None for r in rows if not r["shipped"])
    # a card from before seed runs were recorded still gives its one run
    card = pre.pretrained_info("report_cnn")
    card.pop("seed_runs")
    monkeypatch.setattr(pre, "pretrained_info", lambda name: card if name == "report_cnn" else None)
    (row,) = book_recipes.shipped_runs()
    assert (row["run"], row["seed"], row["shipped"]) == ("report_cnn", card["config"]["seed"], True)
    assert row["PublicTest"] == card["metrics"]["PublicTest"]["accuracy"]


def test_environment_names_the_cpu_and_its_bf16(tmp_path):
    from fer_lib.device import cpu_has_fast_bf16

    info = book_appendix.environment_info()
    assert info["cpu bf16"].startswith("native" if cpu_has_fast_bf16() else "none")
    assert info["processor"] == book_runs.cpu_model()
    fake = tmp_path / "cpuinfo"
    fake.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx2\n"
    )
    assert book_runs.cpu_model(fake) == "AMD EPYC 9B14"
    assert book_runs.cpu_model(tmp_path / "missing") != ""


def test_targets_say_when_a_reproduced_model_was_distilled(tmp_path):
    import json

    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "model": "report_cnn",
                "seeds": 1,
                "best epoch": 9,
                "epochs": 10,
                "PublicTest": 0.652,
                "PublicTest ten-crop": 0.65,
                "PrivateTest": 0.66,
                "PrivateTest ten-crop": 0.66,
            }
        ]
    ).set_index("model")
    assert "teacher" not in book_results.describe_targets(table)  # the original's loss: nothing to add
    assert "distilled" not in book_results.comparison_table(table).loc["this report: report_cnn", "protocol"]
    table.attrs["teacher"] = {"report_cnn": {"teacher": "big", "distill": 0.5, "distill_temp": 4.0}}
    for run, teacher, acc in [
        ("plain_a", None, 0.640),
        ("plain_b", None, 0.645),
        ("kd", "big", 0.66),
        ("other", None, 0.70),
    ]:
        rec = {
            "run": run,
            "model": "simple_cnn" if run == "other" else "report_cnn",
            "recorded": "2026-12-04",
            "config": {"teacher": teacher},
            "best_PublicTest": acc,
        }
        (tmp_path / f"{run}.json").write_text(json.dumps(rec))
    assert (
        book_results.comparison_table(table)
        .loc["this report: report_cnn", "protocol"]
        .startswith("trained on Training; distilled from big; checkpoint chosen on PublicTest")
    )
    line = book_results.describe_targets(table, folder=tmp_path).splitlines()[0]
    assert (
        "Its loss is not the original's alone: 0.5 × the soft targets of `big` (temperature 4) beside the "
        "cross-entropy." in line
    )
    # the best plain run of this model, not the distilled one nor another model's
    assert line.endswith(
        "Without a teacher, the best of 2 recorded runs of report_cnn (`plain_b`) reached PublicTest 0.6450 "
        "(short of 0.6510; the appendix lists them)."
    )
