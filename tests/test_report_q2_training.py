"""The training chapter's helpers (fer_report.q2_training) on hand-made runs with known answers."""

from __future__ import annotations

import pytest

from fer_report import q2_training as training
from fer_report.claims import ClaimFailed

from .conftest import REPO
from .report_cells import notebook_problems

HIST = [
    {"epoch": 1, "loss": 0.9, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.6},
    {"epoch": 2, "loss": 0.7, "acc": 0.6, "val_loss": 1.0, "val_acc": 0.66},
    {"epoch": 3, "loss": 0.6, "acc": 0.7, "val_loss": 1.05, "val_acc": 0.64},
]
LOGGED = [dict(h, ce=h["loss"] + 0.25) for h in HIST]
RECIPE = {
    "model": "report_cnn",
    "optimizer": "adam",
    "lr": 0.001,
    "schedule": "cosine",
    "batch_size": 64,
    "flip": True,
    "shift": 2,
    "rotate": 0,
    "erase": 0,
    "weight_decay": 0,
    "label_smoothing": 0,
}
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
    lines = training.comparison_table(runs["shown"]).data.splitlines()
    assert lines[3] == "| report_cnn (shipped), final epoch | — | 0.7000 | 1.0500 | 0.6400 |"


def fit(train: float, public: float) -> dict[str, dict[str, float]]:
    return {
        "Training": {"accuracy": train, "loss": 0.7, "n": 100},
        "PublicTest": {"accuracy": public, "loss": 1.0},
    }


FITS = {"report_cnn": fit(0.75, 0.65), "simple_cnn": fit(0.78, 0.66)}
# report_cnn: validation accuracy above training at first, training above from epoch 3, the validation loss
# lowest at the last epoch; simple_cnn best at its last epoch, stopped before the 5 planned
RC = [
    {"epoch": 1, "acc": 0.4, "val_acc": 0.5, "val_loss": 1.2},
    {"epoch": 2, "acc": 0.5, "val_acc": 0.55, "val_loss": 1.1},
    {"epoch": 3, "acc": 0.66, "val_acc": 0.64, "val_loss": 1.0},
    {"epoch": 4, "acc": 0.67, "val_acc": 0.65, "val_loss": 0.99},
]
SC = [dict(h, val_acc=h["val_acc"] + 0.01 * h["epoch"]) for h in RC[:3]]


def test_the_curves_facts_read_where_the_curves_part_and_whether_the_loss_turns_up():
    f = training.curve_facts(RC)
    assert (f["parts"], f["low_epoch"], f["best_epoch"], f["first_val_above"]) == (3, 4, 4, True)
    assert f["rise"] == 0
    turned = training.curve_facts([*RC, {"epoch": 5, "acc": 0.7, "val_acc": 0.64, "val_loss": 1.05}])
    assert turned["rise"] == pytest.approx(1.05 / 0.99 - 1) and turned["best_epoch"] == 4
    assert training.curve_facts(RC[:2])["parts"] is None  # training accuracy never above validation


def test_the_fitting_claims_hold_here_and_fail_on_curves_or_fits_that_contradict_them():
    rc, sc = training.curve_facts(RC), training.curve_facts(SC)
    training.check_claims(rc, sc, FITS, 5)
    turned = training.curve_facts([*RC, {"epoch": 5, "acc": 0.7, "val_acc": 0.64, "val_loss": 1.05}])
    with pytest.raises(ClaimFailed, match="validation loss does not turn up.*a rise of 6.1% after epoch 4"):
        training.check_claims(turned, sc, FITS, 5)
    with pytest.raises(ClaimFailed, match="gap is moderate"):
        training.check_claims(rc, sc, dict(FITS, report_cnn=fit(0.85, 0.65)), 5)
    with pytest.raises(ClaimFailed, match="simple_cnn fits its Training faces better"):
        training.check_claims(rc, sc, dict(FITS, simple_cnn=fit(0.72, 0.60)), 5)
    with pytest.raises(ClaimFailed, match="simple_cnn's gap is larger"):
        training.check_claims(rc, sc, dict(FITS, simple_cnn=fit(0.76, 0.70)), 5)
    with pytest.raises(ClaimFailed, match="still improving when it stopped"):
        training.check_claims(rc, sc, FITS, 3)  # it ran all its planned epochs


def test_a_run_without_a_teacher_contradicts_the_text_about_distillation():
    with pytest.raises(ClaimFailed, match="report_cnn was distilled from a teacher"):
        training.check_distilled(PLAIN, {"replay": {}, "plain": {}})
    with pytest.raises(ClaimFailed, match="a replay of the shipped recipe"):
        training.check_distilled(DISTILLED, {"replay": None, "plain": {}})
    training.check_distilled(DISTILLED, {"replay": {}, "plain": {}})


def test_the_fit_table_gives_each_model_its_gap():
    lines = training.fit_table(FITS).data.splitlines()
    assert lines[0].startswith("| model | Training accuracy (100 faces) | PublicTest accuracy | gap |")
    assert lines[2].startswith("| report_cnn | 0.7500 | 0.6500 | 0.1000 |")


def test_the_training_sample_is_measured_on_plain_faces_with_a_known_answer():
    import numpy as np
    import torch

    from fer_lib.data import FerData

    class Says(torch.nn.Module):
        """Calls every face whose top-left pixel is bright 'happy' (3), every other face 'angry' (0)."""

        def __init__(self) -> None:
            super().__init__()
            self.read = torch.nn.Linear(1, 7)
            with torch.no_grad():
                self.read.weight.zero_()
                self.read.bias.zero_()
                self.read.weight[3] = 20.0
                self.read.bias[3] = -10.0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.read(x[:, :, 0, 0])

    images = np.zeros((10, 48, 48), np.uint8)
    images[:6, 0, 0] = 255  # six bright faces
    labels = np.array([3, 3, 3, 3, 0, 0, 0, 0, 0, 0])  # four right among the bright, four among the dark
    data = FerData(images, labels, np.array(["Training"] * 10))
    measured = training.training_sample_fit(Says(), data, n=10)
    assert measured["accuracy"] == pytest.approx(0.8) and measured["n"] == 10


def test_the_notebook_holds_only_short_calls():
    assert notebook_problems(REPO / "book" / "q2_training.ipynb") == []


def test_a_run_with_the_original_loss_needs_no_other_run():
    runs = training.compared_runs(chapter_run(LOGGED, PLAIN, "trained"), [record("x", PLAIN, HIST, 0.7)])
    assert runs["plain"] is None and runs["replay"] is None and list(runs["shown"]) == ["report_cnn"]
    assert training.replay_curves(None).data.startswith("The shipped run logged the cross-entropy alone")
    assert training.plain_curves(None).data.startswith("No report_cnn run trained with the original's loss")
    values = training.text_values(
        chapter_run(LOGGED, PLAIN, "trained"),
        chapter_run(HIST, dict(PLAIN, epochs=5), "trained"),
        runs,
        FITS,
        checked=False,
    )
    assert values["q2_plain_name"] == values["q2_replay_name"] == "none" and values["q2_teacher"] == "none"


def test_recorded_runs_are_shown_as_png_figures():
    replay = training.replay_curves(record("again", DISTILLED, LOGGED, 0.65))
    plain = training.plain_curves(record("plain_b", PLAIN, HIST, 0.66))
    for image in (replay, plain):
        assert image.format == "png" and image.data.startswith(b"\x89PNG")
