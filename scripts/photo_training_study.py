"""Does training aimed at photos help the shipped models read real photos?

A shipped model (report_cnn, or fer_vgg_s, fer_vgg or simple_cnn with ``--model``) is fine-tuned from its
weights on FER2013 Training with shifts, turns and scaling (report_cnn's recipe left them out) and the
trainer's photo-like changes (``TrainConfig.photo``, ``fer_lib.train.photo_like``: a gamma curve, blur or
sharpening, sensor noise), which real photos bring and FER2013's faces rarely have; ``--control`` runs
the same fine-tune without them. The recipe is ``FINE_TUNES``; the trainer is ``fer_lib.train.train``,
so a killed run resumes (``--resume``, or ``fer-lib train --resume``) to the same weights.

``compare`` then sets the fine-tuned model beside the shipped one on the development set
(``docs/DEVSET.md``, faces found and levelled as ``read_expressions`` does) and on PublicTest, alone and
in the default ensemble in the place of the member it would replace (its origin, or the default's fine-tune
of its origin); given several runs, each tuned from a different model, it also puts all of them in the
ensemble at once. The epoch is chosen on PublicTest, as every shipped model's.

Usage:
    FER2013_CSV=... python scripts/photo_training_study.py train OUT [--model M] [--epochs 8] \
        [--control] [--stop-after N] [--resume] [--force]
    FER2013_CSV=... FER_DEVSET=... python scripts/photo_training_study.py compare OUT [OUT ...] [--cache C] \
        [--json J [--force]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from fer_lib import train as trainer
from fer_lib.checks import output_file
from fer_lib.data import load_fer2013
from fer_lib.errors import FerError
from fer_lib.files import write_text
from fer_lib.pretrained import fine_tuned_from, load_model, pretrained_info, training_models
from fer_lib.recipe import TrainConfig

# what a fine-tune changes of each shipped model's own recipe: report_cnn (the cheapest to train on a CPU,
# 36 M multiply-adds a face) was trained without shifts, turns or scaling; fer_vgg_s and simple_cnn had them,
# and keep their optimizer (fer_vgg_s also its weight decay, label smoothing and erasing)
FINE_TUNES = {
    "report_cnn": dict(optimizer="adam", lr=3e-4, shift=3.0, rotate=10.0, scale=0.1),
    "fer_vgg_s": dict(optimizer="sgd", lr=3e-4, weight_decay=5e-4, label_smoothing=0.1, erase=0.25),
    # fer_vgg was validated with the trainer's running statistics; its fine-tune recomputes them from clean
    # Training faces, as fer_vgg_s's did, since the photo-like changes would otherwise shift them
    "fer_vgg": dict(
        optimizer="sgd", lr=3e-4, weight_decay=5e-4, label_smoothing=0.1, erase=0.25, bn_recompute=4096
    ),
    "simple_cnn": dict(optimizer="adam", lr=3e-4),  # its shifts, turns and scaling are its recipe's
}


def config(model: str, epochs: int, photo: bool = True) -> TrainConfig:
    """The fine-tune of shipped ``model`` (``FINE_TUNES``): from its weights, one cosine decay, batch 128,
    with the trainer's photo-like changes (``photo``) or without them (the control)."""
    shipped = (pretrained_info(model) or {}).get("config") or load_model(model)[1]["config"]
    changes = {"shift": shipped.get("shift", 0.0), "rotate": shipped.get("rotate", 0.0)}
    changes |= {"scale": shipped.get("scale", 0.0), "bn_recompute": shipped.get("bn_recompute", 4096)}
    changes |= FINE_TUNES[model]
    return TrainConfig(
        model=model,
        model_kwargs=shipped.get("model_kwargs", {}),
        epochs=epochs,
        batch_size=128,
        schedule="cosine",
        flip=True,
        init=model,
        seed=0,
        progress=False,
        photo=photo,
        **changes,
    )


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        what = (
            "the FER2013 CSV (see README)"
            if name == "FER2013_CSV"
            else "the development set (docs/DEVSET.md)"
        )
        raise SystemExit(f"{name} is not set: point it at {what}.")
    return value


def run_training(
    out: Path,
    model: str,
    epochs: int,
    resume: bool,
    force: bool,
    control: bool = False,
    stop_after: int | None = None,
) -> None:
    """Fine-tune ``model`` into ``out``; ``control`` leaves the photo-like changes out (the same fine-tune
    otherwise, to tell the augmentation's share from the fine-tune's); ``stop_after`` ends after that many
    epochs."""
    data = load_fer2013(_env("FER2013_CSV"))
    cfg = config(model, epochs, photo=not control)
    init, teacher = training_models(cfg, data)
    hist = trainer.train(
        cfg, data, out, resume=resume, force=force, init=init, teacher=teacher, stop_after=stop_after
    )
    best = max(hist, key=lambda h: h["val_acc"])
    print(f"{out}: best PublicTest {best['val_acc']:.4f} at epoch {best['epoch']} of {len(hist)}")


def replaced_members(models: list[str], weights: dict[str, float], bases: dict[str, str]) -> dict[str, str]:
    """The default ensemble's member each fine-tuned run takes the place of (``bases``: run -> the shipped
    model it was tuned from): its origin, or where the default holds a fine-tune of its origin instead,
    that fine-tune. Two runs may not take one member's place."""
    out: dict[str, str] = {}
    for run, base in bases.items():
        member = next((m for m in models if weights.get(m) and fine_tuned_from(m) == base), base)
        if not weights.get(member):
            raise FerError(f"the default ensemble holds neither {base} nor a fine-tune of it to replace.")
        if member in out.values():
            raise FerError(f"two of the runs would take {member}'s place in the default ensemble.")
        out[run] = member
    return out


def compare(outs: list[Path], cache: Path | None, json_out: Path | None, force: bool = False) -> dict:
    """Each run beside the model it was tuned from, alone, and the default ensemble with every run in the
    place of the member it replaces (``replaced_members``). A single run is named "tuned" in the rows, several
    runs by their folders' names."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_photos import ENSEMBLE, Bench, predictions, score

    from fer_report.devset import read_devset

    if json_out is not None:
        output_file(json_out, (".json",), "--json", force=force)  # refused before the work, not after it
    paths, labels = read_devset(Path(_env("FER_DEVSET")))
    b = Bench(paths, labels, _env("FER2013_CSV"), cache)
    names = ["tuned"] if len(outs) == 1 else [out.resolve().name for out in outs]
    if len(set(names)) < len(names) or set(names) & {*b.models, ENSEMBLE}:
        raise FerError("give each run folder a name of its own, not another's or a shipped model's.")
    bases = {}
    for name, out in zip(names, outs):
        tuned, meta = load_model(out)
        bases[name] = meta["model"]  # the shipped model it was fine-tuned from
        b.add_model(name, tuned)
    w = b.weights(ENSEMBLE)  # the library's weights
    member = replaced_members(b.models, w, bases)
    in_place = {m: run for run, m in member.items()}
    splits = ("dev", "PublicTest")
    rows, against = {}, {}  # against: the model each row would replace
    for name in names:
        for model in (bases[name], name):
            rows[model] = {s: b.raw("level", model, s) for s in splits}
        against[name] = bases[name]
    rows["ensemble"] = {s: b.raw("level", ENSEMBLE, s) for s in splits}
    tuned_row = "ensemble, tuned member" + ("s" if len(names) > 1 else "")
    rows[tuned_row] = {
        s: sum(w[m] * b.raw("level", in_place.get(m, m), s) for m in b.models if w[m]) for s in splits
    }
    against[tuned_row] = "ensemble"
    result = {}
    for name, probs in rows.items():
        dev, pt = score(probs["dev"], labels), score(probs["PublicTest"], b.public.labels)
        result[name] = {"dev": dev, "PublicTest": pt}
        paired = ""
        if name in against:  # photos this one reads right that the one it replaces reads wrong, and back
            mine, theirs = (predictions(rows[n]["dev"]) == labels for n in (name, against[name]))
            dev["gained"], dev["lost"] = int((mine & ~theirs).sum()), int((theirs & ~mine).sum())
            paired = f"  (+{dev['gained']} / -{dev['lost']} photos against {against[name]})"
        print(
            f"{name:24s} dev acc {dev['accuracy']:.3f} bal {dev['balanced_accuracy']:.3f}  "
            f"PublicTest acc {pt['accuracy']:.4f} bal {pt['balanced_accuracy']:.4f}{paired}"
        )
        print("    dev recall " + " ".join(f"{c} {r:.2f}" for c, r in dev["recall"].items()))
    if json_out is not None:
        write_text(json_out, json.dumps(result, indent=1, default=float))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out", type=Path)
    t.add_argument(
        "--model", choices=sorted(FINE_TUNES), default="report_cnn", help="the shipped model to tune"
    )
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--control", action="store_true", help="the same fine-tune without the photo-like changes")
    t.add_argument("--stop-after", type=int, default=None, help="end after this many epochs (resumable)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--force", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("out", type=Path, nargs="+", help="one run, or several tuned from different models")
    c.add_argument("--cache", type=Path)
    c.add_argument("--json", type=Path, help="also write every number to this file")
    c.add_argument("--force", action="store_true", help="replace the --json file if it exists")
    a = ap.parse_args()
    np.seterr(all="ignore")
    try:
        if a.cmd == "train":
            run_training(a.out, a.model, a.epochs, a.resume, a.force, a.control, a.stop_after)
        else:
            compare(a.out, a.cache, a.json, a.force)
    except FerError as e:
        print(f"photo_training_study.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
