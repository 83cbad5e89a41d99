"""Shipped weights: loadable by name, and their recorded PrivateTest accuracy holds on FER2013."""

import itertools
import json

import numpy as np
import pytest

from fer_lib.errors import ConfigError
from fer_lib.evaluate import measure
from fer_lib.models import REGISTRY
from fer_lib.pretrained import PRETRAINED_DIR, fine_tuned_from, load_model, pretrained_info
from fer_lib.ship import export_pretrained
from fer_lib.synthetic import synthetic_fer

from .conftest import REPO, run_cli

SHIPPED = sorted(p.stem for p in PRETRAINED_DIR.glob("*.json"))


def test_export_round_trip(toy_run, synth, tmp_path):
    card = export_pretrained(toy_run, synth, name="toy", dest=tmp_path)
    assert (tmp_path / "toy.pt").stat().st_size < 25e6
    assert set(card["metrics"]) == {"PublicTest", "PrivateTest"}
    assert {"accuracy", "accuracy_flip", "accuracy_tencrop", "n"} <= set(card["metrics"]["PrivateTest"])
    assert card["data_hash"] == synth.fingerprint() and card["history"]
    model, _ = load_model(tmp_path / "toy.pt")
    again = measure(model, synth)
    assert again == card["metrics"]


def test_a_model_built_with_kwargs_ships_and_loads_as_built(synth, tmp_path):
    """simple_cnn with head=dense ships under its plain name; the card's model_kwargs rebuild that head."""
    from fer_lib.train import TrainConfig, train
    from fer_report.records import describe_recipe

    cfg = TrainConfig(
        model="simple_cnn",
        model_kwargs={"head": "dense", "hidden": 16},
        epochs=1,
        batch_size=64,
        progress=False,
        limit=140,
    )
    train(cfg, synth, tmp_path / "run")
    card = export_pretrained(tmp_path / "run", synth, name="simple_cnn", dest=tmp_path / "ship")
    assert card["config"]["model_kwargs"] == {"head": "dense", "hidden": 16}
    assert "the model built with head=dense, hidden=16" in describe_recipe(card["config"])
    model, meta = load_model(tmp_path / "ship" / "simple_cnn.pt")
    assert model.classifier[1].in_features == 16 and meta["model_kwargs"] == card["config"]["model_kwargs"]
    assert measure(model, synth) == card["metrics"]


def test_a_run_on_a_packed_copy_of_some_splits_exports_against_the_whole_data(synth, tmp_path):
    """The GPU route: train on Training + PublicTest packed, measure PrivateTest where the whole file is."""
    from fer_lib.data import read_packed, write_packed
    from fer_lib.train import TrainConfig, train

    write_packed(synth, tmp_path / "train.fer.xz", splits=("Training", "PublicTest"))
    copy = read_packed(tmp_path / "train.fer.xz")
    cfg = TrainConfig(epochs=2, batch_size=64, progress=False, limit=140)
    train(cfg, copy, tmp_path / "run", stop_after=1)
    train(cfg, synth, tmp_path / "run", resume=True)  # resumed on the whole file: the same data
    card = export_pretrained(tmp_path / "run", synth, name="toy", dest=tmp_path / "ship")
    assert card["data_hash"] == synth.fingerprint() and len(card["history"]) == 2
    with pytest.raises(ConfigError, match="was trained on data"):
        export_pretrained(
            tmp_path / "run",
            synthetic_fer(70, 14, 14, seed=5),
            name="toy",
            dest=tmp_path / "ship",
            force=True,
        )


def test_a_compact_copy_of_a_run_exports_the_same_card(toy_run, synth, tmp_path):
    from fer_lib.ship import compact_run
    from fer_lib.train import TrainConfig, train

    files = compact_run(toy_run, tmp_path / "compact")
    assert [f.name for f in files] == ["best.pt", "last.pt"]
    assert sum(f.stat().st_size for f in files) < 0.4 * sum((toy_run / f.name).stat().st_size for f in files)
    whole = export_pretrained(toy_run, synth, name="toy", dest=tmp_path / "a")
    small = export_pretrained(tmp_path / "compact", synth, name="toy", dest=tmp_path / "b")
    assert small["metrics"] == whole["metrics"] and small["history"] == whole["history"]
    assert (tmp_path / "a" / "toy.pt").read_bytes() == (tmp_path / "b" / "toy.pt").read_bytes()
    with pytest.raises(ConfigError, match="holds weights only .* cannot be resumed"):
        train(TrainConfig(epochs=6, batch_size=64, progress=False), synth, tmp_path / "compact", resume=True)
    with pytest.raises(ConfigError, match="no best.pt"):
        compact_run(tmp_path / "a", tmp_path / "c")


def test_unknown_or_missing_pretrained_names():
    with pytest.raises(ConfigError, match="neither a checkpoint file nor a pretrained model"):
        load_model("resnet9000")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_by_name_and_is_small(name):
    # a registered architecture's name, or a fine-tune's: its architecture registered, its origin shipped
    card = pretrained_info(name)
    assert card["model"] in REGISTRY
    if name in REGISTRY:
        assert name == card["model"]
    else:  # a fine-tune: its origin ships, of the same architecture
        origin = card["config"]["init"]
        assert origin != name and origin in SHIPPED and pretrained_info(origin)["model"] == card["model"]
    assert (PRETRAINED_DIR / f"{name}.pt").stat().st_size < 25e6
    model = load_model(name)[0]
    assert not model.training
    info = pretrained_info(name)
    assert info["metrics"]["PrivateTest"]["n"] == 3589


def test_models_json_lists_shipped_metrics():
    r = run_cli("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    for name in SHIPPED:
        assert rows[name]["pretrained"] and "accuracy_tencrop" in rows[name]["metrics"]["PrivateTest"]
        assert rows[name]["seeds"] == pretrained_info(name)["seeds"] >= 1
        assert (rows[name]["seed_summary"] is None) == (rows[name]["seeds"] == 1)
        assert rows[name]["batchnorm_recomputed"] == bool(
            pretrained_info(name).get("batchnorm", {}).get("kept")
        )
        assert rows[name]["model_kwargs"] == pretrained_info(name)["config"].get("model_kwargs", {})
    assert set(SHIPPED) <= set(rows) and all(not rows[n]["pretrained"] for n in set(rows) - set(SHIPPED))
    text = run_cli("models").stdout
    for name in SHIPPED:
        first, *rest = text.split(name, 1)[1].split("\n")
        block = [
            first,
            *itertools.takewhile(lambda line: line.startswith(" "), rest),
        ]  # this model's lines only
        want = (
            f"over {rows[name]['seeds']} seeds (mean ± sd): PublicTest"
            if rows[name]["seeds"] > 1
            else "one seed: no spread"
        )
        assert any(want in line for line in block), (name, block)
        if rows[name]["batchnorm_recomputed"]:
            assert any("BatchNorm statistics recomputed on Training" in line for line in block), (name, block)
        for key, value in rows[name]["model_kwargs"].items():
            assert any("built with" in line and f"{key}={value!r}" in line for line in block), (name, block)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_seed_runs_are_consistent_with_the_card(name):
    """Where a card lists seed runs, the shipped one is the best on PublicTest and its numbers are the
    card's."""
    from fer_lib.ship import seed_summary

    info = pretrained_info(name)
    runs = info.get("seed_runs")
    if not runs:
        assert info["seeds"] == 1 and not info.get("seed_summary")
        return
    assert info["seeds"] == len(runs) == len({r["seed"] for r in runs}) >= 2
    shipped = [r for r in runs if r["shipped"]]
    assert len(shipped) == 1 and shipped[0]["PublicTest"] == max(r["PublicTest"] for r in runs)
    assert shipped[0]["best_epoch"] == info["best_epoch"]
    # seed rows are measured on fp32 best.pt, the card's metrics on the shipped fp16 weights: a face or two
    # apart;
    # where the BatchNorm statistics were recomputed after export, the seed rows are those of the weights as
    # trained
    metrics = (
        info["batchnorm"]["metrics before"] if info.get("batchnorm", {}).get("kept") else info["metrics"]
    )
    for split in ("PublicTest", "PrivateTest"):
        assert abs(shipped[0][split] - metrics[split]["accuracy"]) <= 2.5 / 3589, split
    assert info["seed_summary"] == seed_summary(runs)


def test_a_model_with_no_card_is_listed_without_weights(monkeypatch, capsys):
    import argparse

    from fer_lib.__main__ import _models
    from fer_lib.models import ModelSpec, build_model

    monkeypatch.setitem(
        REGISTRY, "toy_unshipped", ModelSpec("toy_unshipped", lambda **kw: build_model("report_cnn"), "a toy")
    )
    assert _models(argparse.Namespace(json=True)) == 0
    row = {r["name"]: r for r in json.loads(capsys.readouterr().out)}["toy_unshipped"]
    assert (
        row["pretrained"] is False
        and row["seeds"] is None
        and row["model_kwargs"] is None
        and row["metrics"] is None
    )


def own_tta_counts(model, images: np.ndarray, tmp_path, batch: int = 32) -> dict[str, np.ndarray]:
    """Each face's class under each TTA mode, computed here and not by fer_lib.evaluate: the model is
    exported to ONNX and run by onnxruntime (other kernels than torch's, so the card's numbers are
    checked across two engines), on views made here with numpy: the face, then the centre and four
    corner crops of the face reflect-padded by 2 pixels and their mirror images; flip averages the
    probabilities of the face and its mirror, ten-crop of all ten views."""
    import onnxruntime as ort

    from fer_lib.export import export_onnx

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # one worker per core runs the suite
    session = ort.InferenceSession(
        str(export_onnx(model, tmp_path / "m.onnx")), opts, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    offsets = ((2, 2), (0, 0), (0, 4), (4, 0), (4, 4))  # the first is the face itself
    logits = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch].astype(np.float32)[:, None] / np.float32(255.0)
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
        crops = [padded[:, :, dy : dy + 48, dx : dx + 48] for dy, dx in offsets]
        views = np.ascontiguousarray(np.concatenate(crops + [c[..., ::-1] for c in crops]))
        logits.append(session.run(None, {name: views})[0].reshape(10, len(x), -1))
    z = np.concatenate(logits, axis=1).astype(np.float64)
    probs = np.exp(z - z.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    return {
        "accuracy": z[0].argmax(1),
        "accuracy_flip": probs[[0, 5]].mean(0).argmax(1),
        "accuracy_tencrop": probs.mean(0).argmax(1),
    }


# Ten views of 7,178 faces cost about 2 CPU-minutes for report_cnn, 5 for simple_cnn and fer_vgg_s, 10
# for fer_vgg (67 TFLOP): the 15-minute suite holds report_cnn's, `make test-numbers` runs the others
NUMBERS = [
    pytest.param(name, split, marks=[] if name == "report_cnn" else [pytest.mark.numbers])
    for name in SHIPPED
    for split in ("PublicTest", "PrivateTest")
]


@pytest.mark.realdata
@pytest.mark.parametrize("name,split", NUMBERS)
def test_every_shipped_number_is_recomputed_from_the_weights(name, split, real_data, tmp_path):
    """Every accuracy a card gives (plain, flip, ten-crop on PublicTest and PrivateTest), recomputed on
    every face from the shipped weights with this test's own loop, not through fer_lib.evaluate or the
    stored predictions: the same number of faces right, so that a single face's difference fails; and the
    very classes the card stores, face by face.

    `make test` runs report_cnn's two splits; `make test-numbers` runs the other three models' (about 20
    CPU-minutes)."""
    info = pretrained_info(name)
    assert info["data_hash"] == real_data.fingerprint()
    part = real_data.split(split)
    got = own_tta_counts(load_model(name)[0], part.images, tmp_path)
    card = info["metrics"][split]
    assert card["n"] == len(part)
    for key, pred in got.items():
        right = int((pred == part.labels).sum())
        assert right == round(card[key] * card["n"]), (
            f"{name} {split} {key}: {right} faces right, card {card[key]:.4f}"
        )
    mode = {"accuracy": "none", "accuracy_flip": "flip", "accuracy_tencrop": "tencrop"}
    for key, pred in got.items():  # the stored predictions are these predictions
        if f"{split} {mode[key]}" in info.get("predictions", {}):
            stored = np.frombuffer(info["predictions"][f"{split} {mode[key]}"].encode(), np.uint8) - ord("0")
            assert int((stored != pred).sum()) == 0, f"{name} {key}: stored predictions differ"


def test_stored_predictions_are_checked(toy_run, synth, tmp_path):
    """A card keeps its PublicTest and PrivateTest predictions; they give its accuracies, and a wrong one is
    caught."""
    from fer_lib.ship import card_problems, check_predictions, prediction_accuracy, record_predictions

    card = export_pretrained(toy_run, synth, name="toy", dest=tmp_path)
    labels = synth.split("PrivateTest").labels
    for mode, key in (("none", "accuracy"), ("flip", "accuracy_flip"), ("tencrop", "accuracy_tencrop")):
        assert (
            prediction_accuracy(card["predictions"][f"PrivateTest {mode}"], labels)
            == card["metrics"]["PrivateTest"][key]
        )
    model, _ = load_model(tmp_path / "toy.pt")
    _check_catches_edits(card, model, synth)  # card_problems, as on the shipped cards
    lacking = dict(card, predictions={k: v for k, v in card["predictions"].items() if k != "PublicTest flip"})
    assert card_problems(lacking, model, synth, sample=8) == ["no stored PublicTest predictions for flip"]
    assert card_problems(card, model, synthetic_fer(70, 14, 14, seed=5))[0].startswith(
        "the card was measured on data"
    )
    stored = card["predictions"]["PrivateTest tencrop"]
    assert check_predictions(model, synth, stored, sample=50) == 0
    wrong = "".join(str((int(c) + 1) % 7) for c in stored)
    assert check_predictions(model, synth, wrong, sample=50) == min(50, len(labels))
    with pytest.raises(ConfigError, match="stored predictions"):
        prediction_accuracy(stored[:-1], labels)
    # an older card without predictions gets them, once its accuracies are confirmed
    path = tmp_path / "toy.json"
    old = json.loads(path.read_text())
    old.pop("predictions")
    path.write_text(json.dumps(old))
    assert record_predictions("toy", synth, dest=tmp_path) == card["predictions"]
    private = {k: v for k, v in card["predictions"].items() if k.startswith("PrivateTest")}
    path.write_text(
        json.dumps(dict(old, predictions=private))
    )  # a card made when only PrivateTest's were kept
    assert record_predictions("toy", synth, dest=tmp_path) == card["predictions"]
    assert json.loads(path.read_text())["predictions"] == card["predictions"]
    old["metrics"]["PrivateTest"]["accuracy_tencrop"] += 0.1
    path.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="the card says"):
        record_predictions("toy", synth, dest=tmp_path)


@pytest.mark.realdata
def test_shipped_holdout_study_matches_its_training_record(real_data):
    from fer_report import holdout

    if not holdout.HOLDOUT_STUDY.exists():
        pytest.skip("no hold-out study model ships")
    table, meta = holdout.holdout_study(real_data)  # raises if its hold-out is not this data's
    best = max(meta["history"], key=lambda e: e["val_acc"])
    # the hold-out accuracy of the shipped fp16 weights is the one the run recorded for its best epoch
    assert abs(table["accuracy"].iloc[0] - best["val_acc"]) <= 3 / table["n"].iloc[0], (table, best)
    assert table["n"].iloc[1] == table["n"].iloc[2] == 3589


def test_export_with_seed_runs_ships_the_best_public_test_run(synth, tmp_path):
    from fer_lib.train import TrainConfig, train
    from fer_report import results as book_results

    runs = []
    for seed in (0, 1, 2):
        out = tmp_path / f"s{seed}"
        train(TrainConfig(epochs=2, batch_size=64, progress=False, limit=210, seed=seed), synth, out)
        runs.append(out)
    best_public = {
        r.name: max(h["val_acc"] for h in json.loads((r / "history.json").read_text())) for r in runs
    }
    best_run = max(best_public, key=best_public.get)  # the first of equals, as export chooses
    card = export_pretrained(runs[0], synth, name="toy", dest=tmp_path / "ship", seed_runs=runs[1:])
    assert card["seeds"] == 3 and [r["seed"] for r in card["seed_runs"]] == [0, 1, 2]
    shipped = [r for r in card["seed_runs"] if r["shipped"]]
    assert len(shipped) == 1 and shipped[0]["run"] == best_run
    # the row is measured again in float32; the history's numbers were taken under bf16 autocast and may
    # differ by a face
    assert shipped[0]["PublicTest"] == pytest.approx(
        best_public[best_run], abs=1.5 / len(synth.split("PublicTest").labels)
    )
    assert card["history"] == json.loads((tmp_path / shipped[0]["run"] / "history.json").read_text())
    s = card["seed_summary"]["PrivateTest"]
    values = [r["PrivateTest"] for r in card["seed_runs"]]
    assert s["min"] == min(values) and s["max"] == max(values) and s["mean"] == pytest.approx(sum(values) / 3)
    text = book_results.describe_seeds(card)
    assert text.startswith("Over 3 seeds (seeds 0, 1, 2; mean ± sample sd): PublicTest ")
    assert f"seed {shipped[0]['seed']}'s" in text
    assert book_results.describe_seeds({"seeds": 1}) == ""
    # a run of another recipe, or the same seed twice, is refused
    other = tmp_path / "other"
    train(TrainConfig(epochs=2, batch_size=64, progress=False, limit=210, seed=3, lr=3e-4), synth, other)
    ship = dict(name="toy", dest=tmp_path / "ship", force=True)  # past the check that toy already ships
    with pytest.raises(ConfigError, match="is not a seed run of"):
        export_pretrained(runs[0], synth, seed_runs=[other], **ship)
    with pytest.raises(ConfigError, match=r"seed runs must differ in seed; got seeds \[0, 0\]"):
        export_pretrained(runs[0], synth, seed_runs=[runs[0]], **ship)


def test_seed_summary_is_mean_sample_sd_and_range():
    from fer_lib.ship import seed_summary

    rows = [{"PublicTest": a, "PrivateTest": b} for a, b in ((0.60, 0.62), (0.62, 0.66), (0.64, 0.64))]
    out = seed_summary(rows, keys=("PublicTest", "PrivateTest"))
    assert out["PublicTest"] == pytest.approx({"mean": 0.62, "sd": 0.02, "min": 0.60, "max": 0.64})
    assert out["PrivateTest"]["sd"] == pytest.approx(0.02) and out["PrivateTest"]["mean"] == pytest.approx(
        0.64
    )
    assert seed_summary(rows[:1], keys=("PublicTest",))["PublicTest"]["sd"] is None


def test_recomputed_batchnorm_statistics_ship_only_if_public_test_gains(
    toy_run, synth, tmp_path, monkeypatch
):
    import torch

    from fer_lib import ship as S
    from fer_lib.pretrained import load_model
    from fer_lib.ship import recompute_shipped_batchnorm, save_fp16

    export_pretrained(toy_run, synth, name="toy", dest=tmp_path)
    model, meta = load_model(tmp_path / "toy.pt")
    with torch.no_grad():  # statistics far off: every ReLU after a BatchNorm goes dark and one class wins
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.fill_(50.0)
    save_fp16(model, meta, tmp_path / "toy.pt")
    before = (tmp_path / "toy.pt").read_bytes(), (tmp_path / "toy.json").read_text()

    real = S.recompute_batchnorm
    monkeypatch.setattr(
        S, "recompute_batchnorm", lambda *a, **k: 0
    )  # statistics unchanged: no gain, weights kept
    entry = recompute_shipped_batchnorm("toy", synth, dest=tmp_path)
    assert entry["kept"] is False and entry["PublicTest after"] == entry["PublicTest before"]
    assert (tmp_path / "toy.pt").read_bytes() == before[0]
    tried = json.loads(
        (tmp_path / "toy.json").read_text()
    )  # the card records the trial, nothing else changes
    assert tried.pop("batchnorm") == entry and tried == json.loads(before[1])
    assert "metrics before" not in entry and not list(tmp_path.glob(".*"))

    monkeypatch.setattr(S, "recompute_batchnorm", real)
    entry = recompute_shipped_batchnorm("toy", synth, dest=tmp_path)
    assert entry["kept"] and entry["PublicTest after"]["accuracy"] > entry["PublicTest before"]["accuracy"]
    card = json.loads((tmp_path / "toy.json").read_text())
    assert card["batchnorm"]["images"] == 700 and "metrics before" in card["batchnorm"]
    shipped, meta = load_model(tmp_path / "toy.pt")
    assert measure(shipped, synth) == card["metrics"] and "dropout off" in meta["batchnorm"]
    assert card["metrics"]["PublicTest"] == entry["PublicTest after"]
    from fer_report import results as book_results

    text = book_results.describe_batchnorm(card)
    assert (
        f"{entry['PublicTest before']['accuracy']:.4f} → {entry['PublicTest after']['accuracy']:.4f}" in text
    )
    assert "recomputed on all 700 Training images" in text
    with pytest.raises(ConfigError, match="already recomputed"):
        recompute_shipped_batchnorm("toy", synth, dest=tmp_path)
    from fer_lib.synthetic import synthetic_fer

    (tmp_path / "toy.json").write_text(json.dumps(dict(card, batchnorm=dict(card["batchnorm"], kept=False))))
    with pytest.raises(ConfigError, match="trained on data"):
        recompute_shipped_batchnorm("toy", synthetic_fer(70, 14, 14, seed=5), dest=tmp_path)
    with pytest.raises(ConfigError, match="no weights and card for 'toy'"):
        recompute_shipped_batchnorm("toy", synth, dest=tmp_path / "elsewhere")


def test_seed_runs_join_a_shipped_card_whose_run_folder_is_gone(synth, tmp_path):
    """add_seed_runs: the shipped row comes from the card; the best PublicTest run ships, old or new."""
    import shutil

    from fer_lib.ship import add_seed_runs, seed_summary
    from fer_lib.train import TrainConfig, train

    runs = {}
    for seed in (0, 1, 2):
        runs[seed] = tmp_path / f"s{seed}"
        train(TrainConfig(epochs=2, batch_size=64, progress=False, limit=210, seed=seed), synth, runs[seed])
    ship = tmp_path / "ship"
    first = export_pretrained(runs[0], synth, name="toy", dest=ship)
    shutil.rmtree(runs[0])  # the shipped run's folder is not kept
    card_path, weights = ship / "toy.json", (ship / "toy.pt").read_bytes()

    # the shipped run stays ahead on PublicTest: its weights stay, its row is the card's numbers
    card_path.write_text(json.dumps(dict(first, history=[dict(h, val_acc=1.0) for h in first["history"]])))
    card = add_seed_runs("toy", [runs[1], runs[2]], synth, dest=ship)
    assert (ship / "toy.pt").read_bytes() == weights and card == json.loads(card_path.read_text())
    assert card["seeds"] == 3 and [r["seed"] for r in card["seed_runs"]] == [0, 1, 2]
    assert [r["shipped"] for r in card["seed_runs"]] == [True, False, False]
    row0 = card["seed_runs"][0]
    assert row0["PublicTest"] == first["metrics"]["PublicTest"]["accuracy"]
    assert row0["PrivateTest ten-crop"] == first["metrics"]["PrivateTest"]["accuracy_tencrop"]
    assert card["seed_summary"] == seed_summary(card["seed_runs"])
    assert card["selected_on"].endswith("then best seed run)")

    # a new run ahead of the shipped one on PublicTest ships in its place; the old row stays, not shipped
    card_path.write_text(json.dumps(dict(first, history=[dict(h, val_acc=0.0) for h in first["history"]])))
    card = add_seed_runs("toy", [runs[1], runs[2]], synth, dest=ship)
    best = max(
        (1, 2), key=lambda s: max(h["val_acc"] for h in json.loads((runs[s] / "history.json").read_text()))
    )
    assert [r["seed"] for r in card["seed_runs"] if r["shipped"]] == [best]
    assert card["config"]["seed"] == best and (ship / "toy.pt").read_bytes() != weights
    assert card["history"] == json.loads((runs[best] / "history.json").read_text())
    assert card["seed_runs"][0]["PublicTest"] == first["metrics"]["PublicTest"]["accuracy"]

    # a run of another recipe, the shipped seed again, or no run at all is refused
    other = tmp_path / "other"
    train(TrainConfig(epochs=2, batch_size=64, progress=False, limit=210, seed=3, lr=3e-4), synth, other)
    with pytest.raises(ConfigError, match="is not a seed run of the shipped toy"):
        add_seed_runs("toy", [other], synth, dest=ship)
    with pytest.raises(ConfigError, match=r"seed runs must differ in seed; got seeds \[0, 1, 2, 1\]"):
        add_seed_runs("toy", [runs[1]], synth, dest=ship)
    with pytest.raises(ConfigError, match="at least one run folder"):
        add_seed_runs("toy", [], synth, dest=ship)


def test_seed_text_gives_the_spread_and_the_shipped_seed_without_precision_notes():
    from fer_report import results as book_results

    rows = [
        {"seed": s, "shipped": s == 0, "PublicTest": 0.6, "bf16": b}
        for s, b in ((0, False), (1, True), (2, True))
    ]
    card = {
        "seed_runs": rows,
        "seed_summary": {"PublicTest": {"mean": 0.6, "sd": 0.01, "min": 0.59, "max": 0.61}},
    }
    text = book_results.describe_seeds(card)
    assert text == (
        "Over 3 seeds (seeds 0, 1, 2; mean ± sample sd): PublicTest 0.6000 ± 0.0100 (range 0.5900–0.6100). "
        "The shipped weights are seed 0's, the run with the best PublicTest accuracy."
    )
    assert "bf16" not in text and "float32" not in text  # precision is the appendix's business


def test_an_experiment_is_recorded_with_its_recipe_and_history_but_no_weights(toy_run, synth, tmp_path):
    from fer_lib.pretrained import experiments
    from fer_lib.ship import record_experiment
    from fer_report.records import experiment_rows

    rec = record_experiment(
        toy_run, synth, "  Does a toy run learn?  ", note="Ran to its end. ", dest=tmp_path
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{toy_run.name}.json"]  # nothing but the record
    saved = json.loads((tmp_path / f"{toy_run.name}.json").read_text())
    assert saved == rec and rec["question"] == "Does a toy run learn?" and rec["note"] == "Ran to its end."
    assert rec["data_hash"] == synth.data_hash()
    best = max(rec["history"], key=lambda h: h["val_acc"])
    assert (rec["best_epoch"], rec["best_PublicTest"]) == (best["epoch"], best["val_acc"])
    assert (
        rec["epochs"] == rec["planned_epochs"] == 5
        and rec["validated_with"] == "the trainer's running BatchNorm statistics"
    )
    assert "PrivateTest" not in json.dumps(rec)
    assert experiments(folder=tmp_path) == [rec] and experiments("simple_cnn", folder=tmp_path) == []
    rows = experiment_rows(folder=tmp_path)
    assert (
        rows[0]["epochs"] == "5"
        and "augmentation" in rows[0]["recipe"]
        and rows[0]["note"] == "Ran to its end."
    )
    with pytest.raises(ConfigError, match="needs the question"):
        record_experiment(toy_run, synth, " ", dest=tmp_path)
    with pytest.raises(ConfigError, match="trained on data"):
        record_experiment(toy_run, synthetic_fer(70, 14, 14, seed=5), "q", dest=tmp_path)
    with pytest.raises(ConfigError, match="no last.pt"):
        record_experiment(tmp_path, synth, "q", dest=tmp_path)


def test_a_retired_shipped_model_stays_as_an_experiment_record(synth, tmp_path):
    from fer_lib.pretrained import experiments
    from fer_lib.ship import retire_pretrained
    from fer_lib.train import TrainConfig, train
    from fer_report.records import experiment_rows

    runs = []
    for seed in (0, 1):
        train(
            TrainConfig(epochs=2, batch_size=64, progress=False, limit=210, seed=seed),
            synth,
            tmp_path / f"s{seed}",
        )
        runs.append(tmp_path / f"s{seed}")
    card = export_pretrained(runs[0], synth, name="toy", dest=tmp_path / "ship", seed_runs=runs[1:])
    shipped = next(r for r in card["seed_runs"] if r["shipped"])
    other = next(r for r in card["seed_runs"] if not r["shipped"])
    rec = retire_pretrained(
        "toy",
        " Does the toy recipe ship? ",
        note="Replaced.",
        source=tmp_path / "ship",
        dest=tmp_path / "records",
    )
    assert json.loads((tmp_path / "records" / f"{shipped['run']}.json").read_text()) == rec
    assert (rec["run"], rec["shipped_as"], rec["question"], rec["note"]) == (
        shipped["run"],
        "toy",
        "Does the toy recipe ship?",
        "Replaced.",
    )
    assert (
        rec["history"] == card["history"]
        and rec["config"] == card["config"]
        and rec["seed"] == shipped["seed"]
    )
    best = max(card["history"], key=lambda h: h["val_acc"])
    assert (rec["best_epoch"], rec["best_PublicTest"]) == (best["epoch"], best["val_acc"])
    assert rec["other_seeds"] == [
        {
            "run": other["run"],
            "seed": other["seed"],
            "best_epoch": other["best_epoch"],
            "PublicTest": other["PublicTest"],
        }
    ]
    assert "PrivateTest" not in json.dumps(rec)  # the card's PrivateTest numbers do not travel into a record
    assert (
        "init_weights" not in rec and "teacher_weights" not in rec
    )  # neither run started from or distilled other weights
    assert experiments(folder=tmp_path / "records") == [rec]
    row = experiment_rows(folder=tmp_path / "records")[0]
    assert row["epochs"] == "2" and row["note"] == (
        "Replaced. It shipped as `toy` until a recipe with a higher PublicTest accuracy replaced it; the "
        "recipe's other "
        f"seed runs reached PublicTest {other['PublicTest']:.4f} (seed {other['seed']})."
    )
    # a card that knows the weights its run started from and was distilled from passes both fingerprints on
    prints = {"init_weights": "0123456789abcdef", "teacher_weights": "fedcba9876543210"}
    (tmp_path / "ship" / "toy.json").write_text(json.dumps(card | prints))
    rec = retire_pretrained("toy", "q", source=tmp_path / "ship", dest=tmp_path / "records2")
    assert {k: rec[k] for k in prints} == prints
    with pytest.raises(ConfigError, match="nothing ships as 'nope'"):
        retire_pretrained("nope", "q", source=tmp_path / "ship", dest=tmp_path / "records")
    with pytest.raises(ConfigError, match="needs the question"):
        retire_pretrained("toy", "  ", source=tmp_path / "ship", dest=tmp_path / "records")


@pytest.mark.parametrize(
    "path",
    # the package's records, and the studies' (docs/studies: runs that were not candidates for shipping)
    sorted(
        [
            *(PRETRAINED_DIR / "experiments").glob("*.json"),
            *(REPO / "docs/studies/experiments").glob("*.json"),
        ]
    ),
    ids=lambda p: p.stem,
)
def test_recorded_experiments_are_whole_and_on_the_shipped_data(path):
    """Each committed record's best is its history's best, on the data the shipped models were trained on."""
    rec = json.loads(path.read_text())
    assert rec["run"] == path.stem and rec["question"]
    hist = rec["history"]
    assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1)) and rec["epochs"] == len(hist) <= rec[
        "planned_epochs"
    ]
    best = max(hist, key=lambda h: h["val_acc"])
    assert (rec["best_epoch"], rec["best_PublicTest"]) == (best["epoch"], best["val_acc"])
    assert rec["data_hash"] == pretrained_info(rec["model"])["data_hash"]
    assert abs(rec["minutes"] - sum(h["seconds"] for h in hist) / 60) < 0.06


def test_ship_commands_wrap_the_maintainer_steps(toy_run, synth_csv, tmp_path, capsys):
    from fer_lib.__main__ import main

    dest = tmp_path / "ship"
    assert main(["ship", "export", str(toy_run), "--data", str(synth_csv), "--dest", str(dest)]) == 0
    card = json.loads((dest / "report_cnn.json").read_text())
    assert f"PublicTest {card['metrics']['PublicTest']['accuracy']:.4f}" in capsys.readouterr().out
    assert main(["ship", "batchnorm", "report_cnn", "--data", str(synth_csv), "--dest", str(dest)]) == 0
    entry = json.loads((dest / "report_cnn.json").read_text())["batchnorm"]
    assert ("; kept" if entry["kept"] else "; not kept") in capsys.readouterr().out
    assert (
        main(
            [
                "ship",
                "record",
                str(toy_run),
                "--data",
                str(synth_csv),
                "--question",
                "does it learn?",
                "--dest",
                str(dest),
            ]
        )
        == 0
    )
    record = json.loads((dest / "experiments" / f"{toy_run.name}.json").read_text())
    assert record["question"] == "does it learn?" and "PrivateTest" not in json.dumps(record)
    retire = ["ship", "retire", "report_cnn", "--question", "replaced?", "--dest", str(dest)]
    assert main(retire) == 2  # the card's run is the one just recorded: that record is kept
    assert "already records a run named" in capsys.readouterr().err
    assert main([*retire, "--force"]) == 0
    run = json.loads((dest / "report_cnn.json").read_text())["run"]  # one seed: the card's own run
    retired = json.loads((dest / "experiments" / f"{run}.json").read_text())
    assert retired["shipped_as"] == "report_cnn" and retired["question"] == "replaced?"
    assert f"kept as the experiment record {run}" in capsys.readouterr().out
    assert main(["ship", "batchnorm", "nothing", "--data", str(synth_csv), "--dest", str(dest)]) == 2


def test_cards_and_records_share_one_schema(toy_run, synth, tmp_path):
    """Every shipped card and kept record, and a card and record made now, have the run's keys with
    values that agree with their history; a card adds the shipping keys, a record its question."""
    from fer_lib.pretrained import EXPERIMENTS_DIR, RUN_KEYS, schema_problems
    from fer_lib.ship import record_experiment

    for path in PRETRAINED_DIR.glob("*.json"):
        assert schema_problems(json.loads(path.read_text()), "card") == [], path
    for path in EXPERIMENTS_DIR.glob("*.json"):
        assert schema_problems(json.loads(path.read_text()), "record") == [], path
    card = export_pretrained(toy_run, synth, name="toy", dest=tmp_path)
    record = record_experiment(toy_run, synth, question="does it learn?", dest=tmp_path)
    assert schema_problems(card, "card") == [] and schema_problems(record, "record") == []
    assert {k: card[k] for k in RUN_KEYS if k != "minutes"} == {
        k: record[k] for k in RUN_KEYS if k != "minutes"
    }
    broken = dict(card, epochs=card["epochs"] + 1)
    del broken["metrics"]
    assert schema_problems(broken, "card") == [
        "no 'metrics'",
    ]
    assert schema_problems(dict(card, epochs=card["epochs"] + 1), "card") == [
        f"'epochs' is {card['epochs'] + 1} but the history has {card['epochs']} epochs"
    ]


def _edited(card: dict, key: str, face: int, label: int) -> dict:
    """A copy of ``card`` whose stored ``key`` predictions say ``label`` for ``face``."""
    preds = dict(card["predictions"])
    preds[key] = preds[key][:face] + str(label) + preds[key][face + 1 :]
    return dict(card, predictions=preds)


def _check_catches_edits(card: dict, model, data) -> None:
    """card_problems passes ``card`` and fails its copies with a number or one stored prediction changed."""
    from fer_lib.ship import card_problems

    assert card_problems(card, model, data, sample=8) == []
    n = card["metrics"]["PublicTest"]["n"]
    number = json.loads(json.dumps(card))
    number["metrics"]["PublicTest"]["accuracy_flip"] += 1 / n  # one face more right than stored
    (problem,) = card_problems(number, model, data, sample=8)
    assert problem.startswith("PublicTest accuracy_flip: the card says")
    part = data.split("PrivateTest")
    sampled = np.sort(np.random.default_rng(0).choice(len(part), size=8, replace=False))
    key = "PrivateTest tencrop"
    face = int(sampled[3])  # a sampled face given another class: the weights disagree
    other = (int(card["predictions"][key][face]) + 1) % 7
    problems = card_problems(_edited(card, key, face, other), model, data, sample=8)
    want = (
        "PrivateTest tencrop: the weights predict otherwise than stored on 1 of 8 sampled faces "
        + f"(faces {face})"
    )
    assert want in problems, problems
    stored = np.frombuffer(card["predictions"][key].encode(), np.uint8) - ord("0")
    face = next(i for i in range(len(part)) if i not in sampled and stored[i] == part.labels[i])
    (problem,) = card_problems(_edited(card, key, face, (part.labels[face] + 1) % 7), model, data, sample=8)
    assert problem.startswith("PrivateTest accuracy_tencrop: the card says")  # a right face made wrong


@pytest.mark.realdata
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_numbers_are_those_of_the_stored_predictions_and_the_weights(name, real_data):
    """Each card's accuracies, both test splits and every TTA mode, are its stored predictions' on the real
    labels, and the shipped weights make the stored predictions on 40 faces of each split (a fixed sample):
    seconds, where recomputing every face takes minutes (`make test-numbers`)."""
    from fer_lib.ship import card_problems

    assert card_problems(pretrained_info(name), load_model(name)[0], real_data) == []


@pytest.mark.realdata
def test_a_shipped_card_with_a_number_or_a_prediction_edited_fails_the_check(real_data):
    _check_catches_edits(pretrained_info("report_cnn"), load_model("report_cnn")[0], real_data)


def test_a_fine_tune_ships_under_its_own_name_beside_its_origin(toy_run, synth, tmp_path, monkeypatch):
    """Weights fine-tuned from a shipped model ship under a name that is no registered architecture: listed,
    loaded by name, described from their card; a name with folder parts is never looked up, and a name that
    is another model's or the ensemble's is refused."""
    from fer_lib import pretrained
    from fer_lib.models import weights_fingerprint
    from fer_lib.train import TrainConfig, train

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    export_pretrained(toy_run, synth, dest=tmp_path)  # the origin, as report_cnn
    origin = pretrained.load_model("report_cnn")[0]
    cfg = TrainConfig(epochs=2, batch_size=64, progress=False, init="report_cnn", photo=True)
    tuned_run = tmp_path / "runs" / "rc_photo"
    train(cfg, synth, tuned_run, init=origin)
    for taken in ("ensemble", "simple_cnn"):
        with pytest.raises(ConfigError, match=f"--name {taken}: that name is taken"):
            export_pretrained(tuned_run, synth, name=taken, dest=tmp_path)
    card = export_pretrained(tuned_run, synth, name="report_cnn_photo", dest=tmp_path)
    assert pretrained.shipped_names() == ["report_cnn", "report_cnn_photo"]
    model, meta = pretrained.load_model("report_cnn_photo")
    assert meta["card"]["model"] == "report_cnn" and meta["card"]["config"]["photo"] is True
    assert measure(model, synth) == card["metrics"]
    assert pretrained.fine_tuned_from("report_cnn_photo") == "report_cnn"
    assert card["init_weights"] == weights_fingerprint(origin)  # the origin as it ships
    assert pretrained.fine_tuned_from("report_cnn") is None
    said = pretrained.describe("report_cnn_photo")
    assert said.startswith("report_cnn fine-tuned on faces made photo-like")
    assert f"epoch {card['best_epoch']} of {card['epochs']}, chosen on PublicTest" in said
    assert pretrained.describe("report_cnn") == pretrained.REGISTRY["report_cnn"].description
    for bad in ("../report_cnn_photo", "runs/../report_cnn_photo", ".report_cnn_photo"):
        assert pretrained.pretrained_info(bad) is None
    with pytest.raises(ConfigError, match="neither a checkpoint file nor a pretrained model"):
        pretrained.load_model("nothing_shipped")
    with pytest.raises(ConfigError, match="no registered model or shipped weights"):
        pretrained.describe("nothing_shipped")


def test_a_run_started_from_a_checkpoint_or_from_itself_is_no_fine_tune(monkeypatch):
    from fer_lib import pretrained

    cards = {"a": {"config": {"init": "runs/x/best.pt"}}, "b": {"config": {"init": "b"}}, "c": {"config": {}}}
    monkeypatch.setattr(pretrained, "pretrained_info", cards.get)
    assert [pretrained.fine_tuned_from(n) for n in ("a", "b", "c", "none")] == [None, None, None, None]


@pytest.mark.parametrize("name", [n for n in SHIPPED if fine_tuned_from(n)])
def test_a_shipped_fine_tune_started_from_the_weights_its_origin_ships(name):
    """Its card's init_weights are the shipped origin's fingerprint: retraining the origin without tuning it
    again would fail here."""
    from fer_lib.models import weights_fingerprint

    origin = fine_tuned_from(name)
    assert pretrained_info(name)["init_weights"] == weights_fingerprint(load_model(origin)[0])
    assert pretrained_info(name)["model"] == pretrained_info(origin)["model"]


def test_the_default_ensemble_loads_the_packages_weights_not_a_local_folder(tmp_path, monkeypatch):
    from fer_lib.pretrained import ENSEMBLE_WEIGHTS, load_ensemble

    monkeypatch.chdir(tmp_path)
    for name in ENSEMBLE_WEIGHTS:
        (tmp_path / name).mkdir()  # a folder named like a member, without best.pt
    net, meta = load_ensemble()
    assert sorted(meta["weights"]) == sorted(n for n, w in ENSEMBLE_WEIGHTS.items() if w > 0)
