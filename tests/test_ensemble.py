"""The default model for photos: the shipped models' ensemble (fer_lib.pretrained.Ensemble)."""

from __future__ import annotations

import numpy as np
import torch

from fer_lib.evaluate import predict_logits
from fer_lib.pretrained import ENSEMBLE_WEIGHTS, Ensemble, load_model


def test_the_ensembles_softmax_is_its_members_weighted_mean():
    torch.manual_seed(0)
    members = {n: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 7)) for n in "abc"}
    net = Ensemble(members, {"a": 2.0, "b": 1.0, "c": 1.0})
    x = torch.rand(5, 1, 48, 48)
    mean = 0.5 * members["a"](x).softmax(1) + 0.25 * (members["b"](x).softmax(1) + members["c"](x).softmax(1))
    assert torch.allclose(net(x).softmax(1), mean, atol=1e-6)


def test_the_shipped_ensemble_loads_by_name_and_averages_the_shipped_models():
    net, meta = load_model("ensemble")
    assert meta["name"] == "ensemble"
    assert set(meta["weights"]) == {n for n, w in ENSEMBLE_WEIGHTS.items() if w}
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    got = predict_logits(net, faces).softmax(1)
    want = sum(w * predict_logits(load_model(n)[0], faces).softmax(1) for n, w in meta["weights"].items())
    assert torch.allclose(got, want, atol=1e-4)
