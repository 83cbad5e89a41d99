"""Test-time augmentation: the views, and several modes measured in one pass over them."""

import numpy as np
import pytest
import torch

from fer_lib.errors import ConfigError
from fer_lib.evaluate import (
    TTA_MODES,
    measure,
    predict_logits,
    predict_logits_tta,
    to_float_images,
    tta_views,
)
from fer_lib.models import build_model
from fer_lib.synthetic import synthetic_fer


def test_tencrop_views_start_with_the_face_and_its_mirror():
    x = to_float_images(synthetic_fer(0, 0, 3).images)
    views = tta_views(x, "tencrop")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    assert torch.equal(views[0], x) and torch.equal(views[5], x.flip(3))  # what the smaller modes reuse
    assert (
        len({v.numpy().tobytes() for v in views}) == 10
    )  # four shifted crops and five mirrors, all distinct


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
    acc = measure(model, synth, splits=("PrivateTest",), engine="torch")["PrivateTest"]
    hook.remove()
    assert sum(seen) == 10 * 50
    # onnxruntime (the default where it is installed) gives the same accuracies
    assert measure(model, synth, splits=("PrivateTest",))["PrivateTest"] == acc
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


def test_confusion_matrix_and_per_class_metrics_on_a_hand_made_case():
    from fer_lib.evaluate import confusion_matrix, most_confused, per_class_metrics

    # angry x4: 2 right, 2 called sad; happy x3: all right; sad x3: 1 right, 1 angry, 1 happy
    labels = np.array([0, 0, 0, 0, 3, 3, 3, 4, 4, 4])
    preds = np.array([0, 0, 4, 4, 3, 3, 3, 4, 0, 3])
    cm = confusion_matrix(labels, preds)
    assert cm.shape == (7, 7) and cm.sum() == 10
    assert (
        cm[0, 0] == 2
        and cm[0, 4] == 2
        and cm[3, 3] == 3
        and cm[4, 4] == 1
        and cm[4, 0] == 1
        and cm[4, 3] == 1
    )
    m = per_class_metrics(cm)
    assert m["angry"] == pytest.approx(
        {"precision": 2 / 3, "recall": 0.5, "f1": 2 * (2 / 3 * 0.5) / (2 / 3 + 0.5), "support": 4}
    )
    assert m["happy"] == pytest.approx(
        {"precision": 0.75, "recall": 1.0, "f1": 2 * 0.75 / 1.75, "support": 3}
    )
    assert m["sad"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 3, "f1": 1 / 3, "support": 3})
    assert m["fear"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    top = most_confused(cm, k=3)
    assert top[0] == ("angry", "sad", 2, 0.5)
    assert {top[1][:2], top[2][:2]} == {("sad", "angry"), ("sad", "happy")} and top[1][2:] == (
        1,
        pytest.approx(1 / 3),
    )


def test_region_shares_on_maps_with_known_answers():
    from fer_lib.attribution import REGIONS, region_shares

    maps = torch.zeros(2, 1, 48, 48)
    maps[0, 0, 13:24] = 1.0  # all on the eyes band
    maps[1, 0, 32:43, :24] = -2.0  # all on the mouth band, negative: magnitude counts
    maps[1, 0, 0:13, :] = 0.5  # forehead: 13 rows x 48 x 0.5 = 312 against the mouth's 11 x 24 x 2 = 528
    shares = region_shares(maps)
    assert set(shares) == set(REGIONS) and sum(shares.values()) == pytest.approx(1.0)
    assert shares["eyes"] == pytest.approx(0.5)  # face 1: 1.0, face 2: 0.0
    assert shares["mouth"] == pytest.approx(528 / 840 / 2)
    assert shares["forehead"] == pytest.approx(312 / 840 / 2)
    assert shares["nose"] == shares["chin"] == 0.0
