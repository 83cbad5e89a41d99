import copy

import numpy as np
import pytest
import torch

from fer_lib import attribution as A
from fer_lib.errors import ConfigError
from fer_lib.evaluate import to_float_images
from fer_lib.models import build_model

from .conftest import run_cli


@pytest.fixture(scope="module")
def faces(synth):
    part = synth.split("PrivateTest")
    return to_float_images(part.images), torch.as_tensor(part.labels)


@pytest.mark.parametrize("method", A.METHODS)
@pytest.mark.parametrize("name", ["report_cnn", "simple_cnn"])
def test_every_method_returns_a_map_per_face(name, method, faces):
    model = build_model(name).train()
    x, t = faces[0][:5], faces[1][:5]
    maps = A.attribute(model, x, t, method, ig_steps=4, smooth_samples=3, batch_size=3)
    assert maps.shape == x.shape and torch.isfinite(maps).all()
    assert model.training, "the caller's train/eval mode must be restored"
    disp = A.to_display(maps)
    assert disp.shape == (5, 48, 48) and disp.min() >= 0 and disp.max() <= 1


def test_smoothgrad_maps_do_not_depend_on_how_many_copies_run_together(faces):
    model = build_model("report_cnn").eval()
    x, t = faces[0][:6], faces[1][:6]
    torch.manual_seed(3)
    whole = A.attribute(model, x, t, "smoothgrad", smooth_samples=4, batch_size=24)  # all six at once
    after_whole = torch.rand(2)
    torch.manual_seed(3)
    split = A.attribute(model, x, t, "smoothgrad", smooth_samples=4, batch_size=8)  # two faces a pass
    assert torch.equal(whole, split), "the same noise must reach the same face"
    assert torch.equal(torch.rand(2), after_whole), "and as many draws must be taken"
    torch.manual_seed(4)
    assert not torch.equal(A.attribute(model, x, t, "smoothgrad", smooth_samples=4), whole)


def test_unknown_method_and_baseline(faces):
    model = build_model("report_cnn")
    with pytest.raises(ConfigError, match="unknown attribution method 'lime'"):
        A.attribute(model, faces[0][:2], faces[1][:2], "lime")
    with pytest.raises(ConfigError, match="unknown baseline 'white'"):
        A.attribute(model, faces[0][:2], faces[1][:2], "integrated_gradients", baseline="white")


def test_baselines_are_stated_and_different(faces):
    x = faces[0][:4]
    black, blur = A.make_baseline(x, "black"), A.make_baseline(x, "blur")
    assert black.abs().sum() == 0
    assert torch.allclose(blur.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.03)  # keeps the lighting
    assert (blur - x).abs().mean() > 0.01  # removes detail
    mean = A.make_baseline(x, "mean", mean_face=x.mean(0, keepdim=True))
    assert torch.allclose(mean[0], mean[3])


def test_spearman():
    a = torch.arange(10.0)[None].repeat(3, 1)
    assert torch.allclose(A.spearman(a, a), torch.ones(3))
    assert torch.allclose(A.spearman(a, -a), -torch.ones(3))


def test_randomisation_drops_saliency_on_a_trained_model(toy_model, faces):
    res = A.randomization_test(toy_model, faces[0][:24], faces[1][:24], ["saliency", "gradcam"])
    sal = [rho for _, rho in res["saliency"]]
    assert sal[0] == 1.0 and sal[-1] < 0.5, sal
    assert len(sal) == 1 + len(A.parameter_layers(toy_model))
    assert "saliency" not in A.insensitive_methods(res)


def test_deletion_auc_beats_random_on_a_trained_model(toy_model, faces):
    x, t = faces[0][:70], faces[1][:70]
    maps = A.attribute(toy_model, x, t, "integrated_gradients", ig_steps=16)
    real = A.deletion_insertion(toy_model, x, t, maps, bf16=False)
    rnd = A.deletion_insertion(toy_model, x, t, None, bf16=False)
    assert real["deletion"].shape == (70, 25)
    assert real["deletion_auc"].mean() < rnd["deletion_auc"].mean()
    assert real["insertion_auc"].mean() > rnd["insertion_auc"].mean()
    # bfloat16 forward passes: the same curves within bf16's precision. On 16 of the faces: where the CPU
    # has no native bf16 (no AMX or AVX512-BF16) the autocast is emulated, and 70 faces would take a minute
    fast = A.deletion_insertion(toy_model, x[:16], t[:16], maps[:16], bf16=True)
    for key in ("deletion", "insertion"):
        np.testing.assert_allclose(fast[key], real[key][:16], atol=0.03)
        assert abs(fast[f"{key}_auc"].mean() - real[f"{key}_auc"][:16].mean()) < 0.005


def test_deletion_insertion_uses_bf16_only_where_it_pays(toy_model, faces, monkeypatch):
    from fer_lib import train

    x, t = faces[0][:8], faces[1][:8]
    maps = A.attribute(toy_model, x, t, "saliency")
    exact, fast = (A.deletion_insertion(toy_model, x, t, maps, bf16=b)["deletion"] for b in (False, True))
    assert not np.array_equal(exact, fast)  # the two settings are told apart
    from fer_lib import device

    for native, expected in ((False, exact), (True, fast)):
        monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda native=native: native)
        assert device.bf16_pays("cpu") is native and device.bf16_pays(torch.device("cpu")) is native
        np.testing.assert_array_equal(A.deletion_insertion(toy_model, x, t, maps)["deletion"], expected)
    assert train.use_bf16(train.TrainConfig(model="report_cnn", bf16=False), torch.device("cpu")) is False


def test_maps_use_bf16_only_where_it_pays_and_stay_close_to_float32(toy_model, faces, monkeypatch):
    from fer_lib import device

    x, t = faces[0][:6], faces[1][:6]
    for method in ("saliency", "occlusion"):
        exact, fast = (A.attribute(toy_model, x, t, method, bf16=b) for b in (False, True))
        assert not torch.equal(exact, fast)  # the two settings are told apart
        rho = A.spearman(exact.abs().flatten(1), fast.abs().flatten(1))
        assert rho.min() > 0.8, (method, rho)  # the same pixels ranked first
        for native, expected in ((False, exact), (True, fast)):
            monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda native=native: native)
            assert torch.equal(A.attribute(toy_model, x, t, method, bf16=None), expected)
        monkeypatch.undo()


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "smoothgrad", "occlusion"])
def test_float32_maps_do_not_depend_on_the_faces_a_pass(toy_model, faces, method):
    x, t = faces[0][:7], faces[1][:7]
    opts = dict(ig_steps=8, smooth_samples=4, engine="torch")  # occlusion by torch: the batch is its own
    torch.manual_seed(5)
    small = A.attribute(toy_model, x, t, method, batch_size=4, **opts)
    torch.manual_seed(5)
    large = A.attribute(toy_model, x, t, method, batch_size=256, **opts)
    torch.testing.assert_close(small, large, rtol=1e-4, atol=1e-6 * float(large.abs().max()))


def test_a_pass_holds_32_inputs_on_the_cpu_and_more_on_a_gpu_unless_asked():
    assert A.pass_size("cpu") == A.CPU_BATCH == 32
    assert A.pass_size(torch.device("cuda")) == A.GPU_BATCH > A.CPU_BATCH
    assert A.pass_size("cpu", 7) == 7
    # forward-only passes: the CPU's size there, a call's faces at once on a GPU
    assert A._forward_pass_size("cpu", 32) == 32 and A._forward_pass_size("cuda", 32) is None


def test_torch_forward_passes_in_batches_give_the_same_logits(toy_model, faces):
    from fer_lib.runtime import inference_forward

    x = faces[0][:10]
    whole = inference_forward(toy_model, "cpu", "torch")(x)
    torch.testing.assert_close(inference_forward(toy_model, "cpu", "torch", torch_batch_size=3)(x), whole)
    assert inference_forward(toy_model, "cpu", "torch", torch_batch_size=3)(x[:0]).shape == (0, 7)


def test_filter_tools(toy_model, faces):
    x = faces[0]
    imgs = A.activation_maximisation(toy_model, filters=[0, 1, 2, 3], steps=100, lr=0.1)
    assert imgs.shape == (4, 48, 48) and 0 <= imgs.min() and imgs.max() <= 1
    # the optimised images excite their filters more than the mean face does
    act = A.layer_activations(toy_model, torch.as_tensor(imgs)[:, None])
    base = A.layer_activations(toy_model, x.mean(0, keepdim=True))
    for i in range(4):
        assert act[i, i].mean() > base[0, i].mean()
    top = A.top_activating(toy_model, x, k=9)
    assert top.shape == (32, 9)
    maps = A.activation_maps(toy_model, x[:1])
    assert maps.shape == (32, 6, 6)


def test_cli_predict_and_explain(toy_run, synth, tmp_path):
    from PIL import Image

    img = tmp_path / "face.jpg"
    Image.fromarray(synth.images[3]).resize((100, 120)).convert("RGB").save(img)  # any size, colour
    r = run_cli(
        "predict", str(img), "--model", str(toy_run / "best.pt"), "--json", "--no-detect"
    )  # a face cropped beforehand
    assert r.returncode == 0, r.stderr
    import json

    (row,) = json.loads(r.stdout)
    (face,) = row["faces"]
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-3 and face["expression"] in face["probabilities"]
    out = tmp_path / "map.png"
    r = run_cli(
        "explain",
        str(img),
        "--method",
        "integrated_gradients",
        "-o",
        str(out),
        "--model",
        str(toy_run / "best.pt"),
        "--no-detect",
    )
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(out)).shape[0] > 50
    r = run_cli("predict", str(img), "--model", "no_such_model")
    assert r.returncode == 2 and "neither a checkpoint file nor a pretrained model" in r.stderr


def test_photo_like_grids_show_as_much_smaller_jpeg(monkeypatch):
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython import display as ipd

    from fer_report import figures as plots

    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj: shown.append(obj))
    noise = np.random.default_rng(0).random((64, 48, 48))  # activation-maximisation images look like this
    fig = plots.filter_grid(noise, ncols=8)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
    data = plots.show_as_jpeg(fig)
    assert data[:3] == b"\xff\xd8\xff" and len(data) < 0.5 * len(png.getvalue())
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend does not show it again as PNG
    assert len(shown) == 1 and shown[0].format == "jpeg" and shown[0].data == data


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False])
def test_library_calls_give_the_callers_model_back_as_it_was(toy_model, faces, layout, training):
    from fer_lib.device import is_channels_last
    from fer_lib.evaluate import predict_logits

    model = copy.deepcopy(toy_model)
    model.to(memory_format=torch.channels_last if layout == "channels_last" else torch.contiguous_format)
    model.train(training)
    model.classifier[0].eval()  # a mixed state (one block frozen) must come back too
    before = {name: m.training for name, m in model.named_modules()}
    x, t = faces[0][:4], faces[1][:4]
    calls = [
        lambda: predict_logits(model, (x[:, 0] * 255).byte().numpy(), tta="flip"),
        lambda: A.attribute(model, x, t, "integrated_gradients", ig_steps=4),
        lambda: A.deletion_insertion(model, x, t, None, steps=4),
        lambda: A.layer_activations(model, x),
        lambda: A.activation_maximisation(model, filters=[0, 1], steps=2),
        lambda: A.activation_maximisation(model, filters=[0], steps=2, channels_last=False),
    ]
    for call in calls:
        call()
        assert is_channels_last(model) is (layout == "channels_last")
        assert {name: m.training for name, m in model.named_modules()} == before
