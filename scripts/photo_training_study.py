"""Does training aimed at photos help the shipped models read real photos?

A study, not a trainer option: a shipped model (report_cnn, or fer_vgg_s with ``--model``) is fine-tuned
from its weights on FER2013 Training with shifts, turns and scaling (report_cnn's recipe left them out)
and photometric changes that real photos bring and FER2013's faces rarely have (``photo_like``: gamma, blur or
sharpening, sensor noise). The trainer is ``fer_lib.train.train``, unchanged; its augmentation is
wrapped for the length of the run only, drawing from the trainer's own seeded generator, so that a
killed run resumes (``--resume``) to the same weights.

``compare`` then sets the fine-tuned model beside the shipped one on the development set
(``docs/DEVSET.md``, faces found and levelled as ``read_expressions`` does) and on PublicTest, alone and
as the ensemble member it would replace. The epoch is chosen on PublicTest, as every shipped model's.

The run's recipe (its checkpoint and record) does not name ``photo_like``: resume it with this script,
not with ``fer-lib train --resume``, which would go on without it.

Usage:
    FER2013_CSV=... python scripts/photo_training_study.py train OUT [--model M] [--epochs 8] \
        [--resume] [--force]
    FER2013_CSV=... FER_DEVSET=... python scripts/photo_training_study.py compare OUT [--cache C] \
        [--json J [--force]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fer_lib import train as trainer
from fer_lib.checks import output_file
from fer_lib.data import load_fer2013
from fer_lib.errors import FerError
from fer_lib.files import write_text
from fer_lib.pretrained import load_model, pretrained_info, training_models
from fer_lib.recipe import TrainConfig

# what a fine-tune changes of each shipped model's own recipe: report_cnn (the cheapest to train on a CPU,
# 36 M multiply-adds a face) was trained without shifts, turns or scaling; fer_vgg_s had them, and keeps its
# optimizer, weight decay, label smoothing and erasing
FINE_TUNES = {
    "report_cnn": dict(optimizer="adam", lr=3e-4, shift=3.0, rotate=10.0, scale=0.1),
    "fer_vgg_s": dict(optimizer="sgd", lr=3e-4, weight_decay=5e-4, label_smoothing=0.1, erase=0.25),
}
GAMMA = 1.6  # brightness curve: gamma drawn log-uniformly in [1/GAMMA, GAMMA]
BLUR = (0.2, 0.8)  # gaussian blur sigma (pixels), for half the faces
SHARPEN = 0.8  # unsharp-mask amount (up to), for the other half
NOISE = 0.02  # sensor noise: gaussian, sd drawn in [0, NOISE] of the full range


def _gaussian(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each face blurred by its own sigma (a 5x5 separable kernel a face)."""
    r = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
    k = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    k = k / k.sum(1, keepdim=True)
    b = len(x)
    pad = F.pad(x.transpose(0, 1), (2, 2, 2, 2), mode="replicate")  # (1, B, H+4, W+4): faces as channels
    rows = F.conv2d(pad, k.view(b, 1, 1, 5), groups=b)
    return F.conv2d(rows, k.view(b, 1, 5, 1), groups=b).transpose(0, 1)


def photo_like(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Faces in [0, 1] given what photos bring: a gamma curve, blur or sharpening, and noise."""
    b, dev = len(x), x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=g, device=dev)

    gamma = torch.exp(u(-math.log(GAMMA), math.log(GAMMA)))
    x = x.clamp(0, 1) ** gamma[:, None, None, None]
    blurred = _gaussian(x, u(*BLUR))
    soft = _gaussian(x, torch.full((b,), 1.0, device=dev))
    sharp = (x + u(0, SHARPEN)[:, None, None, None] * (x - soft)).clamp(0, 1)
    pick = (torch.rand(b, generator=g, device=dev) < 0.5)[:, None, None, None]
    x = torch.where(pick, blurred, sharp)
    noise = torch.randn(x.shape, generator=g, device=dev) * u(0, NOISE)[:, None, None, None]
    return (x + noise).clamp(0, 1)


@contextlib.contextmanager
def photo_augmentation() -> Iterator[None]:
    """The trainer's augmentation followed by ``photo_like``, for the length of the block."""
    plain = trainer.augment

    def augment(x, cfg, g, *, return_flips=False):
        out, flips = plain(x, cfg, g, return_flips=True)
        out = photo_like(out, g)
        return (out, flips) if return_flips else out

    trainer.augment = augment
    try:
        yield
    finally:
        trainer.augment = plain


def config(model: str, epochs: int) -> TrainConfig:
    """The fine-tune of shipped ``model`` (``FINE_TUNES``): from its weights, one cosine decay, batch 128."""
    shipped = (pretrained_info(model) or {}).get("config") or load_model(model)[1]["config"]
    changes = {"shift": shipped.get("shift", 0.0), "rotate": shipped.get("rotate", 0.0)}
    changes |= {"scale": shipped.get("scale", 0.0)} | FINE_TUNES[model]
    return TrainConfig(
        model=model,
        model_kwargs=shipped.get("model_kwargs", {}),
        epochs=epochs,
        batch_size=128,
        schedule="cosine",
        flip=True,
        init=model,
        bn_recompute=shipped.get("bn_recompute", 4096),
        seed=0,
        progress=False,
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
    """Fine-tune ``model`` into ``out``; ``control`` leaves ``photo_like`` out (the same fine-tune otherwise,
    to tell the augmentation's share from the fine-tune's); ``stop_after`` ends after that many epochs."""
    data = load_fer2013(_env("FER2013_CSV"))
    cfg = config(model, epochs)
    init, teacher = training_models(cfg, data)
    with contextlib.nullcontext() if control else photo_augmentation():
        hist = trainer.train(
            cfg, data, out, resume=resume, force=force, init=init, teacher=teacher, stop_after=stop_after
        )
    best = max(hist, key=lambda h: h["val_acc"])
    print(f"{out}: best PublicTest {best['val_acc']:.4f} at epoch {best['epoch']} of {len(hist)}")


def compare(out: Path, cache: Path | None, json_out: Path | None, force: bool = False) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_photos import ENSEMBLE, Bench, predictions, score

    from fer_report.devset import read_devset

    if json_out is not None:
        output_file(json_out, (".json",), "--json", force=force)  # refused before the work, not after it
    paths, labels = read_devset(Path(_env("FER_DEVSET")))
    b = Bench(paths, labels, _env("FER2013_CSV"), cache)
    tuned, meta = load_model(out)
    base = meta["model"]  # the shipped model it was fine-tuned from, and would replace
    b.add_model("tuned", tuned)
    rows = {}
    for name in (base, "tuned"):
        rows[name] = {s: b.raw("level", name, s) for s in ("dev", "PublicTest")}
    rows["ensemble"] = {s: b.raw("level", ENSEMBLE, s) for s in ("dev", "PublicTest")}
    w = b.weights(ENSEMBLE)  # the library's weights; the tuned model takes its origin's
    rows["ensemble, tuned member"] = {
        s: sum(w[m] * b.raw("level", "tuned" if m == base else m, s) for m in b.models)
        for s in ("dev", "PublicTest")
    }
    result = {}
    against = {"tuned": base, "ensemble, tuned member": "ensemble"}  # the model each one would replace
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
    t.add_argument("--control", action="store_true", help="the same fine-tune without photo_like")
    t.add_argument("--stop-after", type=int, default=None, help="end after this many epochs (resumable)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--force", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("out", type=Path)
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
