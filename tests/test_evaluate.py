"""Test-time augmentation: the views, and several modes measured in one pass over them."""
import numpy as np
import pytest
import torch

from fer_lib.errors import ConfigError
from fer_lib.evaluate import TTA_MODES, predict_logits, predict_logits_tta, to_float_images, tta_views
from fer_lib.models import build_model
from fer_lib.pretrained import measure
from fer_lib.synthetic import synthetic_fer


def test_tencrop_views_start_with_the_face_and_its_mirror():
    x = to_float_images(synthetic_fer(0, 0, 3).images)
    views = tta_views(x, "tencrop")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    assert torch.equal(views[0], x) and torch.equal(views[5], x.flip(3))  # what the smaller modes reuse
    assert len({v.numpy().tobytes() for v in views}) == 10  # four shifted crops and five mirrors, all distinct


@pytest.mark.parametrize("ttas", [TTA_MODES, ("none", "tencrop"), ("flip", "none"), ("flip",), ("tencrop",)])
def test_modes_measured_together_give_each_modes_own_logits(ttas):
    faces = synthetic_fer(0, 0, 70).images
    torch.manual_seed(0)
    model = build_model("report_cnn").eval()
    together = predict_logits_tta(model, faces, ttas, batch_size=32)
    assert list(together) == list(ttas)
    for tta in ttas:  # bit for bit: the shared views are the same tensors as each mode's own
        assert torch.equal(together[tta], predict_logits(model, faces, tta=tta, batch_size=32)), tta
    assert together[ttas[0]].shape == (70, 7)


def test_measure_counts_ten_forward_passes_a_face_for_all_three_modes():
    synth = synthetic_fer(0, 0, 50)
    torch.manual_seed(0)
    model = build_model("report_cnn")
    seen = []
    hook = model.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    acc = measure(model, synth, splits=("PrivateTest",))["PrivateTest"]
    hook.remove()
    assert sum(seen) == 10 * 50
    assert set(acc) == {"n", "accuracy", "accuracy_flip", "accuracy_tencrop"}
    for tta in TTA_MODES:
        pred = predict_logits(model, synth.split("PrivateTest").images, tta=tta).argmax(1).numpy()
        key = "accuracy" if tta == "none" else f"accuracy_{tta}"
        assert acc[key] == float((pred == synth.split("PrivateTest").labels).mean())


def test_unknown_tta_mode_is_a_config_error():
    model = build_model("report_cnn")
    with pytest.raises(ConfigError, match="unknown TTA mode 'sideways'"):
        predict_logits_tta(model, synthetic_fer(0, 0, 4).images, ("none", "sideways"))


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    from fer_lib.evaluate import balanced_accuracy

    cm = np.zeros((7, 7), int)
    cm[0, 0], cm[0, 3] = 3, 1  # angry: recall 3/4
    cm[3, 3] = 10  # happy: 10/10
    cm[4, 4], cm[4, 6] = 1, 4  # sad: 1/5; the other classes have no faces and do not count
    assert balanced_accuracy(cm) == pytest.approx((0.75 + 1.0 + 0.2) / 3)
    assert balanced_accuracy(np.zeros((7, 7), int)) == 0.0
