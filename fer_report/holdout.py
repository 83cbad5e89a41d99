"""The hold-out study: report_cnn trained on 90% of Training and chosen on the other 10%.

A report that had only the course's ``train.csv`` could do no better than this; the results chapter
measures the study model on its own hold-out, on PublicTest and on PrivateTest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fer_lib.data import FerData
from fer_lib.errors import ConfigError

from .anchors import ORIGINAL_FINAL
from .records import describe_recipe

# the study model the results chapter measures (fp16 weights and its run's metadata)
HOLDOUT_STUDY = Path(__file__).parent / "studies" / "report_cnn_holdout.pt"


def export_holdout_study(
    run_folder: str | Path,
    data: FerData,
    fraction: float = 0.1,
    seed: int = 0,
    *,
    dest: str | Path,
    force: bool = False,
) -> Path:
    """Write a run trained on ``hold_out(data, fraction, seed)`` to ``dest`` (fp16 weights, its history, the
    hold-out's recipe); an existing ``dest`` is replaced only with ``force``.

    The run must have been trained on exactly that data (checked by fingerprint), e.g. with
    ``fer-lib train --data train.csv --val-fraction 0.1 --seed 0`` on the NTU-style Training split.
    """
    from fer_lib.checks import output_file
    from fer_lib.data import hold_out
    from fer_lib.pretrained import load_model
    from fer_lib.ship import full_run_meta, save_fp16

    out = output_file(dest, (".pt",), "the study's weights", force=force)
    run = Path(run_folder)
    if not (run / "best.pt").exists():
        raise ConfigError(f"{run}: no best.pt; not a finished training run.")
    model, meta = load_model(run / "best.pt")
    meta = full_run_meta(run, meta)
    held = hold_out(data, fraction, seed)
    if meta["data_hash"] != held.fingerprint():
        raise ConfigError(
            f"{run} was trained on data {meta['data_hash']}, not on the {fraction:g} hold-out of Training "
            f"with seed {seed} ({held.fingerprint()})."
        )
    meta["holdout"] = {"fraction": fraction, "seed": seed}
    save_fp16(model, meta, out)
    return out


def holdout_study_check(data: FerData, path: str | Path | None = None) -> str:
    """'' when the hold-out study can be measured on ``data``; otherwise the reason it cannot (in words)."""
    from fer_lib.data import hold_out
    from fer_lib.models import checkpoint_meta

    p = Path(path or HOLDOUT_STUDY)
    if not p.is_file():
        return f"no hold-out study model at {p}"
    meta = checkpoint_meta(p)
    h = meta.get("holdout") or {}
    if "Training" not in data.split_names() or not h:
        return "the data has no Training split" if h else f"{p.name} is not a hold-out study checkpoint"
    if hold_out(data, h["fraction"], h["seed"]).fingerprint() != meta["data_hash"]:
        return (
            f"the study model was trained on other data (hash {meta['data_hash']}), so its hold-out "
            "cannot be rebuilt from this data"
        )
    return ""


def holdout_study(data: FerData, path: str | Path | None = None, device: str = "cpu") -> tuple[Any, dict]:
    """The study model's accuracy on its own hold-out of Training, on PublicTest and on PrivateTest, and its
    metadata.

    The model was trained on the rest of Training and chosen on the hold-out, as a report that had
    only the course's train.csv could do; PublicTest and PrivateTest it never saw.
    """
    import pandas as pd

    from fer_lib.data import hold_out
    from fer_lib.evaluate import predict_logits
    from fer_lib.pretrained import load_model

    model, meta = load_model(path or HOLDOUT_STUDY, device=device)
    h = meta.get("holdout")
    if not h:
        raise ConfigError(f"{path or HOLDOUT_STUDY}: not a hold-out study checkpoint (no 'holdout' entry).")
    held = hold_out(data, h["fraction"], h["seed"])
    if held.fingerprint() != meta["data_hash"]:
        raise ConfigError(
            f"the study model was trained on data {meta['data_hash']}; the hold-out of this data is "
            f"{held.fingerprint()}, so its faces may overlap the training faces."
        )
    seen = {face.tobytes() for face in held.split("Training").images}
    rows = []
    for faces, part in (
        (f"hold-out: {100 * h['fraction']:g}% of Training", held.split("PublicTest")),
        ("PublicTest", data.split("PublicTest")),
        ("PrivateTest", data.split("PrivateTest")),
    ):
        pred = predict_logits(model, part.images, device=device).argmax(1).numpy()
        rows.append(
            {
                "faces": faces,
                "n": len(part),
                "accuracy": float((pred == part.labels).mean()),
                "exact copy among the training faces": float(
                    np.mean([face.tobytes() in seen for face in part.images])
                ),
            }
        )
    return pd.DataFrame(rows).set_index("faces"), meta


def describe_holdout(table: Any, meta: dict) -> str:
    """Markdown: how the hold-out accuracy compares with PublicTest, PrivateTest and the original's
    val_acc."""
    held, pub, priv = (float(table["accuracy"].iloc[i]) for i in range(3))
    copies = [float(c) for c in table["exact copy among the training faces"]]
    shares = f"hold-out {copies[0]:.1%}, PublicTest {copies[1]:.1%}, PrivateTest {copies[2]:.1%}"
    if max(copies) - min(copies) < 0.02:
        copy_note = (
            f"Exact pixel copies of training faces are about as common in each split ({shares}), "
            "so they do not by themselves favour one split."
        )
    else:
        copy_note = f"Exact pixel copies of training faces are not equally common: {shares}."
    best = max(meta["history"], key=lambda e: e["val_acc"])
    target = ORIGINAL_FINAL["val_acc"]
    err = 1.96 * (held * (1 - held) / float(table["n"].iloc[0])) ** 0.5
    if held - max(pub, priv) > err:
        verdict = (
            f"The hold-out reads higher than both test splits by more than its sampling error (±{err:.3f}, "
            "95%): "
            "validating on Training faces flatters a model."
        )
    else:
        verdict = (
            f"The hold-out's lead over PublicTest ({held - pub:+.4f}) is within its sampling error "
            f"(±{err:.3f}, 95%), "
            f"and PrivateTest, unseen too, reads {priv - held:+.4f} against the hold-out: this run finds no "
            "sign that "
            "validating on Training faces reads higher than the test splits."
        )
    reach = "reaches" if held >= target else "does not reach"
    return (
        f"Trained on the other {meta['n_train']:,} Training faces with "
        + describe_recipe(meta["config"], len(meta["history"])).rstrip(".")
        + f", and chosen on the hold-out (epoch {best['epoch']} of {len(meta['history'])}), `report_cnn` "
        + "scores "
        f"**{held:.4f}** on its hold-out, **{pub:.4f}** on PublicTest and {priv:.4f} on PrivateTest. "
        f"The hold-out number is the best of {len(meta['history'])} epochs measured on it, so it carries "
        "the optimism "
        "of that choice; the test splits' numbers do not. "
        + verdict
        + f" With this setup the hold-out number {reach} the original's val_acc of {target:.4f} "
        + f"({held - target:+.4f}). "
        "One seed and one hold-out draw. " + copy_note
    )
