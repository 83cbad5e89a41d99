"""Q2: the training and validation history, against the original report's final epoch.

The original report trained with cross-entropy alone. A run distilled from a teacher minimises
another objective, so its training ``loss`` is not the original's quantity: the comparison uses
the history's ``ce`` (the cross-entropy alone, logged beside the objective) where it exists, and
otherwise leaves the training loss out rather than compare unlike numbers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .anchors import ORIGINAL_FINAL
from .records import describe_changes, describe_recipe, replays

KEYS = ("loss", "acc", "val_loss", "val_acc")


def best_epoch(history: list[dict]) -> dict:
    return max(history, key=lambda h: h.get("val_acc", -1))


def cross_entropy_of(entry: dict, config: dict) -> float | None:
    """The epoch's training cross-entropy alone: ``ce`` where logged, ``loss`` where the loss was plain
    cross-entropy (no teacher, no label smoothing), else None."""
    if "ce" in entry:
        return entry["ce"]
    if not config.get("teacher") and not config.get("label_smoothing"):
        return entry["loss"]
    return None


def cross_entropy_runs(records: list[dict], model: str = "report_cnn") -> list[dict]:
    """The recorded runs of ``model`` trained with the original's loss alone (no teacher, no smoothing, not
    started from trained weights), best PublicTest first."""
    plain = [
        r
        for r in records
        if r["model"] == model
        and not r["config"].get("teacher")
        and not r["config"].get("label_smoothing")
        and not r["config"].get("init")
    ]
    return sorted(plain, key=lambda r: -r["best_PublicTest"])


def replay_with_cross_entropy(card: dict, records: list[dict]) -> dict | None:
    """Where a shipped run did not log ``ce``: a recorded replay of its recipe and seed that did."""
    if "ce" in card["history"][-1]:
        return None
    found = [r for r in replays(records, [card]) if "ce" in r["history"][-1]]
    return found[0] if found else None


def describe_replay(replay: dict, shipped: list[dict], reference: dict[str, float] = ORIGINAL_FINAL) -> str:
    """Markdown: what a replay of the shipped recipe logged that the shipped run did not."""
    last, best, sbest = replay["history"][-1], best_epoch(replay["history"]), best_epoch(shipped)
    return (
        f"The shipped run logged only its training objective (cross-entropy plus the distillation term). "
        f"`{replay['run']}` trains the same recipe and seed again from scratch and logs the cross-entropy "
        f"alone beside it: after {len(replay['history'])} epochs it is {last['ce']:.4f}, against the "
        f"original's final loss of {reference['loss']:.4f}, while its objective is {last['loss']:.4f} "
        f"(the shipped run's: {shipped[-1]['loss']:.4f}). Its best PublicTest accuracy is "
        f"{best['val_acc']:.4f} at epoch {best['epoch']}, the shipped run's {sbest['val_acc']:.4f} at epoch "
        f"{sbest['epoch']}: one recipe run twice, {abs(best['val_acc'] - sbest['val_acc']) * 3589:.0f} "
        "PublicTest faces apart."
    )


def comparison(runs: dict[str, tuple[list[dict], dict]]) -> pd.DataFrame:
    """The original's final epoch beside each run's final and best epochs; ``runs`` maps a label to
    (history, config). A training loss that is not the cross-entropy alone is left empty."""
    rows = {"original report, final epoch": dict(ORIGINAL_FINAL)}
    for label, (history, config) in runs.items():
        for which, e in (
            ("final epoch", history[-1]),
            (f"best epoch ({best_epoch(history)['epoch']})", best_epoch(history)),
        ):
            rows[f"{label}, {which}"] = {
                "loss": cross_entropy_of(e, config),
                "acc": e["acc"],
                "val_loss": e["val_loss"],
                "val_acc": e["val_acc"],
            }
    return pd.DataFrame(rows).T[list(KEYS)].astype(float)


def describe_history(
    history: list[dict],
    name: str,
    config: dict,
    changes: list[dict] | None = None,
    reference: dict[str, float] | None = None,
) -> str:
    """Markdown: a run's final and best epochs, its recipe, and how it compares with the original report."""
    last, best = history[-1], best_epoch(history)
    ce = cross_entropy_of(last, config)
    loss = (
        f"cross-entropy {ce:.4f}"
        if ce is not None
        else f"training objective (not the cross-entropy alone) {last['loss']:.4f}"
    )
    text = (
        f"**{name}**, {len(history)} epochs. Final epoch: {loss}, acc {last['acc']:.4f}, val_loss "
        f"{last['val_loss']:.4f}, val_acc {last['val_acc']:.4f}. Best PublicTest accuracy "
        f"{best['val_acc']:.4f} at "
        f"epoch {best['epoch']} (the checkpoint kept)."
    )
    if reference:
        verdict = "reaches" if best["val_acc"] >= reference["val_acc"] else "falls short of"
        text += (
            f" The original report ended at val_acc {reference['val_acc']:.4f}; this run {verdict} it "
            f"({best['val_acc'] - reference['val_acc']:+.4f} at the best epoch)."
        )
    if changes:
        return (
            text
            + " Recipe of the last phase: "
            + describe_recipe(config, len(history))
            + " "
            + describe_changes(changes)
        )
    return text + " Recipe: " + describe_recipe(config, len(history))


def describe_source(res: dict) -> str:
    """Where a chapter's run came from: the shipped weights, or a run folder trained, resumed or loaded
    here."""
    if res["source"] == "pretrained":
        return "The curves are the training history of the shipped weights."
    if res["source"] == "loaded":
        return f"Its run folder already held all {res['epochs_before']} epochs."
    if res["source"] == "resumed":
        return f"Resumed from the {res['epochs_before']} epochs already in its run folder."
    return "Trained in this run."


def conclusion(shipped: dict, plain: dict | None, reference: dict[str, float] = ORIGINAL_FINAL) -> str:
    """Two sentences that open the chapter: the shipped report_cnn against the original's val_acc, how it
    was trained, and the best run with the original's loss alone beside it."""
    h, cfg = shipped["history"], shipped["config"]
    best = best_epoch(h)
    how = (
        f"its weights are distilled from {cfg['teacher']} (weight {cfg['distill']:g}) with a "
        f"{cfg['schedule']} "
        f"schedule over {len(h)} epochs, not trained with the original's loss alone"
        if cfg.get("teacher")
        else f"it was trained with the original's loss ({cfg['schedule']} schedule, {len(h)} epochs)"
    )
    text = (
        f"The shipped report_cnn reaches a PublicTest accuracy of {best['val_acc']:.4f} at its best epoch "
        f"({best['epoch']}), against the original's final val_acc of {reference['val_acc']:.4f} (on faces it "
        f"does not name); {how}."
    )
    if plain is not None and cfg.get("teacher"):
        ph = plain["history"]
        pb = best_epoch(ph)
        ce = cross_entropy_of(ph[-1], plain["config"])
        text += (
            f" With the original's loss alone, the best recorded run ({plain['run']}) reaches "
            f"{pb['val_acc']:.4f} and "
            f"ends at a training cross-entropy of {ce:.4f}, against the original's {reference['loss']:.4f}."
        )
    return text


# --------------------------------------------------------------------------- what the chapter shows


def train_loss_key(history: list[dict], config: dict) -> str | None:
    """The history key the curves plot as the training cross-entropy: ``ce`` where the run logged it,
    ``loss`` where its loss was the cross-entropy alone, None where it was neither."""
    if "ce" in history[-1]:
        return "ce"
    return None if cross_entropy_of(history[-1], config) is None else "loss"


def curves(history: list[dict], config: dict, title: str, reference: dict[str, float] | None = None) -> Any:
    """A run's curves per epoch; the training loss is drawn only where it is the cross-entropy
    (``train_loss_key``), so that it can sit beside the original's loss."""
    from .figures import history_curves

    return history_curves(history, title, reference, train_loss=train_loss_key(history, config))


def compared_runs(rc: dict, records: list[dict]) -> dict[str, Any]:
    """The runs the chapter sets beside report_cnn's (``rc``, from ``train_or_load``).

    ``plain``: where report_cnn was distilled, the best recorded run with the original's loss alone;
    ``replay``: where its history lacks the cross-entropy, a recorded replay of its recipe that logged it
    (each None where there is none); ``shown``: the comparison table's runs, label -> (history, config).
    """
    config = rc["meta"]["config"]
    plain_runs = cross_entropy_runs(records) if config.get("teacher") else []
    plain = plain_runs[0] if plain_runs else None
    replay = replay_with_cross_entropy({"history": rc["history"], "config": config}, records)
    label = "report_cnn (shipped)" if rc["source"] == "pretrained" else "report_cnn"
    shown = {label: (rc["history"], config)}
    if replay:
        shown[f"{replay['run']} (the shipped recipe again)"] = (replay["history"], replay["config"])
    if plain:
        shown[f"{plain['run']} (the original's loss alone)"] = (plain["history"], plain["config"])
    return {"plain": plain, "replay": replay, "shown": shown}


def replay_curves(replay: dict | None) -> Any:
    """The replay's curves with its logged cross-entropy as an image, or a sentence where there is none."""
    from IPython.display import Markdown

    from .figures import as_image, history_curves

    if replay is None:
        return Markdown("The shipped run logged the cross-entropy alone; it is the curve above.")
    return as_image(history_curves(replay["history"], replay["run"], ORIGINAL_FINAL, train_loss="ce"))


def plain_curves(plain: dict | None) -> Any:
    """The best run with the original's loss alone as an image, or a sentence where none is recorded."""
    from IPython.display import Markdown

    from .figures import as_image, history_curves

    if plain is None:
        return Markdown("No report_cnn run trained with the original's loss alone is recorded.")
    return as_image(history_curves(plain["history"], plain["run"], ORIGINAL_FINAL))


def chapter_values(rc: dict, sc: dict, runs: dict[str, Any]) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name: the answer, each run's description, the replay's."""
    from IPython.display import Markdown

    from .prose import first_sentence

    rc_config, plain, replay = rc["meta"]["config"], runs["plain"], runs["replay"]
    answer = conclusion({"history": rc["history"], "config": rc_config}, plain)
    rc_text = describe_history(
        rc["history"], "report_cnn", rc_config, rc["meta"].get("config_changes"), ORIGINAL_FINAL
    )
    sc_text = describe_history(
        sc["history"], "simple_cnn", sc["meta"]["config"], sc["meta"].get("config_changes")
    )
    return {
        "q2_answer": Markdown(answer),
        "q2_finding": first_sentence(answer),
        "q2_replay_text": Markdown(describe_replay(replay, rc["history"]) if replay else " "),
        "q2_plain_name": plain["run"] if plain else "none",
        "q2_rc_text": Markdown(rc_text + " " + describe_source(rc)),
        "q2_sc_text": Markdown(sc_text + " " + describe_source(sc)),
    }


# --------------------------------------------------------------------------- over- and underfitting

CHAPTER = "q2_training"
SAMPLE = 3589  # Training faces measured: as many as each test split holds, so the intervals compare
FLAT = 0.02  # a validation loss that ends within 2% of its minimum has not turned up


def training_sample_fit(model: Any, data: Any, n: int = SAMPLE, seed: int = 0) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``n`` Training faces drawn with ``seed``, the plain
    faces with the network in evaluation mode (no augmentation, no dropout): how well it fits the faces
    it learned from, measured the way PublicTest is."""
    import numpy as np
    import torch

    from fer_lib.evaluate import predict_logits_tta

    part = data.split("Training")
    pick = np.sort(
        np.random.default_rng(seed).choice(len(part.labels), min(n, len(part.labels)), replace=False)
    )
    logits = predict_logits_tta(model, part.images[pick], ("none",), engine="auto")["none"]
    labels = torch.as_tensor(part.labels[pick], dtype=torch.long)
    return {
        "accuracy": float((logits.argmax(1) == labels).float().mean()),
        "loss": float(torch.nn.functional.cross_entropy(logits, labels)),
        "n": int(len(pick)),
    }


def split_fit(model: Any, data: Any, split: str = "PublicTest") -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on every face of ``split``, plain, in evaluation mode."""
    import torch

    from fer_lib.evaluate import predict_logits_tta

    part = data.split(split)
    logits = predict_logits_tta(model, part.images, ("none",), engine="auto")["none"]
    labels = torch.as_tensor(part.labels, dtype=torch.long)
    return {
        "accuracy": float((logits.argmax(1) == labels).float().mean()),
        "loss": float(torch.nn.functional.cross_entropy(logits, labels)),
        "n": int(len(labels)),
    }


def curve_facts(history: list[dict]) -> dict[str, Any]:
    """What a run's curves say about fitting: the best epoch, where the validation loss was lowest and how
    far it rose after, and the epoch from which the training accuracy (augmented, dropout on) stays above
    the validation accuracy (None where it never does)."""
    best = best_epoch(history)
    low = min(history, key=lambda h: h["val_loss"])
    last = history[-1]
    parts = None
    for h in reversed(history):
        if h["acc"] <= h["val_acc"]:
            break
        parts = h["epoch"]
    return {
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "low_epoch": low["epoch"],
        "low_val_loss": low["val_loss"],
        "last_val_loss": last["val_loss"],
        "rise": last["val_loss"] / low["val_loss"] - 1,
        "parts": parts,
        "last_acc": last["acc"],
        "last_val_acc": last["val_acc"],
        "first_val_above": history[0]["val_acc"] > history[0]["acc"],
    }


def fit_table(fits: dict[str, dict[str, dict[str, float]]]) -> Any:
    """Per model, as Markdown to paste in a numbered ``{table}``: accuracy and cross-entropy on a sample of
    Training faces and on PublicTest, plain faces, and the gap between them; ``fits`` maps a model to
    {"Training": fit, "PublicTest": fit}."""
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    rows = {}
    for name, f in fits.items():
        tr, pt = f["Training"], f["PublicTest"]
        rows[name] = {
            f"Training accuracy ({tr['n']:,} faces)": f"{tr['accuracy']:.4f}",
            "PublicTest accuracy": f"{pt['accuracy']:.4f}",
            "gap": f"{tr['accuracy'] - pt['accuracy']:.4f}",
            "Training loss": f"{tr['loss']:.4f}",
            "PublicTest loss": f"{pt['loss']:.4f}",
        }
    return Markdown(pipe_table(pd.DataFrame(rows).T.rename_axis("model")))


def comparison_table(runs: dict[str, tuple[list[dict], dict]]) -> Any:
    """``comparison`` as Markdown to paste in a numbered ``{table}``: four decimals, — where a training
    loss is not the cross-entropy alone."""
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    table = comparison(runs).map(lambda v: "—" if pd.isna(v) else f"{v:.4f}")
    return Markdown(pipe_table(table.rename_axis("run, epoch")))


def model_fits(models: dict[str, Any], data: Any, seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """``training_sample_fit`` and ``split_fit`` on PublicTest of each model, by name."""
    return {
        name: {"Training": training_sample_fit(m, data, seed=seed), "PublicTest": split_fit(m, data)}
        for name, m in models.items()
    }


def check_claims(rc: dict, sc: dict, fits: dict[str, dict[str, dict[str, float]]], sc_planned: int) -> None:
    """What the chapter says about fitting, held to the run (``rc`` and ``sc``: ``curve_facts``): report_cnn's
    validation loss does not turn up (it ends within ``FLAT`` of its minimum) and its training accuracy
    ends above its validation accuracy; it fits its Training faces better than PublicTest's by a moderate
    gap (5 to 12 points) yet stays under 0.80 on them; simple_cnn was still improving when it stopped
    (best epoch its last, before the ``sc_planned`` epochs) and its gap is larger than report_cnn's."""
    from .claims import hold

    hold(
        rc["rise"] < FLAT,
        CHAPTER,
        "that report_cnn's validation loss does not turn up",
        f"a rise of {rc['rise']:.1%} after epoch {rc['low_epoch']}",
    )
    hold(
        rc["parts"] is not None,
        CHAPTER,
        "that report_cnn's training accuracy ends above its validation's",
        "it does not",
    )
    gap = {n: f["Training"]["accuracy"] - f["PublicTest"]["accuracy"] for n, f in fits.items()}
    hold(
        0.05 <= gap["report_cnn"] <= 0.12,
        CHAPTER,
        "that report_cnn's Training-PublicTest gap is moderate",
        f"{gap['report_cnn']:.4f}",
    )
    hold(
        0.7 <= fits["report_cnn"]["Training"]["accuracy"] < 0.8,
        CHAPTER,
        "that report_cnn gets about a quarter of its own Training faces wrong (right on 70% to 80%)",
        f"{fits['report_cnn']['Training']['accuracy']:.4f}",
    )
    hold(
        fits["simple_cnn"]["Training"]["accuracy"] > fits["report_cnn"]["Training"]["accuracy"],
        CHAPTER,
        "that simple_cnn fits its Training faces better than report_cnn",
        f"{fits}",
    )
    hold(
        rc["first_val_above"],
        CHAPTER,
        "that report_cnn's validation accuracy starts above its training accuracy",
        "it does not",
    )
    hold(
        gap["simple_cnn"] > gap["report_cnn"],
        CHAPTER,
        "that simple_cnn's gap is larger than report_cnn's",
        f"{gap}",
    )
    hold(
        sc["best_epoch"] == sc["epochs"] < sc_planned,
        CHAPTER,
        "that simple_cnn was still improving when it stopped, before its planned epochs",
        f"best epoch {sc['best_epoch']} of {sc['epochs']} run, {sc_planned} planned",
    )


def check_distilled(config: dict, runs: dict[str, Any]) -> None:
    """The text says report_cnn learned from a teacher, and shows a replay that logged the cross-entropy
    and the best run with the original's loss alone: all three must be there."""
    from .claims import hold

    hold(bool(config.get("teacher")), CHAPTER, "that report_cnn was distilled from a teacher", "no teacher")
    hold(
        runs["replay"] is not None and runs["plain"] is not None,
        CHAPTER,
        "that a replay of the shipped recipe and a run with the original's loss alone are recorded",
        f"replay {runs['replay'] is not None}, plain {runs['plain'] is not None}",
    )


def check_plain(plain: dict | None) -> None:
    """The text says that no recorded run with the original's loss alone reaches its val_acc."""
    from .claims import hold

    if plain is not None:
        best = best_epoch(plain["history"])["val_acc"]
        hold(
            best < ORIGINAL_FINAL["val_acc"],
            CHAPTER,
            "that no run with the original's loss alone reaches its val_acc",
            f"{plain['run']} at {best:.4f}",
        )


def text_values(
    rc: dict,
    sc: dict,
    runs: dict[str, Any],
    fits: dict[str, dict[str, dict[str, float]]],
    checked: bool = True,
) -> dict:
    """The numbers the chapter's text reads, by glue name, after ``check_claims`` (where ``checked``: the
    text is about FER2013, not generated faces); ``rc`` and ``sc`` as ``sources.train_or_load`` returns
    them, ``runs`` from ``compared_runs``, ``fits`` as for ``fit_table``."""
    from .anchors import ORIGINAL_FINAL

    rc_f, sc_f = curve_facts(rc["history"]), curve_facts(sc["history"])
    planned = sc["meta"]["config"]["epochs"]
    if checked:
        check_claims(rc_f, sc_f, fits, planned)
        check_plain(runs["plain"])
        check_distilled(rc["meta"]["config"], runs)
    cfg = rc["meta"]["config"]
    gap = {n: f["Training"]["accuracy"] - f["PublicTest"]["accuracy"] for n, f in fits.items()}
    values = {
        "q2_rc_epochs": str(rc_f["epochs"]),
        "q2_rc_best_epoch": str(rc_f["best_epoch"]),
        "q2_rc_best": f"{rc_f['best_val_acc']:.4f}",
        "q2_rc_low_epoch": str(rc_f["low_epoch"]),
        "q2_rc_rise": f"{rc_f['rise']:.2%}",
        "q2_rc_parts": str(rc_f["parts"]),
        "q2_rc_train": f"{fits['report_cnn']['Training']['accuracy']:.4f}",
        "q2_rc_public": f"{fits['report_cnn']['PublicTest']['accuracy']:.4f}",
        "q2_rc_gap": f"{100 * gap['report_cnn']:.1f}",
        "q2_sample": f"{fits['report_cnn']['Training']['n']:,}",
        "q2_original_gap": f"{100 * (ORIGINAL_FINAL['acc'] - ORIGINAL_FINAL['val_acc']):.1f}",
        "q2_teacher": str(cfg.get("teacher") or "none"),
        "q2_distill": f"{cfg.get('distill') or 0:g}",
        "q2_schedule": str(cfg["schedule"]),
        "q2_sc_epochs": str(sc_f["epochs"]),
        "q2_sc_planned": str(planned),
        "q2_sc_best": f"{sc_f['best_val_acc']:.4f}",
        "q2_sc_train": f"{fits['simple_cnn']['Training']['accuracy']:.4f}",
        "q2_sc_gap": f"{100 * gap['simple_cnn']:.1f}",
    }
    plain, replay = runs["plain"], runs["replay"]
    values |= dict.fromkeys(("q2_plain_name", "q2_plain_best", "q2_plain_ce"), "none")
    values |= dict.fromkeys(("q2_replay_name", "q2_replay_ce", "q2_replay_best"), "none")
    if plain:
        pb = best_epoch(plain["history"])
        values |= {
            "q2_plain_name": plain["run"],
            "q2_plain_best": f"{pb['val_acc']:.4f}",
            "q2_plain_ce": f"{cross_entropy_of(plain['history'][-1], plain['config']):.4f}",
        }
    if replay:
        last, rb = replay["history"][-1], best_epoch(replay["history"])
        values |= {
            "q2_replay_name": replay["run"],
            "q2_replay_ce": f"{last['ce']:.4f}",
            "q2_replay_best": f"{rb['val_acc']:.4f}",
        }
    return values
