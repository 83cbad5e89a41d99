"""Shipping models and keeping records: what ``fer-lib ship ...`` does.

A run that ships becomes fp16 weights plus a card, measured here on the weights users will load; a
run that does not ship stays as a record of its recipe and history. Both follow the schema of
``fer_lib.pretrained`` (``run_fields``). PrivateTest is measured for shipped weights only and never
chooses anything: the run that ships is the best on PublicTest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checks import plain_name
from .errors import ConfigError
from .evaluate import eval_batch_size, measure, predict_logits_tta, recompute_batchnorm
from .files import save_checkpoint, write_text
from .models import checkpoint_meta, half_state_dict, read_checkpoint
from .names import TTA_MODES
from .pretrained import EXPERIMENTS_DIR, PRETRAINED_DIR, load_model, run_fields
from .recipe import recipe_settings


def _write_json(doc: dict, path: Path) -> None:
    """A card or record, whole or not at all."""
    write_text(path, json.dumps(doc, indent=1) + "\n")


def _stored_classes(predictions: str, n: int, what: str) -> np.ndarray:
    """A card's stored predictions (one digit a face) as class indices, checked to cover ``n`` faces."""
    pred = np.frombuffer(predictions.encode(), dtype=np.uint8) - ord("0")
    if len(pred) != n:
        raise ConfigError(f"{len(pred)} stored predictions for {what}.")
    return pred


def prediction_accuracy(predictions: str, labels: np.ndarray) -> float:
    """The accuracy of a card's stored predictions (one digit a face) against ``labels``."""
    return float((_stored_classes(predictions, len(labels), f"{len(labels)} faces") == labels).mean())


def check_predictions(
    model: nn.Module,
    data,
    predictions: str,
    split: str = "PrivateTest",
    tta: str = "tencrop",
    sample: int = 300,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> int:
    """How many of a fixed random sample of faces ``model`` predicts otherwise than the stored
    ``predictions``.

    A full ten-crop pass of the strong model over a test split takes many minutes on a 2-core CPU;
    its stored predictions give the card's accuracy exactly (``prediction_accuracy``), and this
    checks that the model still makes them, on ``sample`` faces.
    """
    part = data.split(split)
    stored = _stored_classes(predictions, len(part), f"the {len(part)} faces of {split}")
    idx = np.sort(np.random.default_rng(seed).choice(len(part), size=min(sample, len(part)), replace=False))
    device = torch.device(device)
    logits = predict_logits_tta(
        model, part.images[idx], (tta,), device=device, batch_size=eval_batch_size(device)
    )[tta]
    return int((logits.argmax(1).numpy() != stored[idx]).sum())


def card_problems(card: dict, model: nn.Module, data, sample: int = 40, seed: int = 0) -> list[str]:
    """What in a shipped card disagrees with its stored predictions or with its weights; empty when it holds.

    For PublicTest and PrivateTest, each accuracy the card gives (plain, flip, ten-crop) must be the
    accuracy of its stored predictions on ``data``'s labels, exactly; and on a fixed random sample of
    ``sample`` faces of the split (``seed``), ``model`` must predict what is stored, in every mode (one
    ten-crop pass gives all three). A changed number, or a stored prediction changed on a sampled face
    or from right to wrong anywhere, is reported.
    """
    if card.get("data_hash") != data.data_hash():
        return [
            f"the card was measured on data {card.get('data_hash')}, not on this data ({data.data_hash()})"
        ]
    problems = []
    stored_all = card.get("predictions") or {}
    for split in ("PublicTest", "PrivateTest"):
        part, metrics = data.split(split), card["metrics"][split]
        missing = [m for m in TTA_MODES if f"{split} {m}" not in stored_all]
        if missing:
            problems.append(f"no stored {split} predictions for {', '.join(missing)}")
            continue
        try:
            stored = {
                m: _stored_classes(stored_all[f"{split} {m}"], len(part), f"the {len(part)} faces of {split}")
                for m in TTA_MODES
            }
        except ConfigError as e:
            problems.append(str(e).rstrip("."))
            continue
        for m in TTA_MODES:
            key = "accuracy" if m == "none" else f"accuracy_{m}"
            got = float((stored[m] == part.labels).mean())
            if metrics.get(key) != got or metrics.get("n") != len(part):
                problems.append(
                    f"{split} {key}: the card says {metrics.get(key)} on {metrics.get('n')} faces, its "
                    f"stored predictions give {got} on {len(part)}"
                )
        idx = np.sort(
            np.random.default_rng(seed).choice(len(part), size=min(sample, len(part)), replace=False)
        )
        logits = predict_logits_tta(
            model, part.images[idx], TTA_MODES, batch_size=eval_batch_size(torch.device("cpu"))
        )
        for m in TTA_MODES:
            differ = idx[logits[m].argmax(1).numpy() != stored[m][idx]]
            if len(differ):
                problems.append(
                    f"{split} {m}: the weights predict otherwise than stored on {len(differ)} of {len(idx)} "
                    f"sampled faces (faces {', '.join(map(str, differ[:5]))})"
                )
    return problems


def record_predictions(name: str, data, dest: str | Path | None = None) -> dict[str, str]:
    """Add a shipped model's test-split predictions (every TTA mode) to its card, for each of PublicTest
    and PrivateTest whose predictions it lacks (both where it has them all, to measure them again).

    The accuracies they give must be the card's, within one face, or nothing is written.
    """
    out = Path(dest or PRETRAINED_DIR)
    card_path, card = _shipped_card(name, out, data)
    model, _ = load_model(out / f"{name}.pt")
    stored = card.get("predictions") or {}
    splits = tuple(s for s in ("PublicTest", "PrivateTest") if f"{s} tencrop" not in stored)
    preds: dict[str, str] = {}
    for split, got in measure(
        model, data, splits=splits or ("PublicTest", "PrivateTest"), predictions=preds
    ).items():
        for key, value in got.items():
            if key != "n" and abs(value - card["metrics"][split][key]) > 1.5 / got["n"]:
                raise ConfigError(
                    f"{name}: {split} {key} is {value:.4f} now, the card says "
                    f"{card['metrics'][split][key]:.4f}."
                )
    merged = stored | preds
    card["predictions"] = {  # in measure's order: split, then TTA mode
        k: merged[k]
        for k in (f"{s} {m}" for s in ("PublicTest", "PrivateTest") for m in TTA_MODES)
        if k in merged
    }
    _write_json(card, card_path)
    return card["predictions"]


def full_run_meta(run: Path, best_meta: dict) -> dict:
    """best.pt's metadata with the whole run's history and settings (best.pt stops at the best epoch)."""
    last = run / "last.pt"
    if not last.exists():
        return best_meta
    meta = checkpoint_meta(last)
    return dict(
        best_meta,
        history=meta["history"],
        config=meta["config"],
        config_changes=meta.get("config_changes", []),
        epoch=meta["epoch"],
        best_epoch=best_meta["epoch"],
    )


def _best_val_acc(run: Path) -> float:
    ckpt = run / "last.pt" if (run / "last.pt").exists() else run / "best.pt"
    hist = checkpoint_meta(ckpt)["history"]
    return max((h.get("val_acc", -1.0) for h in hist), default=-1.0)


def _recipe(meta: dict) -> tuple[str, str]:
    """A run's recipe with its seed left out: what seed runs must share."""
    return json.dumps(recipe_settings(meta["config"]), sort_keys=True), json.dumps(
        meta.get("config_changes", []), sort_keys=True
    )


def seed_summary(
    rows: list[dict], keys: tuple[str, ...] = ("PublicTest", "PrivateTest", "PrivateTest ten-crop")
) -> dict:
    """Mean, sample standard deviation, min and max of each metric over seed runs."""
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=float)
        out[k] = {
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
            "min": float(v.min()),
            "max": float(v.max()),
        }
    return out


def _seed_row(run: Path, data, recipe_meta: dict, recipe_of: str, shipped: bool) -> dict:
    """One seed run's row: its best.pt measured plain and ten-crop, after checking it shares
    ``recipe_meta``'s recipe."""
    net, m = load_model(run / "best.pt")
    m = full_run_meta(run, m)
    if (
        m["model"] != recipe_meta["model"]
        or m["data_hash"] != recipe_meta["data_hash"]
        or _recipe(m) != _recipe(recipe_meta)
    ):
        raise ConfigError(
            f"{run} is not a seed run of {recipe_of}: the model, data or recipe (seed aside) differ."
        )
    public = measure(net, data, splits=("PublicTest",), ttas=("none",))[
        "PublicTest"
    ]  # the row has no PublicTest ten-crop
    private = measure(net, data, splits=("PrivateTest",), ttas=("none", "tencrop"))["PrivateTest"]
    return {
        "run": run.name,
        "seed": m["config"]["seed"],
        "best_epoch": m.get("best_epoch", m["epoch"]),
        "epochs": len(m["history"]),
        "PublicTest": public["accuracy"],
        "PrivateTest": private["accuracy"],
        "PrivateTest ten-crop": private["accuracy_tencrop"],
        "shipped": shipped,
        "bf16": m.get("bf16"),
    }


def _check_seeds(rows: list[dict]) -> None:
    seeds = [row["seed"] for row in rows]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seed runs must differ in seed; got seeds {seeds}.")


def _check_finished(runs: list[Path]) -> None:
    for r in runs:
        if not (r / "best.pt").exists():
            raise ConfigError(f"{r}: no best.pt; not a finished training run.")


def _shipped_card(name: str, out: Path, data) -> tuple[Path, dict]:
    """The path and contents of ``name``'s card in ``out``, checked to ship weights and to be of ``data``."""
    card_path = out / f"{plain_name(name, 'the shipped name')}.json"
    if not (card_path.exists() and (out / f"{name}.pt").exists()):
        raise ConfigError(f"no weights and card for '{name}' in {out}.")
    card = json.loads(card_path.read_text())
    if card["data_hash"] != data.data_hash():
        raise ConfigError(
            f"{name} was trained on data {card['data_hash']}, but the data given is {data.data_hash()}."
        )
    return card_path, card


def card_row(card: dict, name: str, metrics: dict) -> dict:
    """A one-seed card's run as a seed row (the shipped one), with the accuracies of ``metrics``."""
    return {
        "run": name,
        "seed": card["config"]["seed"],
        "best_epoch": card["best_epoch"],
        "epochs": card["epochs"],
        "PublicTest": metrics["PublicTest"]["accuracy"],
        "PrivateTest": metrics["PrivateTest"]["accuracy"],
        "PrivateTest ten-crop": metrics["PrivateTest"].get("accuracy_tencrop"),
        "shipped": True,
        "bf16": card.get("bf16"),
    }


def save_fp16(model: nn.Module | dict[str, torch.Tensor], meta: dict | str, path: Path) -> None:
    """Write a weights-only checkpoint with float16 tensors (integer buffers kept) and its metadata.

    The one writer of float16 weights: shipped models and compact copies of runs alike. ``model`` is a
    model or its state dict, ``meta`` a dict or a checkpoint's metadata as it was stored (JSON text).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    text = meta if isinstance(meta, str) else json.dumps(meta)
    save_checkpoint({"model": half_state_dict(state), "meta": text}, path)


def compact_run(run_dir: str | Path, dest: str | Path) -> list[Path]:
    """Float16, weights-only copies of a run's best.pt and last.pt in ``dest``: a quarter of the size.

    What ``export_pretrained`` and ``evaluate`` read (the weights, and last.pt's metadata with the
    whole history and recipe) for bringing a run back from a machine with tight transfer limits;
    the optimizer's state is dropped, so a compact last.pt cannot be resumed.
    """
    src, out = Path(run_dir), Path(dest)
    if not (src / "best.pt").exists():
        raise ConfigError(f"{src}: no best.pt; not a training run folder.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("best.pt", "last.pt"):
        if not (src / name).exists():
            continue
        ckpt = read_checkpoint(src / name)[0]  # one sentence for a damaged or crafted file
        save_fp16(ckpt["model"], ckpt["meta"], out / name)
        written.append(out / name)
    return written


def export_pretrained(
    run_folder: str | Path,
    data,
    name: str | None = None,
    dest: str | Path | None = None,
    seed_runs: tuple[str | Path, ...] = (),
    force: bool = False,
) -> dict:
    """Ship a run's best.pt as fp16 weights plus a card (metrics measured on the fp16 model, history, data
    hash).

    ``seed_runs`` are more runs of the same recipe with other seeds. The run that ships is the one
    with the best PublicTest accuracy among all of them (never chosen on PrivateTest); the card lists
    every seed's accuracies (best.pt of each, plain and ten-crop) and their mean, spread and range.
    That PublicTest accuracy is the one the card shows, measured here on each best.pt (float32, on
    this device): a run trained elsewhere (a GPU under bf16, say) validated on other arithmetic,
    which can order two close seeds otherwise; the training history's best breaks ties. Weights or a
    card already shipped under the name in ``dest`` are replaced only with ``force``.
    """
    runs = [Path(run_folder), *map(Path, seed_runs)]
    _check_finished(runs)
    dest = Path(dest or PRETRAINED_DIR)
    model_name = checkpoint_meta(runs[0] / "best.pt")["model"]
    name = plain_name(name, "--name") if name is not None else model_name
    _check_own_name(name, model_name)
    _check_unshipped(name, dest, force)
    run = runs[0]
    seed_rows: list[dict] = []
    if seed_runs:
        first = full_run_meta(run, load_model(run / "best.pt")[1])
        seed_rows = [_seed_row(r, data, first, str(run), shipped=False) for r in runs]
        _check_seeds(seed_rows)
        pick = max(range(len(runs)), key=lambda k: (seed_rows[k]["PublicTest"], _best_val_acc(runs[k])))
        for k, row in enumerate(seed_rows):
            row["shipped"] = k == pick
        run = runs[pick]
    model, meta = load_model(run / "best.pt")
    meta = full_run_meta(run, meta)
    if meta["data_hash"] != data.data_hash():
        raise ConfigError(
            f"{run}/best.pt was trained on data {meta['data_hash']}, but the data given is "
            f"{data.data_hash()}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    save_fp16(model, meta, dest / f"{name}.pt")
    shipped, _ = load_model(dest / f"{name}.pt")  # measure what users will load
    preds: dict[str, str] = {}
    metrics = measure(shipped, data, predictions=preds)
    card = run_fields(run.name, meta) | {
        "metrics": metrics,
        "selected_on": "PublicTest accuracy (best epoch" + (", then best seed run)" if seed_runs else ")"),
        "seeds": len(runs),
        "weights": "float16",
        "predictions": preds,
    }
    if seed_rows:
        card["seed_runs"] = seed_rows
        card["seed_summary"] = seed_summary(seed_rows)
    _write_json(card, dest / f"{name}.json")
    return card


def _check_own_name(name: str, model: str) -> None:
    """Weights ship under their architecture's name or a name of their own: never under another registered
    model's name, nor as ``ensemble`` (the name ``load_model`` keeps for the default ensemble)."""
    from .models import REGISTRY

    if name == "ensemble" or (name in REGISTRY and name != model):
        taken = "the default ensemble" if name == "ensemble" else "a registered model"
        raise ConfigError(
            f"--name {name}: that name is taken ({taken}); ship this {model} run as {model} or under a "
            "name of its own."
        )


def _check_unshipped(name: str, dest: Path, force: bool) -> None:
    """Weights or a card already shipped as ``name`` in ``dest`` are replaced only with ``force``."""
    held = [f"{name}{ext}" for ext in (".pt", ".json") if (dest / f"{name}{ext}").exists()]
    if held and not force:
        raise ConfigError(
            f"{dest} already ships a model named '{name}' ({', '.join(held)}); pass --force to replace it "
            "(ship retire keeps its run as a record first), or choose another --name."
        )


def recompute_shipped_batchnorm(
    name: str, data, dest: str | Path | None = None, device: str | torch.device = "cpu"
) -> dict:
    """Recompute a shipped model's BatchNorm statistics on Training (dropout off), keep them if PublicTest
    gains.

    The shipped weights were chosen on PublicTest with the statistics they were trained with: the
    trainer's running averages, or for a run trained with ``bn_recompute`` N, those of its N-image
    sample. Here the same weights get exact statistics of all Training images as the network sees them at test
    time (``evaluate.recompute_batchnorm``). The new statistics replace the old only when PublicTest
    accuracy rises (the decision never looks at PrivateTest); the card then holds the metrics
    measured again from the new fp16 weights, and its ``batchnorm`` entry the metrics before.
    Where PublicTest does not rise the weights stay as they are, and the card's ``batchnorm``
    entry records the trial (``kept`` false), so a reader learns it was tried and what it gave.
    Returns that entry, with ``kept`` saying which way it went.
    """
    out = Path(dest or PRETRAINED_DIR)
    src = out / f"{name}.pt"
    card_path, card = _shipped_card(name, out, data)
    if card.get("batchnorm", {}).get("kept"):
        raise ConfigError(
            f"{name}'s BatchNorm statistics were already recomputed ({card['batchnorm']['statistics']})."
        )
    model, meta = load_model(src, device=device)
    public = data.split("PublicTest")
    before = measure(model, data, splits=("PublicTest",), device=device)["PublicTest"]
    train_images = data.split("Training").images
    recompute_batchnorm(model, train_images, device=device)
    trial = out / f".{name}.recomputed.pt"
    save_fp16(model, meta, trial)
    try:
        new_model, _ = load_model(trial, device=device)  # measure what users would load
        preds: dict[str, str] = {}  # kept in the card with the new statistics
        after = measure(new_model, data, splits=("PublicTest",), device=device, predictions=preds)[
            "PublicTest"
        ]
        entry = {
            "statistics": f"recomputed on all {len(train_images):,} Training images, no augmentation, "
            "dropout off",
            "images": len(train_images),
            "rule": "kept only if plain PublicTest accuracy rises",
            "PublicTest before": before,
            "PublicTest after": after,
            "kept": after["accuracy"] > before["accuracy"],
            "n": len(public),
        }
        if entry["kept"]:
            entry["metrics before"] = card["metrics"]
            meta = dict(meta, batchnorm=entry["statistics"])
            save_fp16(new_model, meta, out / f"{name}.pt")
            metrics = {
                "PublicTest": after,
                **measure(new_model, data, splits=("PrivateTest",), device=device, predictions=preds),
            }
            card = dict(card, metrics=metrics, predictions=preds)
        _write_json(dict(card, batchnorm=entry), card_path)
    finally:
        trial.unlink(missing_ok=True)
    return entry


def add_seed_runs(name: str, seed_runs: tuple[str | Path, ...], data, dest: str | Path | None = None) -> dict:
    """Add runs of a shipped model's recipe with other seeds to its card, where the run it shipped from is
    gone.

    ``export_pretrained(run, data, seed_runs=...)`` needs every run folder; a shipped model whose own
    folder was not kept (run folders are local state) gets its seed runs here instead, for example
    from ``fer-lib train --like NAME --seed N``. The shipped run's row comes from its card: the
    metrics of the weights as trained (before any BatchNorm recompute, as the other rows are). The
    rule is export's: the run with the best PublicTest accuracy ships. If that is one of the new
    runs, its best.pt is exported in the shipped one's place (its BatchNorm statistics as trained;
    ``recompute_shipped_batchnorm`` may follow). Returns the new card.
    """
    out = Path(dest or PRETRAINED_DIR)
    card_path, card = _shipped_card(name, out, data)
    runs = [Path(r) for r in seed_runs]
    if not runs:
        raise ConfigError("add_seed_runs needs at least one run folder.")
    _check_finished(runs)
    recipe_meta = {
        "model": card["model"],
        "data_hash": card["data_hash"],
        "config": card["config"],
        "config_changes": card.get("config_changes", []),
    }
    as_trained = (
        card["batchnorm"]["metrics before"] if card.get("batchnorm", {}).get("kept") else card["metrics"]
    )
    old_rows = card.get("seed_runs") or [card_row(card, name, as_trained)]
    new_rows = [_seed_row(r, data, recipe_meta, f"the shipped {name}", shipped=False) for r in runs]
    _check_seeds(old_rows + new_rows)
    shipped_best = max(h.get("val_acc", -1.0) for h in card["history"])
    winner = max(runs, key=_best_val_acc)
    if _best_val_acc(winner) > shipped_best:  # the rule of export: the better run replaces the shipped one
        card = export_pretrained(winner, data, name=name, dest=out, force=True)
        old_rows = [dict(r, shipped=False) for r in old_rows]
        new_rows = [dict(r, shipped=run == winner) for r, run in zip(new_rows, runs)]
    rows = sorted(old_rows + new_rows, key=lambda r: r["seed"])
    card = dict(
        card,
        seeds=len(rows),
        seed_runs=rows,
        seed_summary=seed_summary(rows),
        selected_on="PublicTest accuracy (best epoch, then best seed run)",
    )
    _write_json(card, card_path)
    return card


def record_experiment(
    run_folder: str | Path,
    data,
    question: str,
    note: str = "",
    dest: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Keep a run that did not ship in the package: its recipe and whole history, no weights.

    Run folders are local state, so an experiment that was tried and not shipped would leave no
    trace in a fresh checkout; choosing among recipes on PublicTest is itself a selection, and a
    reader can only weigh it if the losing runs stay visible. The record holds what the run's
    ``last.pt`` knows (recipe, phase changes, every epoch's losses and PublicTest accuracy as
    validated, machine, minutes), ``question``, what the run was to find out, and ``note``, what
    else a reader should know (why it was stopped, say). PrivateTest is
    never measured for it. A stopped run (fewer epochs than planned) is recorded as such.
    Writes ``<dest>/<run name>.json`` (default: the package's ``pretrained/experiments``); an earlier
    record of that name is replaced only with ``force``.
    """
    run = Path(run_folder)
    last = run / "last.pt"
    if not last.exists():
        raise ConfigError(f"{run}: no last.pt; not a training run folder.")
    if not question.strip():
        raise ConfigError("record_experiment needs the question the run was to answer.")
    meta = checkpoint_meta(last)
    if meta["data_hash"] != data.data_hash():
        raise ConfigError(
            f"{run} was trained on data {meta['data_hash']}, but the data given is {data.data_hash()}."
        )
    return _write_record(_record(run.name or run.resolve().name, meta, question, note), dest, force)


def _record(run_name: str, meta: dict, question: str, note: str) -> dict:
    """An experiment record: the run's fields (``pretrained.RUN_KEYS``), its question and a note."""
    return run_fields(run_name, meta) | {
        "question": question.strip(),
        "note": note.strip(),
        "recorded": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _write_record(record: dict, dest: str | Path | None, force: bool = False) -> dict:
    out = Path(dest or EXPERIMENTS_DIR)
    path = out / f"{plain_name(record['run'], 'the run name')}.json"
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already records a run named '{record['run']}'; pass --force to replace that record, or "
            "rename the run folder."
        )
    out.mkdir(parents=True, exist_ok=True)
    _write_json(record, path)
    return record


def retire_pretrained(
    name: str,
    question: str,
    note: str = "",
    source: str | Path | None = None,
    dest: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Keep a shipped model's run as an experiment record before a recipe that did better on PublicTest
    replaces it.

    Its run folder is usually gone, so the record is made from the card (``source``, default the
    package's ``pretrained/``): the shipped seed run's recipe, phase changes and whole history, as
    ``record_experiment`` keeps them, with ``shipped_as`` naming the model it shipped as and
    ``other_seeds`` the best PublicTest of the recipe's other seed runs. Like every record it holds
    no weights and no PrivateTest number (the card's git history still has them). Call it before
    ``export_pretrained`` overwrites the card.
    """
    card_path = Path(source or PRETRAINED_DIR) / f"{plain_name(name, 'the shipped name')}.json"
    if not card_path.exists():
        raise ConfigError(f"{card_path}: no card; nothing ships as {name!r}.")
    if not question.strip():
        raise ConfigError("retire_pretrained needs the question the run was to answer.")
    card = json.loads(card_path.read_text())
    rows = card.get("seed_runs") or []
    shipped = next((r for r in rows if r["shipped"]), None)
    record = _record(shipped["run"] if shipped else card["run"], card, question, note)
    record["shipped_as"] = name
    record["other_seeds"] = [
        {"run": r["run"], "seed": r["seed"], "best_epoch": r["best_epoch"], "PublicTest": r["PublicTest"]}
        for r in rows
        if not r["shipped"]
    ]
    return _write_record(record, dest, force)
