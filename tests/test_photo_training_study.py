"""The photo-aimed training study (scripts/photo_training_study.py): its augmentation is seeded by the
trainer's generator, wraps the trainer's only for the length of a run, and a run with it resumes to the same
weights."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from fer_lib import train as trainer
from fer_lib.recipe import TrainConfig

from .conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "photo_training_study", REPO / "scripts" / "photo_training_study.py"
)
study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study)


def _faces(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(3))


def test_photo_like_is_drawn_from_the_generator_and_stays_an_image():
    x = _faces()
    a = study.photo_like(x, torch.Generator().manual_seed(0))
    b = study.photo_like(x, torch.Generator().manual_seed(0))
    c = study.photo_like(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert (a - x).abs().mean() > 0.01  # it changes the faces
    assert torch.equal(x, _faces())  # and not in place


def test_the_blur_smooths_each_face_by_its_own_sigma():
    x = _faces(2)
    out = study._gaussian(x, torch.tensor([0.2, 2.0]))
    rough = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean().item()  # noqa: E731
    assert rough(out[1]) < 0.5 * rough(x[1])  # a wide blur removes most of the pixel-to-pixel change
    assert rough(out[0]) > 0.9 * rough(x[0])  # a narrow one almost none
    assert torch.allclose(out.mean((2, 3)), x.mean((2, 3)), atol=0.02)


def test_the_trainers_augmentation_is_wrapped_only_inside_the_block():
    plain = trainer.augment
    cfg = TrainConfig(flip=True, shift=0, rotate=0, scale=0)
    before, before_flips = plain(_faces(), cfg, torch.Generator().manual_seed(0), return_flips=True)
    with study.photo_augmentation():
        assert trainer.augment is not plain
        out, flips = trainer.augment(_faces(), cfg, torch.Generator().manual_seed(0), return_flips=True)
    assert out.shape == (16, 1, 48, 48) and torch.equal(flips, before_flips)  # the same flips, then more
    assert (out - before).abs().mean() > 0.01
    assert trainer.augment is plain
    with pytest.raises(RuntimeError), study.photo_augmentation():
        raise RuntimeError("a run that fails")
    assert trainer.augment is plain


@pytest.mark.slow
def test_a_run_with_it_resumes_to_the_uninterrupted_weights(synth, tmp_path):
    cfg = dict(epochs=2, limit=70, batch_size=32, progress=False, shift=3.0, rotate=10.0, scale=0.1)
    with study.photo_augmentation():
        whole = trainer.train(TrainConfig(**cfg), synth, tmp_path / "whole")
        trainer.train(TrainConfig(**cfg), synth, tmp_path / "cut", stop_after=1)
        resumed = trainer.train(TrainConfig(**cfg), synth, tmp_path / "cut", resume=True)
    assert [h["val_acc"] for h in whole] == [h["val_acc"] for h in resumed]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = trainer.train(TrainConfig(**cfg), synth, tmp_path / "plain")  # the wrapper did change training
    assert [h["loss"] for h in plain] != [h["loss"] for h in whole]
