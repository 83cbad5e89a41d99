"""CPU inference: the exported ONNX model under onnxruntime against the same model in torch.

Both run in this process, one after the other, on the same faces and the same number of threads:
throughput (faces a second at batch 256, plain logits, no TTA) and single-face latency (the median
of 200 calls with one face, what a webcam loop pays a frame per face). The script prints the
ratios and how many top classes differ. Baseline: torch, the model as ``pretrained`` loads it
(NCHW, fp32, eval mode, ``torch.no_grad``). Faces: PrivateTest from $FER2013_CSV if set, else
generated faces.

Usage: python benchmarks/bench_onnx.py [N_FACES]   (default 2048; needs the export extra)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fer_lib.data import load_fer2013
from fer_lib.evaluate import to_float_images
from fer_lib.export import OnnxModel, export_onnx
from fer_lib.pretrained import load_model
from fer_lib.synthetic import synthetic_fer


def throughput(run, x: np.ndarray, batch: int = 256) -> tuple[float, np.ndarray]:
    run(x[:batch])  # warm up
    t0 = time.perf_counter()
    out = np.concatenate([run(x[i : i + batch]) for i in range(0, len(x), batch)])
    return len(x) / (time.perf_counter() - t0), out


def latency(run, x: np.ndarray, calls: int = 200) -> float:
    for i in range(10):
        run(x[i : i + 1])
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        run(x[i % len(x) : i % len(x) + 1])
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    path = os.environ.get("FER2013_CSV")
    faces = (load_fer2013(path).split("PrivateTest") if path else synthetic_fer(0, 0, n)).images[:n]
    x = to_float_images(faces).numpy()
    threads = torch.get_num_threads()
    print(f"faces: {len(x)}  threads: {threads} (torch and onnxruntime)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg"):
            model = load_model(name)[0]
            onnx_model = OnnxModel(export_onnx(model, Path(tmp) / f"{name}.onnx", name=name), threads=threads)

            @torch.no_grad()
            def torch_run(b: np.ndarray, model=model) -> np.ndarray:
                return model(torch.from_numpy(b)).numpy()

            def onnx_run(b: np.ndarray, onnx_model=onnx_model) -> np.ndarray:
                return onnx_model.logits(b)

            fps_t, out_t = throughput(torch_run, x)
            fps_o, out_o = throughput(onnx_run, x)
            lat_t, lat_o = latency(torch_run, x), latency(onnx_run, x)
            differ = int((out_t.argmax(1) != out_o.argmax(1)).sum())
            print(
                f"{name:<11} faces/s torch {fps_t:8.0f}  onnxruntime {fps_o:8.0f} ({fps_o / fps_t:.2f}x)   "
                f"one face torch {lat_t:6.2f} ms  onnxruntime {lat_o:6.2f} ms ({lat_t / lat_o:.2f}x)   top "
                f"classes that differ: {differ}"
            )


if __name__ == "__main__":
    main()
