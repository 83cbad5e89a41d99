"""Evaluation with TTA (what the results chapter and the pretrained test spend their time on).

Baseline: the plain loop a user writes, model as loaded (NCHW, fp32), batch 1,024, the same
TTA views and softmax averaging. Ours: fer_lib.evaluate.predict_logits (channels_last, fp32).
Both run in this process, one after the other, on the same faces; the script prints the speed
ratio and how many predictions differ (expected: none).
Second part, what a card costs (``fer_lib.pretrained.measure``): baseline, predict_logits once per
TTA mode (none, flip, tencrop: 13 forwards a face) at batch 1,024; ours, predict_logits_tta with
the modes sharing their views (10 forwards a face) at measure's CPU batch of 64.
Faces: PrivateTest from $FER2013_CSV if set, else generated faces. Models: the shipped ones
where present, else freshly initialised (the cost does not depend on the weights).

Usage: python benchmarks/bench_evaluate.py [N_FACES] [TTA]   (defaults: 1024 tencrop)
"""

from __future__ import annotations

import os
import sys
import time

import torch

from fer_lib.data import load_fer2013
from fer_lib.evaluate import TTA_MODES, predict_logits, predict_logits_tta, to_float_images, tta_views
from fer_lib.models import build_model
from fer_lib.pretrained import load_model, pretrained_info
from fer_lib.synthetic import synthetic_fer


@torch.no_grad()
def baseline(model: torch.nn.Module, images, tta: str) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(images), 1024):
        views = tta_views(to_float_images(images[i : i + 1024]), tta)
        out.append(torch.stack([model(v).softmax(1) for v in views]).mean(0))
    return torch.cat(out)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    tta = sys.argv[2] if len(sys.argv) > 2 else "tencrop"
    path = os.environ.get("FER2013_CSV")
    faces = load_fer2013(path).split("PrivateTest") if path else synthetic_fer(0, 0, n)
    images = faces.images[:n]
    print(f"faces: {len(images)}  tta: {tta}  torch threads: {torch.get_num_threads()}")
    names = ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg")
    for name in names:
        make = (
            (lambda name=name: load_model(name)[0])
            if pretrained_info(name)
            else (lambda name=name: build_model(name))
        )
        t0 = time.perf_counter()
        ref = baseline(make(), images, tta)
        tb = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = predict_logits(make(), images, tta=tta)
        to = time.perf_counter() - t0
        differ = int((ref.argmax(1) != ours.argmax(1)).sum())
        print(
            f"{name:<11} baseline {tb:6.1f} s   fer_lib {to:6.1f} s   ({tb / to:.2f}x)   predictions that "
            f"differ: {differ}"
        )
    print("all three TTA modes, as measure() computes a card:")
    for name in names:
        make = (
            (lambda name=name: load_model(name)[0])
            if pretrained_info(name)
            else (lambda name=name: build_model(name))
        )
        model = make()
        t0 = time.perf_counter()
        ref = {m: predict_logits(model, images, tta=m) for m in TTA_MODES}
        tb = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = predict_logits_tta(model, images, TTA_MODES, batch_size=64)
        to = time.perf_counter() - t0
        differ = sum(int((ref[m].argmax(1) != ours[m].argmax(1)).sum()) for m in TTA_MODES)
        print(
            f"{name:<11} separate passes {tb:6.1f} s   shared views {to:6.1f} s   ({tb / to:.2f}x)   "
            f"predictions that differ (3 modes): {differ}"
        )


if __name__ == "__main__":
    main()
