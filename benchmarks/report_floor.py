"""The least time this CPU needs for the book's two heavy chapters, from the arithmetic they must do.

Counts the forward passes that Q4 (saliency) and the results chapter cannot avoid with their statistics
as they are (faces, methods, layers, steps and views read from the chapters' parameters and the library's
defaults), turns them into multiply-adds with each model's own count, and divides by what this machine
computes:

- ``forward``: each model's fastest measured forward pass a face (torch or onnxruntime, batches of 512);
- ``best rate``: every pass at the highest rate in multiply-adds a second measured here, by any model or by
  a large float32 matrix product (torch, all threads).

Every count is a lower bound: a backward pass is counted as one forward pass (the gradient of the input
alone; autograd also computes the weights'), Grad-CAM's as none, occlusion's patches and the deletion and
insertion curves' end points shared wherever the pixels are the same. Nothing is timed but the two
throughputs. What the chapters also do (drawing, the confusion matrices, Q5's responses, the photos) is
left out, so the whole book needs more than the sum printed.

Usage: python benchmarks/report_floor.py [--threads N]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from fer_lib import attribution as A
from fer_lib.pretrained import load_model, shipped_names
from fer_lib.runtime import inference_forward

ROOT = Path(__file__).resolve().parents[1]
TEST_FACES = {"PublicTest": 3589, "PrivateTest": 3589}
TTA_VIEWS = 10  # measure's plain, flip and ten-crop share ten views a face (fer_lib.evaluate.measure)


def notebook_parameters(chapter: str) -> dict:
    """The values of a chapter's ``parameters`` cell, as papermill would inject them by default."""
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    out = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def macs(model: nn.Module) -> int:
    """Multiply-adds of one forward pass of one 48x48 face (convolutions and linear layers)."""
    total = [0]

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 48, 48))
    for h in hooks:
        h.remove()
    return total[0]


def passes_per_face(ig_steps: int, smooth_samples: int) -> dict[str, int]:
    """Forward-pass equivalents of one face's map, per method (a backward pass counted as one forward)."""
    defaults = inspect.signature(A.attribute).parameters
    window, stride = defaults["occlusion_window"].default, defaults["occlusion_stride"].default
    spots = (math.ceil((48 - window) / stride) + 1) ** 2
    return {
        "saliency": 2,
        "input_x_gradient": 2,
        "integrated_gradients": 2 * ig_steps,
        "smoothgrad": 2 * smooth_samples,
        "guided_backprop": 2,
        "gradcam": 1,
        "guided_gradcam": 3,
        "occlusion": spots + 1,
    }


def q4_passes(model: nn.Module, p: dict) -> dict[str, int]:
    """Q4's forward passes for one model, by step."""
    per = passes_per_face(p["ig_steps"], p["smooth_samples"])
    methods = list(per) if p["methods"] == "all" else [m.strip() for m in p["methods"].split(",")]
    one_face = sum(per[m] for m in methods)
    layers = len(A.parameter_layers(model))
    steps = inspect.signature(A.deletion_insertion).parameters["steps"].default
    orders = len(methods) + 1  # each method's pixel order and a random one
    # per order, deletion and insertion each take steps + 1 points; the original face and the blurred one are
    # the same in every order
    curve_points = orders * (2 * (steps + 1) - 4) + 2
    return {
        "maps for the figures": p["per_class"] * 7 * one_face,
        "randomisation test": p["random_faces"] * (1 + layers) * one_face,
        "maps for the curves": p["eval_faces"] * one_face,
        "deletion and insertion curves": p["eval_faces"] * curve_points,
    }


def gemm_flops(seconds: float = 3.0) -> float:
    """float32 multiply-add throughput (FLOP/s, 2 a multiply-add) of a 2048x2048 matrix product."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return n * 2 * 2048**3 / (time.perf_counter() - t0)


def forward_seconds(model: nn.Module, batch: int = 512, repeats: int = 4) -> float:
    """The fastest engine's seconds a face for a forward pass in batches of ``batch``."""
    x = torch.rand(batch, 1, 48, 48)
    best = math.inf
    for engine in ("torch", "onnxruntime"):
        try:
            fwd = inference_forward(model, "cpu", engine)
        except Exception:  # no onnxruntime here: torch alone
            continue
        with torch.inference_mode():
            fwd(x)
            t0 = time.perf_counter()
            for _ in range(repeats):
                fwd(x)
        best = min(best, (time.perf_counter() - t0) / repeats / batch)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gemm = gemm_flops()
    print(f"{a.threads} threads; float32 matrix product: {gemm / 1e9:.0f} GFLOP/s")
    q4 = notebook_parameters("q4_saliency")
    names = [n for n in ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg") if n in shipped_names()]
    rows, rates = [], [gemm]
    for name in names:
        model = load_model(name)[0]
        m, sec = macs(model), forward_seconds(model)
        rates.append(2 * m / sec)
        print(
            f"{name}: {m / 1e6:.1f} M multiply-adds a face; fastest forward {sec * 1e3:.3f} ms a face "
            f"({rates[-1] / 1e9:.0f} GFLOP/s)"
        )
        steps = {"results: both test splits, ten views": sum(TEST_FACES.values()) * TTA_VIEWS}
        if name in ("report_cnn", "simple_cnn"):
            steps |= {f"Q4: {k}": v for k, v in q4_passes(model, q4).items()}
        rows += [(name, step, passes, m, sec) for step, passes in steps.items()]
    best = max(rates)
    print(f"\n{'model':11s} {'step':42s} {'passes':>10s} {'s at forward':>13s} {'s at best rate':>15s}")
    for name, step, passes, m, sec in rows:
        print(f"{name:11s} {step:42s} {passes:10,d} {passes * sec:13.0f} {passes * 2 * m / best:15.0f}")
    at_fwd = sum(p * sec for _, _, p, _, sec in rows)
    at_best = sum(p * 2 * m / best for _, _, p, m, _ in rows)
    print(
        f"\nQ4 and results together, at the least: {at_fwd / 60:.1f} min at each model's forward speed, "
        f"{at_best / 60:.1f} min with every pass at the best rate measured here ({best / 1e9:.0f} GFLOP/s); "
        "the target for the whole book is 20 min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
