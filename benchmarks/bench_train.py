"""Training throughput of report_cnn on this machine: fer_lib's trainer against a typical loop.

Baseline: what a typical user writes: a DataLoader over a TensorDataset (float images), batch
128, eager fp32, default memory format, torch's nn.Dropout, the same batched augmentation. Ours:
fer_lib.train.train
with its defaults (uint8 data resident on the device, bf16 autocast where the CPU has native bf16,
channels_last, fer_lib's faster CPU dropout mask). Both run one epoch over the same images, interleaved, best
of BENCH_ROUNDS.

Usage: python benchmarks/bench_train.py [N_IMAGES]   (default 4096; uses $FER2013_CSV if set)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from fer_lib.data import FerData, load_fer2013
from fer_lib.device import cpu_has_fast_bf16
from fer_lib.models import build_model
from fer_lib.synthetic import synthetic_fer
from fer_lib.train import TrainConfig, augment, train


def baseline_epoch(data: FerData) -> float:
    x = torch.as_tensor(data.images).unsqueeze(1).float() / 255
    y = torch.as_tensor(data.labels)
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
    torch.manual_seed(0)
    model = build_model("report_cnn")
    for block in model.modules():  # a typical user's model uses torch's own Dropout
        for name, child in block.named_children():
            if isinstance(child, torch.nn.Dropout):
                setattr(block, name, torch.nn.Dropout(child.p))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    cfg, g = TrainConfig(), torch.Generator().manual_seed(0)
    model.train()
    t = time.perf_counter()
    for xb, yb in loader:
        loss = F.cross_entropy(model(augment(xb, cfg, g)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return len(data) / (time.perf_counter() - t)


def ours_epoch(data: FerData) -> float:
    with tempfile.TemporaryDirectory() as d:
        hist = train(TrainConfig(epochs=1, progress=False), data, d)
    return len(data.split("Training")) / hist[0]["seconds"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    path = os.environ.get("FER2013_CSV")
    full = load_fer2013(path) if path else synthetic_fer(n, 7, 0)
    tr = full.split("Training")
    idx = np.arange(min(n, len(tr)))
    # a tiny PublicTest keeps validation out of the measured epoch
    val = full.split("PublicTest")
    data = FerData(
        np.concatenate([tr.images[idx], val.images[:7]]),
        np.concatenate([tr.labels[idx], val.labels[:7]]),
        np.array(["Training"] * len(idx) + ["PublicTest"] * 7),
        full.source,
        full.layout,
    )
    base, ours = [], []
    for _ in range(rounds):
        base.append(baseline_epoch(data.split("Training")))
        ours.append(ours_epoch(data))
    b, o = max(base), max(ours)
    print(
        f"images per epoch: {len(idx)}  torch threads: {torch.get_num_threads()}  bf16 math: "
        f"{cpu_has_fast_bf16()}"
    )
    print(f"baseline (DataLoader, fp32, eager):   {b:7.1f} images/s")
    print(f"fer_lib trainer (defaults):           {o:7.1f} images/s")
    print(f"speed-up: {o / b:.2f}x  (best of {rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
