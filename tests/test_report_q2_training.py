"""The training chapter's helpers (fer_report.q2_training) on hand-made runs with known answers."""

from __future__ import annotations

import pytest

from fer_report import q2_training as training

HIST = [{"epoch": 1, "loss": 0.9, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.6},
        {"epoch": 2, "loss": 0.7, "acc": 0.6, "val_loss": 1.0, "val_acc": 0.66},
        {"epoch": 3, "loss": 0.6, "acc": 0.7, "val_loss": 1.05, "val_acc": 0.64}]  # fmt: skip
LOGGED = [dict(h, ce=h["loss"] + 0.25) for h in HIST]
RECIPE = {"model": "report_cnn", "optimizer": "adam", "lr": 0.001, "schedule": "cosine", "batch_size": 64,
          "flip": True, "shift": 2, "rotate": 0, "erase": 0, "weight_decay": 0,
          "label_smoothing": 0}  # fmt: skip
PLAIN = dict(RECIPE, epochs=3, seed=0)
DISTILLED = dict(PLAIN, teacher="fer_vgg_s", distill=0.5, distill_temp=4.0, seed=2)


def record(run: str, config: dict, history: list[dict], best: float) -> dict:
    return {"run": run, "model": "report_cnn", "config": config, "history": history, "best_PublicTest": best}


def chapter_run(history: list[dict], config: dict, source: str = "pretrained") -> dict:
    """What ``sources.train_or_load`` returns, as far as the chapter reads it."""
    return {"history": history, "source": source, "epochs_before": 0, "meta": {"config": config}}


@pytest.mark.parametrize(
    ("history", "config", "key"),
    [
        (LOGGED, DISTILLED, "ce"),  # the cross-entropy logged beside another objective
        (HIST, PLAIN, "loss"),  # the loss is the cross-entropy
        (HIST, DISTILLED, None),  # another objective, and the cross-entropy not logged
        (HIST, dict(PLAIN, label_smoothing=0.1), None),
    ],
)
def test_the_curves_plot_the_training_loss_only_where_it_is_the_cross_entropy(history, config, key):
    assert training.train_loss_key(history, config) == key
    fig = training.curves(history, config, "report_cnn")
    drawn = {tuple(line.get_ydata()) for line in fig.axes[0].get_lines()}  # the loss panel's curves
    assert tuple(h["val_loss"] for h in history) in drawn
    for other in ("loss", "ce"):
        if other in history[0]:
            assert (tuple(h[other] for h in history) in drawn) == (other == key)


def test_a_distilled_run_is_compared_with_its_replay_and_the_best_run_with_the_original_loss():
    records = [
        record("plain_a", dict(PLAIN, seed=1), HIST, 0.64),
        record("plain_b", dict(PLAIN, seed=2), HIST, 0.66),
        record("smoothed", dict(PLAIN, label_smoothing=0.1), HIST, 0.70),
        record("again", dict(DISTILLED, device="cpu"), LOGGED, 0.65),
    ]
    runs = training.compared_runs(chapter_run(HIST, DISTILLED), records)
    assert runs["plain"]["run"] == "plain_b" and runs["replay"]["run"] == "again"
    assert list(runs["shown"]) == [
        "report_cnn (shipped)",
        "again (the shipped recipe again)",
        "plain_b (the original's loss alone)",
    ]
    table = training.comparison(runs["shown"])
    assert table.loc["again (the shipped recipe again), final epoch", "loss"] == pytest.approx(0.85)
    values = training.chapter_values(chapter_run(HIST, DISTILLED), chapter_run(HIST, PLAIN, "trained"), runs)
    assert values["q2_plain_name"] == "plain_b"
    assert values["q2_finding"] == (
        "The shipped report_cnn reaches a PublicTest accuracy of 0.6600 at its best epoch (2), against the "
        "original's final val_acc of 0.6510 (on faces it does not name); its weights are distilled from "
        "fer_vgg_s (weight 0.5) with a cosine schedule over 3 epochs, not trained with the original's loss "
        "alone."
    )
    assert "With the original's loss alone, the best recorded run (plain_b) reaches 0.6600" in (
        values["q2_answer"].data
    )
    assert "`again` trains the same recipe and seed again" in values["q2_replay_text"].data
    assert values["q2_sc_text"].data.endswith("Trained in this run.")
    assert values["q2_rc_text"].data.endswith("The curves are the training history of the shipped weights.")


def test_a_run_with_the_original_loss_needs_no_other_run():
    runs = training.compared_runs(chapter_run(LOGGED, PLAIN, "trained"), [record("x", PLAIN, HIST, 0.7)])
    assert runs["plain"] is None and runs["replay"] is None and list(runs["shown"]) == ["report_cnn"]
    assert training.replay_curves(None).data.startswith("The shipped run logged the cross-entropy alone")
    assert training.plain_curves(None).data.startswith("No report_cnn run trained with the original's loss")
    values = training.chapter_values(
        chapter_run(LOGGED, PLAIN, "trained"), chapter_run(HIST, PLAIN, "trained"), runs
    )
    assert values["q2_plain_name"] == "none" and values["q2_replay_text"].data == " "
    assert "it was trained with the original's loss (cosine schedule, 3 epochs)" in values["q2_answer"].data


def test_recorded_runs_are_shown_as_png_figures():
    replay = training.replay_curves(record("again", DISTILLED, LOGGED, 0.65))
    plain = training.plain_curves(record("plain_b", PLAIN, HIST, 0.66))
    for image in (replay, plain):
        assert image.format == "png" and image.data.startswith(b"\x89PNG")
