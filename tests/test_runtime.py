"""Inference through onnxruntime gives torch's answers; occlusion batched gives Captum's maps."""

import pytest
import torch

from fer_lib import attribution as A
from fer_lib.errors import ConfigError
from fer_lib.models import build_model
from fer_lib.runtime import inference_forward, onnxruntime_available


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_model("report_cnn").eval()
    with (
        torch.no_grad()
    ):  # statistics unlike a fresh layer's, so that a graph exported in training mode shows
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def x():
    return torch.rand(40, 1, 48, 48, generator=torch.Generator().manual_seed(1))


def test_torch_engine_is_the_model_in_eval_mode(net, x):
    net.train()
    try:
        got = inference_forward(net, engine="torch")(x)
        assert net.training  # given back as it was
    finally:
        net.eval()
    with torch.no_grad():
        assert torch.equal(got, net(x))


def test_onnxruntime_gives_torchs_logits_and_classes(net, x):
    if not onnxruntime_available():
        pytest.skip("onnxruntime is not installed (the export extra)")
    with torch.no_grad():
        ref = net(x)
    got = inference_forward(net, engine="onnxruntime", batch_size=16)(x)  # batches of 16, 16 and 8
    assert got.shape == ref.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    assert torch.equal(got.argmax(1), ref.argmax(1))


def test_unknown_engine_is_refused(net):
    with pytest.raises(ConfigError, match="unknown engine 'tpu'"):
        inference_forward(net, engine="tpu")


@pytest.mark.parametrize("window, stride", [(8, 4), (7, 5)])  # the chapter's setting, and one that overhangs
def test_occlusion_is_captums(net, x, window, stride):
    from captum.attr import Occlusion

    t = torch.arange(8) % 7
    ref = Occlusion(net).attribute(
        x[:8], sliding_window_shapes=(1, window, window), strides=(1, stride, stride), baselines=0.5, target=t
    )
    got = A.occlusion(inference_forward(net, engine="torch"), x[:8], t, window, stride, chunk=100)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    assert float(got.abs().max()) > 1e-3  # the maps are not all zero
