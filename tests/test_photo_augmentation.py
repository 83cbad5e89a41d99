"""The trainer's photo-like changes (``TrainConfig.photo``, ``fer_lib.train.photo_like``): drawn from the
trainer's seeded generator after the other augmentation, off by default, and a run with them resumes to the
same weights; the study script (scripts/photo_training_study.py) builds its fine-tunes with them."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from fer_lib import train as trainer
from fer_lib.errors import FerError
from fer_lib.recipe import TrainConfig, recipe_settings

from .conftest import REPO


def _faces(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(3))


def test_photo_like_is_drawn_from_the_generator_and_stays_an_image():
    x = _faces()
    a = trainer.photo_like(x, torch.Generator().manual_seed(0))
    b = trainer.photo_like(x, torch.Generator().manual_seed(0))
    c = trainer.photo_like(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert (a - x).abs().mean() > 0.01  # it changes the faces
    assert torch.equal(x, _faces())  # and not in place


def test_the_blur_smooths_each_face_by_its_own_sigma():
    x = _faces(2)
    out = trainer._blur(x, torch.tensor([0.2, 2.0]))
    rough = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean().item()  # noqa: E731
    assert rough(out[1]) < 0.5 * rough(x[1])  # a wide blur removes most of the pixel-to-pixel change
    assert rough(out[0]) > 0.9 * rough(x[0])  # a narrow one almost none
    assert torch.allclose(out.mean((2, 3)), x.mean((2, 3)), atol=0.02)


def test_the_photo_changes_come_after_the_others_and_only_when_asked():
    plain = TrainConfig(flip=True, shift=0, rotate=0, scale=0)
    photo = TrainConfig(flip=True, shift=0, rotate=0, scale=0, photo=True)
    assert TrainConfig().photo is False  # off by default: every earlier recipe is unchanged
    before, before_flips = trainer.augment(
        _faces(), plain, torch.Generator().manual_seed(0), return_flips=True
    )
    out, flips = trainer.augment(_faces(), photo, torch.Generator().manual_seed(0), return_flips=True)
    assert out.shape == (16, 1, 48, 48) and torch.equal(flips, before_flips)  # the same flips, then more
    assert (out - before).abs().mean() > 0.01
    g = torch.Generator().manual_seed(0)
    again = trainer.photo_like(trainer.augment(_faces(), plain, g), g)
    assert torch.equal(out, again)  # exactly the plain augmentation followed by photo_like, one generator


def test_a_recipe_written_before_the_option_reads_as_without_it():
    old = TrainConfig(model="fer_vgg_s").to_json()
    del old["photo"]
    assert recipe_settings(old)["photo"] is False
    assert recipe_settings(old) == recipe_settings(TrainConfig(model="fer_vgg_s").to_json())


def _study():
    spec = importlib.util.spec_from_file_location(
        "photo_training_study", REPO / "scripts" / "photo_training_study.py"
    )
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    return study


def test_the_study_builds_its_fine_tunes_with_the_option():
    study = _study()
    cfg = study.config("report_cnn", 8)
    control = study.config("report_cnn", 8, photo=False)
    assert cfg.photo and not control.photo
    assert {k: v for k, v in cfg.to_json().items() if k != "photo"} == {
        k: v for k, v in control.to_json().items() if k != "photo"
    }
    assert cfg.init == "report_cnn" and cfg.shift == 3.0 and cfg.epochs == 8
    vgg = study.config("fer_vgg", 8)  # its recipe's optimizer, regularisers and augmentation, a small lr
    assert (vgg.optimizer, vgg.lr, vgg.weight_decay, vgg.label_smoothing) == ("sgd", 3e-4, 5e-4, 0.1)
    assert (vgg.shift, vgg.rotate, vgg.scale, vgg.erase, vgg.init) == (4.0, 10.0, 0.1, 0.25, "fer_vgg")
    assert vgg.bn_recompute == 4096 and vgg.photo and vgg.schedule == "cosine"


def test_each_fine_tune_takes_the_place_of_its_origin_or_of_the_defaults_fine_tune_of_it():
    study = _study()
    models = ["report_cnn", "fer_vgg", "fer_vgg_s", "fer_vgg_s_photo", "simple_cnn"]
    weights = {"fer_vgg": 0.25, "fer_vgg_s_photo": 0.25, "report_cnn": 0.25, "simple_cnn": 0.25}
    got = study.replaced_members(models, weights, {"a": "fer_vgg", "b": "fer_vgg_s", "c": "simple_cnn"})
    assert got == {"a": "fer_vgg", "b": "fer_vgg_s_photo", "c": "simple_cnn"}
    with pytest.raises(FerError, match="two of the runs"):
        study.replaced_members(models, weights, {"a": "fer_vgg", "b": "fer_vgg"})
    with pytest.raises(FerError, match="neither fer_vgg"):
        study.replaced_members(models, {**weights, "fer_vgg": 0.0}, {"a": "fer_vgg"})


@pytest.mark.slow
def test_a_run_with_it_resumes_to_the_uninterrupted_weights(synth, tmp_path):
    cfg = dict(epochs=2, limit=70, batch_size=32, progress=False, shift=3.0, rotate=10.0, scale=0.1)
    whole = trainer.train(TrainConfig(**cfg, photo=True), synth, tmp_path / "whole")
    trainer.train(TrainConfig(**cfg, photo=True), synth, tmp_path / "cut", stop_after=1)
    resumed = trainer.train(TrainConfig(**cfg, photo=True), synth, tmp_path / "cut", resume=True)
    assert [h["val_acc"] for h in whole] == [h["val_acc"] for h in resumed]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = trainer.train(TrainConfig(**cfg), synth, tmp_path / "plain")  # the option did change training
    assert [h["loss"] for h in plain] != [h["loss"] for h in whole]
