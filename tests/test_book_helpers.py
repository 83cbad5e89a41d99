"""The chapters' helpers (fer_report) on hand-made inputs with known answers."""

import json

import numpy as np
import pytest
import torch

from fer_report import q2_training as training
from fer_report import q3_confusion as confusion
from fer_report import q4_saliency as saliency
from fer_report import q5_filters as filters
from fer_report import results

from .conftest import REPO

SHIPPED = "shipped model (chosen on PublicTest)"

A, D, F, H, S, U, N = range(7)  # angry, disgust, fear, happy, sad, surprise, neutral


def matrix(entries: dict[tuple[int, int], int], diagonal: int = 50) -> np.ndarray:
    cm = np.eye(7, dtype=int) * diagonal
    for (t, p), n in entries.items():
        cm[t, p] = n
    return cm


def test_the_original_claims_are_tested_on_the_matrix():
    # fear and angry misread most, both mostly as sad; fear's errors spread over four classes
    cm = matrix(
        {(F, S): 20, (F, U): 10, (F, A): 10, (F, N): 10, (A, S): 30, (A, D): 5, (S, N): 5}, diagonal=50
    )
    claims = confusion.original_claims(cm)
    assert claims["lowest_recall"] == ["fear", "angry"] and claims["fear_and_angry_misread"]
    assert claims["wrong_as"]["fear"] == ("sad", 20, 50) and claims["wrong_as"]["angry"] == ("sad", 30, 35)
    assert claims["both_mostly_sad"]
    # fear: 20/50, 10/50 x3 -> entropy 1.922 bits; angry: 30/35, 5/35 -> 0.592; sad: one class -> 0
    assert claims["spread"]["fear"] == pytest.approx(1.9219, abs=1e-4)
    assert claims["spread"]["angry"] == pytest.approx(0.5917, abs=1e-4)
    assert (
        claims["spread"]["sad"] == 0.0 and claims["widest_spread"] == "fear" and claims["fear_spreads_most"]
    )
    text = confusion.describe_claims(claims)
    assert text.count("**Confirmed.**") == 3
    # the other way round: angry read mostly as disgust, fear fine
    other = confusion.original_claims(matrix({(A, D): 30, (S, N): 40, (D, A): 45}))
    assert not other["both_mostly_sad"] and not other["fear_and_angry_misread"]
    assert "**Not confirmed.**" in confusion.describe_claims(other)


def test_a_pair_and_its_reverse_have_their_own_reason():
    assert confusion.explain_pair("fear", "sad") != confusion.explain_pair("sad", "fear")
    assert confusion.explain_pair("sad", "neutral") != confusion.explain_pair("neutral", "sad")
    assert "mild happy face" in confusion.explain_pair("happy", "disgust")  # the fallback names the direction


def test_conclusion_counts_the_claims_that_hold():
    cm = matrix({(F, S): 20, (F, U): 10, (F, A): 10, (F, N): 10, (A, S): 30, (A, D): 5, (S, N): 5})
    text = confusion.conclusion(cm, "toy", confusion.original_claims(cm))
    assert "reading angry as sad (30 faces" in text and "3 hold here" in text


def test_paired_difference_and_its_interval():
    a, b = np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.3, 0.4, 0.7, 0.7])
    d, lo, hi = saliency.paired_difference(a, b)
    # differences -0.1, 0, -0.1, 0.1: mean -0.025, sd 0.0957, half-width 1.96 * 0.0957 / 2
    assert d == pytest.approx(-0.025) and hi - d == pytest.approx(
        1.96 * np.std([-0.1, 0, -0.1, 0.1], ddof=1) / 2
    )
    assert lo < 0 < hi


def test_auc_table_calls_a_tie_a_tie():
    rng = np.random.default_rng(0)
    rand = {"deletion_auc": rng.uniform(0.4, 0.6, 200), "insertion_auc": rng.uniform(0.4, 0.6, 200)}
    good = {"deletion_auc": rand["deletion_auc"] - 0.1, "insertion_auc": rand["insertion_auc"] + 0.1}
    same = {
        "deletion_auc": rand["deletion_auc"] + rng.normal(0, 0.01, 200),
        "insertion_auc": rand["insertion_auc"] - 0.2,
    }
    table = saliency.auc_table({"m": {"random": rand, "good": good, "same": same}})
    assert (
        table.loc[("m", "good"), "deletion"] == "better" and table.loc[("m", "good"), "insertion"] == "better"
    )
    assert table.loc[("m", "same"), "deletion"] == "tie" and table.loc[("m", "same"), "insertion"] == "worse"
    assert table.loc[("m", "good"), "deletion vs random"] == pytest.approx(-0.1)


def test_randomisation_table_passes_at_the_threshold():
    res = {
        "m": {
            "a": [("none", 1.0), ("top", 0.9), ("all", 0.5)],
            "b": [("none", 1.0), ("top", 0.95), ("all", 0.8)],
        }
    }
    t = saliency.randomisation_table(res)
    assert bool(t.loc[("m", "a"), "passes"]) and not bool(t.loc[("m", "b"), "passes"])
    assert (
        t.loc[("m", "b"), "margin"] == pytest.approx(-0.3)
        and t.loc[("m", "a"), "rho after the top layer"] == 0.9
    )


def test_filter_selectivity_on_known_responses():
    labels = np.array([H] * 10 + [S] * 30 + [N] * 60)  # base rates: happy 0.1, sad 0.3, neutral 0.6
    peaks = np.zeros((100, 2))
    peaks[:10, 0] = 5.0  # filter 0: its top 10 faces are the 10 happy ones
    peaks[:, 1] = np.arange(100)  # filter 1: its top 10 are the last 10 (neutral)
    rows = np.zeros((100, 2), dtype=int)
    rows[:, 0] = 5  # filter 0 peaks at row 5 of 6: the lower third
    t = filters.selectivity(peaks, rows, 6, labels, k=10)
    assert t.loc[0, "dominant class"] == "happy" and t.loc[0, "share of top faces"] == 1.0
    assert t.loc[0, "lift"] == pytest.approx(10.0) and t.loc[0, "peak band"] == "lower third (mouth)"
    assert t.loc[1, "dominant class"] == "neutral" and t.loc[1, "lift"] == pytest.approx(1 / 0.6)
    assert t.loc[1, "peak band"] == "upper third (brows and eyes)"
    assert list(filters.most_selective(t, 1).index) == [0]
    assert filters.band_of(2, 6) == "middle third (nose)"


def test_peak_responses_match_the_layer_outputs(toy_model, synth):
    from fer_lib.attribution import layer_activations
    from fer_lib.evaluate import to_float_images

    x = to_float_images(synth.split("PublicTest").images[:40])
    peak, rows, height = filters.peak_responses(toy_model, x, batch_size=16)
    act = layer_activations(toy_model, x)
    assert height == act.shape[2] and peak.shape == act.shape[:2]
    np.testing.assert_allclose(peak, act.flatten(2).amax(2).numpy(), rtol=1e-5)
    i, f = 3, 1
    r, c = np.unravel_index(act[i, f].numpy().argmax(), act.shape[2:])
    assert rows[i, f] == r


def test_accuracy_interval_is_wilsons():
    lo, hi = results.accuracy_interval(0.5, 100)
    assert (lo, hi) == pytest.approx((0.40383, 0.59617), abs=1e-5)
    lo, hi = results.accuracy_interval(0.7356, 3589)
    assert hi - lo == pytest.approx(0.0288, abs=5e-4)  # about +-1.4 points on a 3,589-face test set


def test_stored_accuracy_leaves_out_the_faces_asked():
    labels = np.array([0, 1, 2, 3])
    assert results.stored_accuracy("0120", labels) == 0.75
    assert results.stored_accuracy("0120", labels, keep=np.array([True, True, True, False])) == 1.0
    with pytest.raises(Exception, match="3 stored predictions for 4 faces"):
        results.stored_accuracy("012", labels)


def test_answers_table_measures_the_shipped_weights(synth):
    from fer_lib.evaluate import measure
    from fer_lib.pretrained import load_model

    table = results.answers_table(synth)
    assert list(table.index) == ["original report", "report_cnn", "simple_cnn", "fer_vgg"]
    card = json.loads((REPO / "fer_lib/pretrained/fer_vgg.json").read_text())
    s = card["seed_summary"]["PrivateTest ten-crop"]
    assert table.loc["fer_vgg", ("seed mean ± sd", "ten-crop")] == f"{s['mean']:.4f} ± {s['sd']:.4f}"
    m = measure(load_model("fer_vgg")[0], synth, splits=("PrivateTest",), engine="torch")["PrivateTest"]
    assert table.loc["fer_vgg", (SHIPPED, "ten-crop")] == f"{m['accuracy_tencrop']:.4f}"  # these faces'
    assert (
        table.loc["fer_vgg", (SHIPPED, "ten-crop")]
        != f"{card['metrics']['PrivateTest']['accuracy_tencrop']:.4f}"
    )


def test_answers_table_on_fer2013_leaves_out_the_copies(real_data, monkeypatch):
    """The copy-free column from each face's measured class (here the card's stored classes stand in for
    the measurement, which `make test` checks against the weights face by face, so this test stays fast)."""
    from fer_lib import pretrained
    from fer_lib.pretrained import pretrained_info
    from fer_report import measured

    def from_card(name, data, device="cpu"):
        card = pretrained_info(name)
        return {"metrics": card["metrics"], "predictions": card["predictions"]}

    monkeypatch.setattr(pretrained, "load_model", lambda name: (name, None))  # the name stands for the model
    monkeypatch.setattr(measured, "measured", from_card)
    table = results.answers_table(real_data)
    fresh = ~real_data.copied_from("PrivateTest")
    labels = real_data.split("PrivateTest").labels
    for name in ("report_cnn", "simple_cnn", "fer_vgg"):
        pred = pretrained_info(name)["predictions"]["PrivateTest tencrop"]
        digits = np.frombuffer(pred.encode(), np.uint8) - ord("0")
        expected = (digits[fresh] == labels[fresh]).mean()
        assert table.loc[name, (SHIPPED, "ten-crop, no copies")] == f"{expected:.4f}"
    assert table.attrs["copies"] == 288


def test_training_comparison_leaves_out_a_loss_that_is_not_the_cross_entropy():
    hist = [{"epoch": 1, "loss": 0.9, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.6},
            {"epoch": 2, "loss": 0.8, "acc": 0.6, "val_loss": 1.0, "val_acc": 0.65}]  # fmt: skip
    distilled = {"teacher": "big", "distill": 0.5}
    table = training.comparison(
        {"kd": (hist, distilled), "plain": (hist, {}), "logged": ([dict(h, ce=1.5) for h in hist], distilled)}
    )
    assert np.isnan(table.loc["kd, final epoch", "loss"]) and table.loc["plain, final epoch", "loss"] == 0.8
    assert table.loc["logged, best epoch (2)", "loss"] == 1.5
    assert table.loc["original report, final epoch", "val_acc"] == 0.6510
    tried = (
        ("kd", distilled, 0.66),
        ("ls", {"label_smoothing": 0.1}, 0.65),
        ("plain", {}, 0.64),
        ("init", {"init": "x"}, 0.7),
    )
    runs = [{"model": "report_cnn", "run": r, "config": c, "best_PublicTest": b} for r, c, b in tried]
    assert [r["run"] for r in training.cross_entropy_runs(runs)] == ["plain"]


def test_chapter_helpers_do_not_change_the_callers_model(toy_model, synth):
    from fer_lib.device import is_channels_last
    from fer_lib.evaluate import to_float_images

    toy_model.train()
    filters.peak_responses(toy_model, to_float_images(synth.split("PublicTest").images[:8]))
    assert toy_model.training and not is_channels_last(toy_model)
    toy_model.eval()
    assert torch.is_grad_enabled()


def test_a_replay_of_the_shipped_recipe_gives_its_cross_entropy():
    """A record with the shipped card's recipe and seed stands in for the cross-entropy the card did not
    log; another seed, another recipe, or a retired setting at a value other than its fixed one does not,
    and the results page does not count a replay among the recipes tried."""
    from fer_report import records as recipes

    hist = [{"epoch": 1, "loss": 0.9, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.6},
            {"epoch": 2, "loss": 0.7, "acc": 0.6, "val_loss": 1.0, "val_acc": 0.65}]  # fmt: skip
    cfg = {"model": "report_cnn", "epochs": 2, "teacher": "big", "distill": 0.5, "seed": 2}
    card = {"config": dict(cfg, device="cuda", ema=0.0, mixup=0.0), "history": hist}
    logged = [dict(h, ce=h["loss"] + 0.25) for h in hist]
    records = [
        {"run": "other_seed", "config": dict(cfg, seed=1), "history": logged},
        {"run": "ema", "config": dict(cfg, ema=0.999), "history": logged},
        {"run": "unlogged", "config": dict(cfg, device="cpu"), "history": hist},
        {"run": "again", "config": dict(cfg, device="cpu"), "history": logged},
    ]
    assert [r["run"] for r in recipes.replays(records, [card])] == ["unlogged", "again"]
    replay = training.replay_with_cross_entropy(card, records)
    assert replay["run"] == "again"
    assert training.replay_with_cross_entropy({**card, "history": logged}, records) is None
    text = training.describe_replay(replay, hist)
    assert "it is 0.9500, against the original's final loss of 0.6485" in text
    assert "0.6500 at epoch 2, the shipped run's 0.6500 at epoch 2" in text and "0 PublicTest faces" in text


def test_first_sentence_keeps_decimals_and_abbreviations():
    from fer_report.prose import first_sentence

    text = "It reaches 0.6512 (e.g. at epoch 80), vs. 0.6510. The second sentence. A third."
    assert first_sentence(text) == "It reaches 0.6512 (e.g. at epoch 80), vs. 0.6510."
    assert first_sentence("One sentence only.") == "One sentence only."
    assert first_sentence("Is it? Yes.") == "Is it?"


def test_display_table_puts_one_model_a_column():
    import pandas as pd

    table = pd.DataFrame(
        {
            "source": ["pretrained 'a'", "runs/b"],
            "trainable params": np.array([318055, 5387399], dtype=np.int64),
            "best epoch": pd.Series([80, None], index=["a", "b"]).astype("Int64"),
            "PrivateTest ten-crop": [0.656452, None],
        },
        index=pd.Index(["a", "b"], name="model"),
    )
    shown = results.display_table(table)
    assert list(shown.columns) == ["a", "b"]
    assert shown.loc["source"].tolist() == ["shipped weights", "runs/b"]
    assert shown.loc["trainable params"].tolist() == ["318,055", "5,387,399"]
    assert shown.loc["best epoch"].tolist() == ["80", ""]
    assert shown.loc["PrivateTest ten-crop"].tolist() == ["0.6565", ""]
