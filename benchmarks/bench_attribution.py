"""Attribution speed: Saliency, Integrated Gradients (32 steps) and Grad-CAM for 1,000 faces.

Baseline: the same Captum calls on the model as loaded (NCHW, fp32), batch 256, one method at
a time: what a user gets from Captum's examples. Ours: fer_lib.attribution.attribute, which
switches the model to channels_last (fp32, same maps) and optionally bf16 (BENCH_BF16=1).
Faces: PrivateTest from $FER2013_CSV if set, else generated faces. The model is report_cnn,
pretrained if shipped, else freshly initialised (the cost does not depend on the weights).

Second part: deletion/insertion curves (question 4's slowest cell) for report_cnn and
simple_cnn. Baseline: the plain loop (fp32, NCHW, no_grad, batch 1024); ours:
deletion_insertion with its default bf16=None (bf16 autocast only where it pays: CUDA, or a CPU
with AMX or AVX512-BF16; float32 channels_last elsewhere), and bf16 forced on (BENCH_BF16=1), so
that a CPU without native bf16 shows what the forced setting costs. It prints the speed ratios
and how far the curves and AUCs are from the baseline's.

Third part: activation maximisation (question 5) of 64 simple_cnn filters, 32 steps, with the
model in NCHW (baseline) and channels_last (ours, the default), and the largest pixel difference.

Usage: python benchmarks/bench_attribution.py [N_FACES] [N_FACES_CURVES]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch
from captum import attr as ca

from fer_lib.attribution import (
    _activation_after,
    activation_maximisation,
    attribute,
    deletion_insertion,
    gaussian_blur,
    last_conv,
    make_baseline,
)
from fer_lib.data import load_fer2013
from fer_lib.device import bf16_pays
from fer_lib.evaluate import to_float_images
from fer_lib.models import build_model
from fer_lib.pretrained import load_model, pretrained_info
from fer_lib.synthetic import synthetic_fer


def baseline(model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
    model.eval()
    times = {}
    for name in ("saliency", "integrated_gradients", "gradcam"):
        t0 = time.perf_counter()
        for i in range(0, len(x), 256):
            xb, tb = x[i : i + 256].clone().requires_grad_(True), t[i : i + 256]
            if name == "saliency":
                ca.Saliency(model).attribute(xb, target=tb, abs=True)
            elif name == "integrated_gradients":
                ca.IntegratedGradients(model).attribute(
                    xb,
                    baselines=make_baseline(xb.detach(), "blur"),
                    target=tb,
                    n_steps=32,
                    internal_batch_size=256,
                )
            else:
                cam = ca.LayerGradCam(model, _activation_after(model, last_conv(model))).attribute(
                    xb, target=tb, relu_attributions=True
                )
                ca.LayerAttribution.interpolate(cam, (48, 48), interpolate_mode="bilinear")
        times[name] = time.perf_counter() - t0
    return times


def ours(model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, bf16: bool) -> dict[str, float]:
    times = {}
    for name in ("saliency", "integrated_gradients", "gradcam"):
        t0 = time.perf_counter()
        attribute(model, x, t, name, ig_steps=32, bf16=bf16)
        times[name] = time.perf_counter() - t0
    return times


def baseline_curves(
    model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, maps: torch.Tensor, steps: int = 24
) -> dict:
    """Deletion/insertion the plain way: fp32, NCHW, one no_grad forward per 1,024 faces and step."""
    model.eval()
    n, d = len(x), x[0].numel()
    rank = maps.abs().flatten(1).argsort(1, descending=True).argsort(1)
    blurred = gaussian_blur(x, 3.0)
    curves = {"deletion": [], "insertion": []}
    with torch.no_grad():
        for f in torch.linspace(0, 1, steps + 1):
            mask = (rank < int(round(float(f) * d))).view_as(x)
            for key, inp in (
                ("deletion", torch.where(mask, blurred, x)),
                ("insertion", torch.where(mask, x, blurred)),
            ):
                p = torch.cat([model(inp[i : i + 1024]).softmax(1) for i in range(0, n, 1024)])
                curves[key].append(p.gather(1, t[:, None]).squeeze(1))
    fr = torch.linspace(0, 1, steps + 1).numpy()
    out = {k: torch.stack(v, 1).numpy() for k, v in curves.items()}
    out.update({f"{k}_auc": np.trapezoid(out[k], fr, axis=1) for k in ("deletion", "insertion")})
    return out


def curves_part(x: torch.Tensor, t: torch.Tensor) -> None:
    for name in ("report_cnn", "simple_cnn"):
        make = (
            (lambda name=name: load_model(name)[0])
            if pretrained_info(name)
            else (lambda name=name: build_model(name))
        )
        maps = attribute(make(), x, t, "saliency")
        t0 = time.perf_counter()
        b = baseline_curves(make(), x, t, maps)
        tb = time.perf_counter() - t0
        settings = [("auto (" + ("bf16" if bf16_pays(x.device) else "fp32") + ")", None)]
        if os.environ.get("BENCH_BF16") == "1":
            settings.append(("bf16 forced", True))
        for label, bf16 in settings:
            t0 = time.perf_counter()
            o = deletion_insertion(make(), x, t, maps, bf16=bf16)
            to = time.perf_counter() - t0
            diff = max(float(np.abs(o[k] - b[k]).max()) for k in ("deletion", "insertion"))
            dauc = max(
                abs(float(o[f"{k}_auc"].mean() - b[f"{k}_auc"].mean())) for k in ("deletion", "insertion")
            )
            print(
                f"deletion/insertion {name:<11} baseline {tb:6.1f} s   fer_lib {label} {to:6.1f} s   "
                f"({tb / to:.2f}x)   "
                f"max |p diff| {diff:.4f}, mean AUC diff {dauc:.4f}"
            )


def filters_part() -> None:
    make = (
        (lambda: load_model("simple_cnn")[0])
        if pretrained_info("simple_cnn")
        else (lambda: build_model("simple_cnn"))
    )
    times, imgs = {}, {}
    for cl in (False, True):
        t0 = time.perf_counter()
        imgs[cl] = activation_maximisation(make(), list(range(64)), steps=32, channels_last=cl)
        times[cl] = time.perf_counter() - t0
    print(
        f"activation maximisation (simple_cnn, 64 filters, 32 steps): NCHW {times[False]:6.1f} s   "
        f"channels_last {times[True]:6.1f} s   ({times[False] / times[True]:.2f}x)   "
        f"max pixel diff {float(np.abs(imgs[True] - imgs[False]).max()):.4f}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    path = os.environ.get("FER2013_CSV")
    faces = load_fer2013(path).split("PrivateTest") if path else synthetic_fer(0, 0, n)
    x = to_float_images(faces.images[:n])
    t = torch.as_tensor(faces.labels[:n])
    make = (
        (lambda: load_model("report_cnn")[0])
        if pretrained_info("report_cnn")
        else (lambda: build_model("report_cnn"))
    )
    bf16 = os.environ.get("BENCH_BF16") == "1"
    b = baseline(make(), x, t)
    o = ours(make(), x, t, bf16)
    print(f"faces: {len(x)}  torch threads: {torch.get_num_threads()}  bf16: {bf16}")
    for k in b:
        print(f"{k:<22} baseline {b[k]:6.1f} s   fer_lib {o[k]:6.1f} s   ({b[k] / o[k]:.2f}x)")
    print(
        f"{'all three':<22} baseline {sum(b.values()):6.1f} s   fer_lib {sum(o.values()):6.1f} s   "
        f"({sum(b.values()) / sum(o.values()):.2f}x)"
    )
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(f"faces for the curves: {min(m, len(x))}")
    curves_part(x[:m], t[:m])
    filters_part()


if __name__ == "__main__":
    main()
