"""The results chapter's helpers (fer_report.results) on hand-made tables and runs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_lib.errors import ConfigError
from fer_report import holdout, results

HIST = [{"epoch": 1, "loss": 0.9, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.6},
        {"epoch": 2, "loss": 0.7, "acc": 0.6, "val_loss": 1.0, "val_acc": 0.66}]  # fmt: skip
RECIPE = {"model": "report_cnn", "optimizer": "adam", "lr": 0.001, "schedule": "cosine", "batch_size": 64,
          "epochs": 2, "flip": True, "shift": 2, "rotate": 0, "erase": 0, "weight_decay": 0,
          "label_smoothing": 0, "seed": 0}  # fmt: skip


def measured(*names: str, untrained: tuple[str, ...] = ()) -> pd.DataFrame:
    """A results table as ``results_table`` makes it: measured rows, and rows of models not trained yet."""
    rows = [{"model": n, "source": "pretrained", "PublicTest": 0.6 + 0.01 * k} for k, n in enumerate(names)]
    rows += [{"model": n, "source": "not trained yet"} for n in untrained]
    return pd.DataFrame(rows).set_index("model")


@pytest.fixture
def recorded(monkeypatch):
    """``model_record`` answering from hand-made metadata: report_cnn distilled and logging ``ce``, resumed
    once; fer_vgg plain, with seed runs and a BatchNorm recompute on its card."""
    metas = {
        "report_cnn": {
            "config": dict(RECIPE, teacher="fer_vgg_s", distill=0.5, distill_temp=4.0),
            "history": [dict(h, ce=h["loss"] + 0.25) for h in HIST],
            "config_changes": [{"from_epoch": 2, "changed": {"lr": [0.01, 0.001]}}],
        },
        "fer_vgg": {
            "config": dict(RECIPE, model="fer_vgg"),
            "history": HIST,
            "card": {
                "seed_runs": [{"seed": 0, "shipped": False}, {"seed": 1, "shipped": True}],
                "seed_summary": {"PublicTest": {"mean": 0.7, "sd": 0.01, "min": 0.69, "max": 0.71}},
                "batchnorm": {
                    "kept": True,
                    "statistics": "recomputed on all Training images",
                    "PublicTest before": {"accuracy": 0.69, "accuracy_tencrop": 0.70},
                    "PublicTest after": {"accuracy": 0.70, "accuracy_tencrop": 0.71},
                },
            },
        },
    }
    asked = []

    def model_record(name, run_dir, use_pretrained=False):
        asked.append((name, run_dir, use_pretrained))
        return None, f"pretrained '{name}'", metas[name]

    monkeypatch.setattr(results, "model_record", model_record)
    return asked


def test_only_measured_models_count():
    assert results.trained_models(measured("a", "b", untrained=("c",))) == ["a", "b"]
    assert results.trained_models(measured(untrained=("c",))) == []  # no model measured: no PublicTest column


def test_each_model_curves_follow_its_place_in_the_table(recorded):
    table = measured("report_cnn", "fer_vgg", untrained=("simple_cnn",))
    reproduced = results.model_curves(table, 0, "my_runs", True)
    strong = results.model_curves(table, 1, "my_runs", True)
    assert [name for name, *_ in recorded] == ["report_cnn", "fer_vgg"]
    assert recorded[0][1:] == ("my_runs", True)

    def loss_curves(fig):
        return {tuple(line.get_ydata()) for line in fig.axes[0].get_lines()}

    # report_cnn is distilled and logged its cross-entropy: that is the training loss drawn, not the objective
    assert (1.15, 0.95) in loss_curves(reproduced) and (0.9, 0.7) not in loss_curves(reproduced)
    assert (0.9, 0.7) in loss_curves(strong)
    labels = [t.get_text() for t in reproduced.axes[1].texts]
    assert labels == ["original report acc 0.7597", "original report val_acc 0.6510"]
    assert len(strong.axes[1].texts) == 0 and strong.axes[0].get_title() == "fer_vgg cross-entropy loss"
    with pytest.raises(
        ConfigError, match=r"curves of model 3, but only 2 model\(s\) were measured: report_cnn"
    ):
        results.model_curves(table, 2)


def test_each_measured_model_recipe_is_a_paragraph(recorded):
    text = results.describe_model_recipes(measured("report_cnn", "fer_vgg", untrained=("simple_cnn",)))
    first, second = text.split("\n\n")
    assert first.startswith("**report_cnn**: last phase: Adam") and "distilled from `fer_vgg_s`" in first
    assert "The run was resumed with other settings from epoch 2: `lr` 0.01 → 0.001." in first
    assert second.startswith("**fer_vgg**: Adam") and "last phase" not in second
    assert "Over 2 seeds (seeds 0, 1; mean ± sample sd): PublicTest 0.7000 ± 0.0100" in second
    assert "The shipped weights are seed 1's" in second
    assert (
        "PublicTest 0.6900 → 0.7000 (0.7000 → 0.7100 with ten-crop), kept because PublicTest rose" in second
    )
    assert "simple_cnn" not in text


def test_the_holdout_study_is_not_measured_on_other_data(tiny):
    shown = results.holdout_result(tiny)
    assert shown["table"].data == " "
    assert shown["text"].data.startswith(
        "*Not measured in this run: the study model was trained on other data"
    )


def test_the_holdout_study_table_and_text(tiny, monkeypatch):
    study = pd.DataFrame(
        {"n": [2871, 3589, 3589], "accuracy": [0.68, 0.651, 0.6523], "exact copy among the training faces": [
            0.081, 0.079, 0.08]},
        index=pd.Index(["hold-out: 10% of Training", "PublicTest", "PrivateTest"], name="faces"),
    )  # fmt: skip
    meta = {"n_train": 25838, "config": RECIPE, "history": HIST}
    monkeypatch.setattr(holdout, "holdout_study_check", lambda data: "")
    monkeypatch.setattr(holdout, "holdout_study", lambda data, device="cpu": (study, meta))
    shown = results.holdout_result(tiny)
    html = shown["table"].to_html()
    assert "0.6800" in html and "0.6523" in html and "8.1%" in html and "7.9%" in html
    assert "scores **0.6800** on its hold-out, **0.6510** on PublicTest and 0.6523 on PrivateTest" in (
        shown["text"].data
    )


def test_recipes_tried_leave_out_the_replays_of_shipped_ones(monkeypatch):
    import fer_lib.pretrained as pretrained

    shipped = {"a": {"config": dict(RECIPE, seed=1)}, "b": {"config": dict(RECIPE, model="fer_vgg")}}
    records = [
        {"run": "replay_of_a", "config": dict(RECIPE, seed=1, device="cpu")},
        {"run": "other_seed", "config": dict(RECIPE, seed=2)},
        {"run": "other_rate", "config": dict(RECIPE, model="fer_vgg", lr=0.01)},
    ]
    monkeypatch.setattr(pretrained, "shipped_names", lambda: list(shipped))
    monkeypatch.setattr(pretrained, "pretrained_info", lambda name: shipped[name])
    monkeypatch.setattr(pretrained, "experiments", lambda *a: list(records))
    assert results.tried_recipes() == 2


def test_chapter_values_name_what_the_text_reads(recorded, monkeypatch):
    from IPython.display import Markdown

    monkeypatch.setattr(results, "tried_recipes", lambda: 17)
    headline = pd.DataFrame()
    headline.attrs.update(copies=1234, n=3589)
    table = measured("report_cnn", "fer_vgg")
    table["PrivateTest"] = [0.66, 0.72]
    table["PrivateTest ten-crop"] = [0.67, 0.74]
    table["PublicTest ten-crop"] = [0.65, 0.73]
    table["seeds"] = pd.array([1, 3], dtype="Int64")
    values = results.chapter_values(headline, table, Markdown("the study"), "my_runs", True)
    assert set(values) == {
        "results_answer", "results_finding", "results_copies", "results_n", "results_recipes",
        "results_targets", "results_holdout", "results_recipes_text",
    }  # fmt: skip
    assert (values["results_copies"], values["results_n"], values["results_recipes"]) == (
        "1,234",
        "3,589",
        "17",
    )
    assert values["results_answer"].data == values["results_finding"] == results.conclusion(table, 3589)
    assert values["results_holdout"].data == "the study"
    assert "**fer_vgg**, PrivateTest 0.7400 with ten-crop TTA" in values["results_targets"].data
    assert values["results_recipes_text"].data.startswith("**report_cnn**: last phase:")
    assert np.all([a[1:] == ("my_runs", True) for a in recorded])
