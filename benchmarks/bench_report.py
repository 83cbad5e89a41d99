"""Where the book's re-execution time goes, and what onnxruntime saves, with the shipped models on the CPU.

Part 1 (steps, always): the expensive steps of the introduction and Q4 on ``N`` PrivateTest faces,
each timed the way it ran before (torch's forward passes; Captum's ``Occlusion``) and the way the
chapters run it now (``engine='auto'``: onnxruntime where it is installed), side by side in this
process, with how far the new numbers are from the old:

* evaluation (the introduction's shared measurement, which the results and photos chapters read):
  ``measure`` on each shipped model, plain, flip and ten-crop views;
  the accuracies must be the same to the face;
* occlusion maps (Q4) for report_cnn and simple_cnn;
* every method's maps (Q4) for the same two models: in float32 at 256 inputs a pass (before), at the
  CPU's pass size (``fer_lib.attribution.pass_size``: the same maps), and the way the chapter runs them
  (``bf16=None``: bfloat16 autocast where it pays, see ``fer_lib.attribution.attribute``), with how
  alike the maps rank the pixels (mean Spearman rho per face);
* deletion and insertion curves (Q4) for the same two models.

The per-face times, multiplied by the number of faces and repetitions the chapters use (printed), give
each step's share of a chapter's run time.

Part 2 (``--chapters``): runs every chapter with the shipped models through ``fer_report run`` into a
temporary folder and prints each one's wall time as papermill recorded it (minutes; the introduction,
which measures the four models of the results chapter, and Q4 are the long ones). Needs FER2013
($FER2013_CSV) and, for the photos chapter, the development set ($FER_DEVSET).

Usage: FER2013_CSV=... python benchmarks/bench_report.py [N_FACES] [--chapters]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def row(step: str, name: str, before: float, now: float, note: str) -> None:
    print(f"{step:31s} {name:11s} {before:9.2f} {now:8.2f} {before / now:6.2f}  {note}")


def steps(n: int) -> None:
    from captum.attr import Occlusion

    from fer_lib import attribution as A
    from fer_lib.data import load_fer2013
    from fer_lib.evaluate import measure, to_float_images
    from fer_lib.pretrained import load_model, shipped_names
    from fer_lib.runtime import onnxruntime_available

    if not onnxruntime_available():
        sys.exit("onnxruntime is not installed (pip install 'fer-lib[export]'): nothing to compare.")
    full = load_fer2013()
    keep = np.concatenate([np.flatnonzero(full.splits == s)[:n] for s in ("PublicTest", "PrivateTest")])
    data = full.subset(keep)
    test = data.split("PrivateTest")
    x, t = to_float_images(test.images), torch.as_tensor(test.labels)
    print(f"{n} faces of each test split, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"{'step':31s} {'model':11s} {'before s':>9s} {'now s':>8s} {'ratio':>6s}  difference")
    for name in shipped_names():
        model, _ = load_model(name)
        old, t_old = timed(measure, model, data, engine="torch")
        new, t_new = timed(measure, model, data, engine="auto")
        row(
            "evaluation, 2 splits x 10 views",
            name,
            t_old,
            t_new,
            "same accuracies" if old == new else "DIFFERENT",
        )
    for name in ("report_cnn", "simple_cnn"):
        model, _ = load_model(name)
        model.eval()
        window = {"sliding_window_shapes": (1, 8, 8), "strides": (1, 4, 4), "perturbations_per_eval": 16}
        old, t_old = timed(Occlusion(model).attribute, x, baselines=0.5, target=t, **window)
        new, t_new = timed(A.attribute, model, x, t, "occlusion")
        diff = float((old - new).abs().max() / old.abs().max())
        row("occlusion maps (Captum before)", name, t_old, t_new, f"within {diff:.1e} of the largest value")
        for method in A.METHODS:
            # before: float32, 256 inputs a pass (occlusion: onnxruntime); then float32 at the CPU's pass
            # size (occlusion by torch, 32 a pass), and as the chapter runs them (bf16=None)
            maps = {}
            for label, opts in (
                ("before", dict(bf16=False, batch_size=256)),
                ("fp32", dict(bf16=False, engine="torch" if method == "occlusion" else "auto")),
                ("chapter", dict(bf16=None)),
            ):
                with torch.random.fork_rng(devices=[]):  # smoothgrad: the same noise for each
                    torch.manual_seed(0)
                    maps[label] = timed(A.attribute, model, x, t, method, **opts)
            (old, t_old), (same, t_same), (new, t_new) = maps["before"], maps["fp32"], maps["chapter"]
            diff = float((old - same).abs().max() / old.abs().max())
            rho = float(A.spearman(old.abs().flatten(1), new.abs().flatten(1)).mean())
            row(
                f"{method} maps, fp32 256 a pass",
                name,
                t_old,
                t_same,
                f"{A.pass_size('cpu')} a pass: within {diff:.0e}",
            )
            row("  as the chapter runs them", name, t_old, t_new, f"rank correlation with fp32 {rho:.3f}")
        maps = A.attribute(model, x, t, "saliency")
        old, t_old = timed(A.deletion_insertion, model, x, t, maps, bf16=False, engine="torch")
        new, t_new = timed(A.deletion_insertion, model, x, t, maps, bf16=False, engine="auto")
        auc = max(abs(float(np.mean(old[k]) - np.mean(new[k]))) for k in ("deletion_auc", "insertion_auc"))
        row("deletion + insertion curves", name, t_old, t_new, f"mean AUCs within {auc:.1e}")
        fast, t_fast = timed(A.deletion_insertion, model, x, t, maps)  # as the chapter runs them
        auc = max(abs(float(np.mean(old[k]) - np.mean(fast[k]))) for k in ("deletion_auc", "insertion_auc"))
        row("  the same, bf16 where it pays", name, t_old, t_fast, f"mean AUCs within {auc:.1e}")
    print(
        "\nQ4 runs occlusion on 500 + 14 faces and on 48 faces per randomised layer (13 report_cnn, "
        "9 simple_cnn),\nand the curves for 9 pixel orders (random + 8 methods) of 500 faces; the "
        "introduction evaluates\n4 models on 3,589 faces of each split for every chapter after it."
    )


def chapters() -> None:
    import json
    import subprocess

    out = Path(tempfile.mkdtemp(prefix="bench_report_"))
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fer_report",
            "run",
            "--device",
            "cpu",
            "-p",
            "use_pretrained=true",
            "--out",
            str(out),
        ],
        check=True,
    )
    print(f"\nwhole book: {(time.perf_counter() - start) / 60:.1f} min")
    for nb in sorted(out.glob("*.ipynb")):
        meta = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {})
        print(f"{nb.stem:18s} {meta.get('duration', float('nan')) / 60:6.1f} min")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    steps(int(args[0]) if args else 200)
    if "--chapters" in sys.argv:
        chapters()
