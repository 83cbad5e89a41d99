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


# --------------------------------------------------------------------------- the chapter's claims (issue 51)


def written_numbers(**changes) -> dict:
    """The headline numbers the chapter was written for (the shipped models' cards on FER2013), with
    ``changes`` per model."""

    def model(public, private, tencrop, seeds, fresh, recipes=1):
        return {
            "public": public,
            "public_interval": results.accuracy_interval(public, 3589),
            "private": private,
            "private_interval": results.accuracy_interval(private, 3589),
            "tencrop": tencrop,
            "tencrop_interval": results.accuracy_interval(tencrop, 3589),
            "seed_public": (seeds[0], 0.004),
            "seed_private": (seeds[1], 0.004),
            "seed_tencrop": (seeds[2], 0.004),
            "public_fresh": fresh[0],
            "fresh": fresh[1],
            "fresh_tencrop": fresh[2],
            "recipes": recipes,
            "seeds": 3,
            "n": 3589,
            "copies": 288,
        }

    made = {
        "report_cnn": model(
            2337 / 3589, 0.6565, 0.6565, (0.6499, 0.6565, 0.6584), (0.6358, 0.6395, 0.6444), recipes=17
        ),
        "simple_cnn": model(0.6576, 0.6665, 0.6726, (0.6525, 0.6675, 0.6732), (0.6398, 0.6474, 0.6559)),
        "fer_vgg_s": model(0.6877, 0.7055, 0.7214, (0.6770, 0.6930, 0.7090), (0.6703, 0.6868, 0.7037)),
        "fer_vgg": model(0.6996, 0.7197, 0.7356, (0.6943, 0.7097, 0.7270), (0.6772, 0.6998, 0.7168)),
    }
    for name, fields in changes.items():
        made[name] = dict(made[name], **fields)
    return made


def test_the_headline_claims_hold_on_the_numbers_they_were_written_for():
    results.check_headlines(written_numbers())


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"report_cnn": {"public": 2336 / 3589}}, "over 0.6510 by less than one face"),
        ({"report_cnn": {"seed_public": (0.6520, 0.002)}}, "report_cnn's seed mean falls short"),
        ({"simple_cnn": {"public": 0.6400}}, "simple_cnn's PublicTest accuracy is over 0.6510"),
        ({"simple_cnn": {"seed_public": (0.6500, 0.002)}}, "simple_cnn's seed mean is over 0.6510"),
        ({"fer_vgg": {"tencrop": 0.7320}}, "over 0.7328 and ties with it"),
        ({"fer_vgg": {"seed_tencrop": (0.7400, 0.008)}}, "fer_vgg's seed mean falls short of 0.7328"),
        ({"fer_vgg": {"tencrop_interval": (0.7330, 0.7360)}}, "ties with"),
        ({"fer_vgg": {"private": 0.7100}}, "over the challenge winner's 0.7116"),
        ({"fer_vgg_s": {"tencrop": 0.7330}}, "fer_vgg_s's ten-crop accuracy is under 0.7328"),
        ({"simple_cnn": {"recipes": 2}}, "only report_cnn has more than one recorded recipe"),
        ({"report_cnn": {"tencrop": 0.6600}}, "ten-crop raises every model's PrivateTest accuracy but"),
        ({"fer_vgg_s": {"tencrop": 0.7000}}, "ten-crop raises every model's"),
        ({"fer_vgg": {"public_fresh": 0.6900}}, "costs fer_vgg one to two and a half points"),
        ({"simple_cnn": {"fresh_tencrop": 0.6400}}, "costs simple_cnn one to two and a half points"),
    ],
)
def test_headline_numbers_that_contradict_the_text_stop_the_chapter(changes, says):
    from fer_report.claims import ClaimFailed

    with pytest.raises(ClaimFailed, match=says):
        results.check_headlines(written_numbers(**changes))


def history(train: list[float], val: list[float], val_loss: list[float]) -> list[dict]:
    return [
        {"epoch": e + 1, "acc": a, "val_acc": v, "loss": 1.0, "val_loss": lo}
        for e, (a, v, lo) in enumerate(zip(train, val, val_loss))
    ]


def test_fit_facts_read_the_chosen_epoch_and_the_loss_after_its_lowest():
    facts = results.fit_facts(history([0.5, 0.8, 0.9], [0.6, 0.7, 0.65], [1.0, 0.8, 1.0]), planned=5)
    assert (facts["best_epoch"], facts["epochs"], facts["planned"], facts["low_epoch"]) == (2, 3, 5, 2)
    assert facts["train_acc"] == 0.8 and facts["gap"] == pytest.approx(0.1)
    assert facts["rise"] == pytest.approx(0.25)


# the histories' facts at each shipped model's chosen epoch (the cards' histories)
WRITTEN_FITS = {
    "report_cnn": {"epochs": 100, "planned": 100, "best_epoch": 80, "train_acc": 0.6629, "val_acc": 0.6512,
                   "gap": 0.0117, "low_epoch": 86, "rise": 0.0002, "teacher": "fer_vgg_s", "phases": 0,
                   "bn_kept": False},
    "simple_cnn": {"epochs": 30, "planned": 40, "best_epoch": 30, "train_acc": 0.6645, "val_acc": 0.6570,
                   "gap": 0.0075, "low_epoch": 30, "rise": 0.0, "teacher": None, "phases": 0,
                   "bn_kept": False},
    "fer_vgg_s": {"epochs": 65, "planned": 65, "best_epoch": 60, "train_acc": 0.7864, "val_acc": 0.6807,
                  "gap": 0.1058, "low_epoch": 29, "rise": 0.029, "teacher": None, "phases": 2,
                  "bn_kept": True},
    "fer_vgg": {"epochs": 88, "planned": 88, "best_epoch": 88, "train_acc": 0.9354, "val_acc": 0.6985,
                "gap": 0.2369, "low_epoch": 36, "rise": 0.0337, "teacher": None, "phases": 0,
                "bn_kept": True},
}  # fmt: skip


def test_the_fitting_claims_hold_on_the_histories_they_were_written_for():
    results.check_fits(WRITTEN_FITS)


@pytest.mark.parametrize(
    ("name", "changes", "says"),
    [
        ("report_cnn", {"gap": 0.05}, "report_cnn's training-PublicTest gap is small"),
        ("simple_cnn", {"gap": -0.01}, "simple_cnn's training-PublicTest gap is small"),
        ("report_cnn", {"rise": 0.05}, "ends with its PublicTest loss within 2%"),
        ("report_cnn", {"teacher": None}, "distilled from fer_vgg_s"),
        ("simple_cnn", {"best_epoch": 25}, "still improving when it stopped"),
        ("simple_cnn", {"planned": 30}, "still improving when it stopped"),
        ("fer_vgg_s", {"phases": 1}, "resumed twice"),
        ("fer_vgg_s", {"gap": 0.25}, "fer_vgg_s's gap lies between"),
        ("fer_vgg", {"gap": 0.15}, "fer_vgg's is the widest"),
        ("fer_vgg", {"train_acc": 0.88}, "over 90% of its training faces"),
        ("fer_vgg", {"best_epoch": 80}, "peaked at its last epoch"),
        ("fer_vgg", {"rise": 0.01}, "while its validation loss rose"),
    ],
)
def test_histories_that_contradict_the_fitting_text_stop_the_chapter(name, changes, says):
    from fer_report.claims import ClaimFailed

    fits = {n: dict(f) for n, f in WRITTEN_FITS.items()}
    fits[name] |= changes
    with pytest.raises(ClaimFailed, match=says):
        results.check_fits(fits)


def test_a_recipe_in_the_rows_of_the_recipe_table():
    cells = results.recipe_cells(
        dict(RECIPE, epochs=40, teacher="fer_vgg_s", distill=0.5, distill_temp=4.0, weight_decay=5e-4),
        30,
        [{"from_epoch": 31, "changed": {"lr": [0.05, 0.003]}}],
    )
    assert cells["optimizer, learning rate"] == "Adam, cosine from 0.001"
    assert cells["batch, epochs"] == "64, 30 of 40 planned"
    assert cells["regularisation"] == "weight decay 0.0005"
    assert cells["augmentation"] == "mirroring, shifts up to 2 px"
    assert cells["teacher (distillation)"] == "fer_vgg_s (weight 0.5, temperature 4)"
    assert cells["phases"] == "from epoch 31: lr 0.05 → 0.003"
    plain = results.recipe_cells(dict(RECIPE, optimizer="sgd", schedule="onecycle", lr=0.05), 2)
    assert plain["optimizer, learning rate"] == "SGD (Nesterov), one-cycle, peak 0.05"
    assert (plain["teacher (distillation)"], plain["other"], plain["phases"]) == ("none", "none", "one")


def test_the_published_table_has_short_names_and_the_split_that_chose_each():
    lines = results.published_table(written_numbers()).data.splitlines()
    assert lines[0] == "| source | PublicTest | PrivateTest | PrivateTest, TTA | chosen on |"
    assert "| Wu (VGG19) |  |  | 0.7310 | PrivateTest |" in lines
    assert "| Yuan (ResNet18) |  |  | 0.7370 | PrivateTest |" in lines
    assert "| ours: fer_vgg | 0.6996 | 0.7197 | 0.7356 | PublicTest |" in lines
    assert max(len(line) for line in lines) < 90  # short enough to read at a glance


def test_the_headline_values_give_margins_in_faces_and_copy_free_numbers(monkeypatch):
    monkeypatch.setattr(results, "tried_recipes", lambda: 16)
    values = results.headline_values(written_numbers())
    assert (values["results_rc_margin"], values["results_rc_faces"], values["results_target_faces"]) == (
        "+0.6",
        "2,337",
        "2,336.4",
    )
    assert (values["results_vgg_margin"], values["results_vgg_fresh"], values["results_rc_fresh"]) == (
        "+10.0",
        "0.7168",
        "0.6358",
    )
    assert values["results_rc_recipes"] == "17" and values["results_recipes"] == "16"


def test_the_notebook_holds_only_short_calls():
    from .conftest import REPO
    from .report_cells import notebook_problems

    assert notebook_problems(REPO / "book" / "results.ipynb") == []
