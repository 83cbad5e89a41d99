"""Recipes and runs in words and rows: what each shipped model and recorded experiment was trained with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fer_lib.recipe import recipe_settings


def describe_recipe(config: dict, epochs_run: int | None = None) -> str:
    """A training config in words: optimizer, schedule, regularisation and augmentation.

    ``epochs_run`` (say ``len(history)``) is the number of epochs actually trained; where a run
    was stopped before its planned ``epochs``, both are given.
    """
    from fer_lib.recipe import ADAM_BETAS, SGD_MOMENTUM

    c = config
    if c["optimizer"] == "sgd":
        nesterov = "Nesterov " if c.get("nesterov", True) else ""
        opt = f"SGD ({nesterov}momentum {c.get('momentum', SGD_MOMENTUM)})"
    else:
        opt = f"{'AdamW' if c['optimizer'] == 'adamw' else 'Adam'} (β = {tuple(c.get('betas', ADAM_BETAS))})"
    sched = {
        "constant": f"a constant learning rate of {c['lr']:g}",
        "onecycle": f"a one-cycle learning rate peaking at {c['lr']:g}",
        "cosine": f"a cosine learning rate from {c['lr']:g}",
        "plateau": f"a learning rate of {c['lr']:g}, halved whenever PublicTest accuracy has not improved "
        "for more than 3 epochs",
    }[c["schedule"]]
    aug = [
        name
        for on, name in (
            (c.get("flip"), "mirroring"),
            (c.get("shift"), f"shifts up to {c.get('shift'):g} px"),
            (c.get("rotate"), f"rotations up to {c.get('rotate'):g}°"),
            (c.get("scale"), f"scaling ±{100 * c.get('scale', 0):g}%"),
            (c.get("erase"), f"random erasing (p = {c.get('erase'):g})"),
            (c.get("mixup"), f"mixup (α = {c.get('mixup', 0):g})"),
            (c.get("photo"), "photo-like brightness, blur or sharpening and noise"),
        )
        if on
    ]
    reg = [
        t
        for on, t in (
            (c.get("weight_decay"), f"weight decay {c.get('weight_decay'):g}"),
            (c.get("label_smoothing"), f"label smoothing {c.get('label_smoothing'):g}"),
        )
        if on
    ]
    if epochs_run is not None and epochs_run < c["epochs"]:
        epochs = f"stopped after {epochs_run} of {c['epochs']} planned epochs"
    else:
        epochs = f"{c['epochs'] if epochs_run is None else epochs_run} epochs"
    extra = []  # settings that older runs' configs lack
    if c.get("model_kwargs"):
        extra.append("the model built with " + ", ".join(f"{k}={v}" for k, v in c["model_kwargs"].items()))
    if c.get("init"):
        extra.append(f"started from the weights of `{c['init']}`")
    if c.get("teacher"):
        extra.append(
            f"distilled from `{c['teacher']}` (weight {c['distill']:g}, temperature {c['distill_temp']:g})"
        )
    if c.get("ema"):
        extra.append(f"a moving average of the weights (decay {c['ema']:g}) validated and kept")
    if c.get("bn_recompute"):
        extra.append(
            f"BatchNorm statistics recomputed from {c['bn_recompute']:,} Training images (dropout off) "
            "before each validation"
        )
    return (
        f"{opt} with {sched}, batch {c['batch_size']}, {epochs}"
        + (", " + ", ".join(reg) if reg else "")
        + "; augmentation: "
        + (", ".join(aug) or "none")
        + ("; " + "; ".join(extra) if extra else "")
        + "."
    )


def describe_changes(changes: list[dict] | None) -> str:
    """A sentence for the settings a resumed run changed (say a constant learning rate extended with a
    plateau schedule)."""
    if not changes:
        return ""
    parts = []
    for c in changes:
        items = ", ".join(f"`{k}` {old} → {new}" for k, (old, new) in sorted(c["changed"].items()))
        parts.append(f"from epoch {c['from_epoch']}: {items}")
    return "The run was resumed with other settings " + "; ".join(parts) + "."


def same_recipe(a: dict, b: dict) -> bool:
    """Whether two runs' configs are one recipe and seed, whatever machine or library version ran them."""
    return a.get("seed") == b.get("seed") and recipe_settings(a) == recipe_settings(b)


def replays(records: list[dict], cards: list[dict]) -> list[dict]:
    """The records that rerun a shipped card's own recipe and seed: measurements of a shipped recipe,
    not recipes that competed with it."""
    return [r for r in records if any(same_recipe(r["config"], c["config"]) for c in cards)]


def shipped_runs(models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The training runs behind each shipped model, one row per seed run, read from its card.

    Run folders are local state (``runs/`` is not in the repository), so a fresh checkout has none;
    the cards carry what the book's numbers rest on. ``minutes`` is known for the shipped run only.
    """
    from fer_lib.pretrained import pretrained_info, shipped_names
    from fer_lib.ship import card_row

    rows = []
    for name in models or shipped_names():
        card = pretrained_info(name)
        if card is None:
            continue
        m = card["metrics"]
        runs = card.get("seed_runs") or [card_row(card, name, m)]
        cfg = card["config"]
        for r in runs:
            rows.append(
                {
                    "model": name,
                    "run": r["run"],
                    "seed": r["seed"],
                    "epochs": r["epochs"],
                    "best epoch": r["best_epoch"],
                    "PublicTest": r["PublicTest"],
                    "PrivateTest": r["PrivateTest"],
                    "PrivateTest ten-crop": r.get("PrivateTest ten-crop"),
                    "shipped": r["shipped"],
                    "trained on": card["trained_on"],
                    "bf16": r.get("bf16", card["bf16"]),
                    "torch": card["torch"],
                    "minutes": card.get("minutes") if r["shipped"] else None,
                    "last phase": f"{cfg['optimizer']}, lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
                    f"{cfg['schedule']}",
                    "data hash": card["data_hash"],
                }
            )
    return rows


def local_runs(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every run folder in ``run_dir`` (training now or finished), read back from its ``last.pt``."""
    from fer_lib.models import checkpoint_meta

    rows = []
    for last in sorted(Path(run_dir).glob("*/last.pt")):
        meta = checkpoint_meta(last)
        cfg = meta["config"]
        rows.append(
            {
                "run": last.parent.name,
                "model": meta["model"],
                "epochs": meta["epoch"],
                "planned epochs": cfg["epochs"],
                "device": meta["device"],
                "bf16": meta["bf16"],
                "minutes": sum(e["seconds"] for e in meta["history"]) / 60,
                "best PublicTest acc": meta["best_val_acc"],
                "data hash": meta["data_hash"],
                "config": {k: cfg[k] for k in ("optimizer", "lr", "batch_size", "schedule", "seed")},
            }
        )
    return rows


def experiment_rows(model: str | None = None, folder: str | Path | None = None) -> list[dict[str, Any]]:
    """The recorded experiments (``pretrained.record_experiment``), one row each, in the order recorded."""
    from fer_lib.pretrained import experiments

    return [
        {
            "run": r["run"],
            "model": r["model"],
            "question": r["question"],
            "note": " ".join(t for t in (r.get("note", ""), _retired(r)) if t),
            "seed": r["seed"],
            "epochs": f"{r['epochs']} of {r['planned_epochs']}"
            if r["epochs"] < r["planned_epochs"]
            else str(r["epochs"]),
            "best epoch": r["best_epoch"],
            "best PublicTest": r["best_PublicTest"],
            "minutes": r["minutes"],
            "recipe": " ".join(
                t
                for t in (describe_recipe(r["config"], r["epochs"]), describe_changes(r["config_changes"]))
                if t
            ),
        }
        for r in experiments(model, folder)
    ]


def _retired(record: dict[str, Any]) -> str:
    """What a record made by ``pretrained.retire_pretrained`` adds: the model it shipped as, its other
    seeds."""
    if not record.get("shipped_as"):
        return ""
    seeds = ", ".join(f"{o['PublicTest']:.4f} (seed {o['seed']})" for o in record.get("other_seeds", []))
    return (
        f"It shipped as `{record['shipped_as']}` until a recipe with a higher PublicTest accuracy replaced it"
        + (f"; the recipe's other seed runs reached PublicTest {seeds}." if seeds else ".")
    )
