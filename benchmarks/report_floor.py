"""The least time this CPU needs for the book's two heavy chapters, from the arithmetic they must do.

Counts the forward passes that Q4 (saliency) and the test splits' measurement (intro and results share
it) cannot avoid with their statistics as they are: faces, methods, steps and models read from the
chapters' parameters cells (``book/*.ipynb``), layers and views from the library. The counts are turned
into multiply-adds with each model's own count and divided by what this machine computes:

- ``forward``: each model's fastest measured forward pass a face (torch or onnxruntime, batches of 512);
- ``best rate``: every pass at the highest rate in multiply-adds a second measured here, by any model or by
  a large float32 matrix product (torch, all threads).

The counts are meant as lower bounds: a backward pass to the input is counted as one forward pass (its
multiply-adds are about the forward's), Grad-CAM's (to the last convolution) as none; one forward pass of
the unchanged face serves every method of a face, and saliency and input x gradient share one gradient
(guided Grad-CAM reuses Grad-CAM and guided backpropagation); the randomisation test's trained-model maps
are the curves' maps of the same faces; the curves' end points (the face, the blurred face) are counted
once a face. Only the two throughputs are timed. What the chapters also do (drawing, the confusion
matrices, Q5's responses, the photos) is left out, so the whole book needs more than the sum printed.

Usage: [FER2013_CSV=...] python benchmarks/report_floor.py [--threads N]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from fer_lib import attribution as A
from fer_lib.evaluate import tta_views
from fer_lib.pretrained import load_model, shipped_names
from fer_lib.runtime import inference_forward
from fer_report.q4_saliency import MODELS as Q4_MODELS
from fer_report.q4_saliency import method_names

ROOT = Path(__file__).resolve().parents[1]
FER2013_TEST_FACES = 3589 + 3589  # PublicTest and PrivateTest as FER2013 publishes them


def test_faces() -> int:
    """The test splits' faces: counted in $FER2013_CSV where it is set, else FER2013's published sizes."""
    csv = os.environ.get("FER2013_CSV")
    if not csv:
        return FER2013_TEST_FACES
    from fer_lib.data import load_fer2013

    data = load_fer2013(csv)
    return sum(len(data.split(s)) for s in ("PublicTest", "PrivateTest"))


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


def passes_per_face(methods: list[str], ig_steps: int, smooth_samples: int) -> int:
    """Forward-pass equivalents of one face's maps by ``methods``, shared work counted once (see above)."""
    defaults = inspect.signature(A.attribute).parameters
    window, stride = defaults["occlusion_window"].default, defaults["occlusion_stride"].default
    own = {  # beyond the one forward pass of the unchanged face that every method starts from
        "saliency": 1,  # the input's gradient, which input x gradient multiplies by the input
        "input_x_gradient": 0 if "saliency" in methods else 1,
        "integrated_gradients": 2 * ig_steps,
        "smoothgrad": 2 * smooth_samples,
        "guided_backprop": 1,
        "gradcam": 0,
        "guided_gradcam": 0 if "guided_backprop" in methods else 1,
        "occlusion": (math.ceil((48 - window) / stride) + 1) ** 2,
    }
    unknown = set(methods) - set(own)
    if unknown:
        raise SystemExit(f"report_floor.py does not know the cost of {', '.join(sorted(unknown))}")
    return 1 + sum(own[m] for m in methods)


def q4_passes(model: nn.Module, p: dict) -> dict[str, int]:
    """Q4's forward passes for one model, by step."""
    methods = method_names(p["methods"])
    one_face = passes_per_face(methods, p["ig_steps"], p["smooth_samples"])
    layers = len(A.parameter_layers(model))
    steps = inspect.signature(A.deletion_insertion).parameters["steps"].default
    orders = len(methods) + 1  # each method's pixel order and a random one
    # per order, deletion and insertion each take steps + 1 points; the face and the blurred face are the
    # same in every order
    curve_points = orders * (2 * (steps + 1) - 4) + 2
    shared = min(p["random_faces"], p["eval_faces"])  # both take the first PrivateTest faces
    return {
        "maps for the figures": p["per_class"] * 7 * one_face,
        "randomisation test": (p["random_faces"] * (1 + layers) - shared) * one_face,
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
    q4, results = notebook_parameters("q4_saliency"), notebook_parameters("results")
    views = len(tta_views(torch.zeros(1, 1, 48, 48), "tencrop"))  # measure's three modes share these
    names = [n for n in results["models"] if n in shipped_names()]
    faces = test_faces()
    rows, rates = [], [gemm]
    for name in names:
        model = load_model(name)[0]
        m, sec = macs(model), forward_seconds(model)
        rates.append(2 * m / sec)
        print(
            f"{name}: {m / 1e6:.1f} M multiply-adds a face; fastest forward {sec * 1e3:.3f} ms a face "
            f"({rates[-1] / 1e9:.0f} GFLOP/s)"
        )
        steps = {"test splits (intro, results): ten views": faces * views}
        if name in Q4_MODELS:
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
