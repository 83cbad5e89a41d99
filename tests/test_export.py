"""ONNX export: onnxruntime answers as torch does, and the caller's model is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the export extra (onnx, onnxscript, onnxruntime) is not installed")

from fer_lib.__main__ import main  # noqa: E402
from fer_lib.export import OnnxModel, compare, export_onnx  # noqa: E402
from fer_lib.pretrained import load_model  # noqa: E402

# what "the same answers" means: probabilities within this of torch's (float32 rounding in other kernels),
# and no more than MAX_DIFFERENT faces (of FER2013's 3,589 PrivateTest faces) whose top class flips
PROBABILITY_TOLERANCE = 1e-4
MAX_DIFFERENT = 3


def test_the_exported_model_answers_as_torch_does(toy_model, synth, tmp_path):
    toy_model.train()
    before = {k: v.clone() for k, v in toy_model.state_dict().items()}
    path = export_onnx(toy_model, tmp_path / "toy.onnx", name="report_cnn")
    assert toy_model.training and all(torch.equal(before[k], v) for k, v in toy_model.state_dict().items())
    assert toy_model.features[0][0].weight.is_contiguous()  # not turned channels_last
    onnx_model = OnnxModel(path)
    assert onnx_model.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    faces = synth.split("PrivateTest").images
    result = compare(toy_model.eval(), onnx_model, faces)
    assert result["classes_differ"] == 0 and result["max_probability_gap"] < PROBABILITY_TOLERANCE, result
    assert onnx_model.logits(faces[:1]).shape == (1, 7) and onnx_model.logits(
        np.concatenate([faces] * 3)
    ).shape == (3 * len(faces), 7)  # any batch


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["report_cnn", "fer_vgg"])
def test_shipped_models_agree_on_every_private_test_face(name, real_data, tmp_path):
    """onnxruntime's classes on all 3,589 faces against torch's as the card stores them (float32, the shipped
    weights), and the probabilities of both on a fixed sample of 400 faces."""
    from fer_lib.pretrained import pretrained_info
    from fer_lib.ship import _stored_classes

    model = load_model(name)[0]
    onnx_model = OnnxModel(export_onnx(model, tmp_path / f"{name}.onnx", name=name))
    faces = real_data.split("PrivateTest").images
    torch_classes = _stored_classes(
        pretrained_info(name)["predictions"]["PrivateTest none"], len(faces), name
    )
    differ = int((onnx_model.logits(faces).argmax(1) != torch_classes).sum())
    assert len(faces) == 3589 and differ <= MAX_DIFFERENT, differ
    sample = np.random.default_rng(0).choice(len(faces), 400, replace=False)
    result = compare(model, onnx_model, faces[sample])
    assert result["max_probability_gap"] < PROBABILITY_TOLERANCE, result


def test_cli_export(tmp_path, capsys):
    assert main(["export", "report_cnn", "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "differ in 0 classes" in capsys.readouterr().out
    assert main(["export", "report_cnn", "--onnx", str(tmp_path / "m.onx")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"fer-lib: error: --onnx {tmp_path / 'm.onx'} must end in .onnx."
    )
    (tmp_path / "junk.onnx").write_text("no")
    from fer_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="not an ONNX model onnxruntime can load"):
        OnnxModel(tmp_path / "junk.onnx")
    assert np.isfinite(OnnxModel(tmp_path / "m.onnx").probabilities(np.zeros((2, 48, 48), np.uint8))).all()
