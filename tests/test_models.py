import pytest
import torch

from fer_lib.errors import ConfigError
from fer_lib.models import (
    REGISTRY,
    build_model,
    checkpoint_meta,
    summary,
    summary_rows,
    summary_totals,
)
from fer_lib.pretrained import load_model

# The original report's Keras table, row by row: (output shape, params).
KERAS_REPORT_CNN = [
    ((None, 48, 48, 1), 0),
    ((None, 48, 48, 32), 320),
    ((None, 48, 48, 32), 128),
    ((None, 48, 48, 32), 0),
    ((None, 24, 24, 32), 0),
    ((None, 24, 24, 32), 0),
    ((None, 24, 24, 64), 51264),
    ((None, 24, 24, 64), 256),
    ((None, 24, 24, 64), 0),
    ((None, 12, 12, 64), 0),
    ((None, 12, 12, 64), 0),
    ((None, 12, 12, 64), 36928),
    ((None, 12, 12, 64), 256),
    ((None, 12, 12, 64), 0),
    ((None, 6, 6, 64), 0),
    ((None, 6, 6, 64), 0),
    ((None, 6, 6, 32), 18464),
    ((None, 6, 6, 32), 128),
    ((None, 6, 6, 32), 0),
    ((None, 3, 3, 32), 0),
    ((None, 3, 3, 32), 0),
    ((None, 288), 0),
    ((None, 256), 73984),
    ((None, 256), 1024),
    ((None, 256), 0),
    ((None, 256), 0),
    ((None, 512), 131584),
    ((None, 512), 2048),
    ((None, 512), 0),
    ((None, 512), 0),
    ((None, 7), 3591),
]


def test_report_cnn_matches_the_keras_table_layer_by_layer():
    rows = summary_rows(build_model("report_cnn"))
    assert [(r.shape, r.params) for r in rows] == KERAS_REPORT_CNN
    assert summary_totals(rows) == {"total": 319_975, "trainable": 318_055, "non_trainable": 1_920}
    text = summary("report_cnn")
    assert (
        "Total params: 319,975" in text
        and "Trainable params: 318,055" in text
        and "Non-trainable params: 1,920" in text
    )


def test_report_cnn_with_keras_defaults_draws_glorot_kernels_and_keras_batchnorm(tmp_path):
    import json
    import math

    torch.manual_seed(0)
    m = build_model("report_cnn", init="keras")
    assert [(r.shape, r.params) for r in summary_rows(m)] == KERAS_REPORT_CNN
    layers = [mod for mod in m.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
    for mod in layers:
        w = mod.weight
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max() <= limit and w.abs().max() > 0.9 * limit  # U(-limit, limit), filled
        assert torch.count_nonzero(mod.bias) == 0
    # the last layer: Glorot's limit for 512 -> 7 is 0.107, PyTorch's own 1/sqrt(512) = 0.044
    assert layers[-1].weight.abs().max() > 0.1 > build_model("report_cnn").classifier[2].weight.abs().max()
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 6 and {(b.eps, b.momentum) for b in bns} == {(1e-3, 0.01)}
    # a checkpoint rebuilds the same layers from its model_kwargs (epsilon is not in the weights)
    torch.save(
        {
            "model": m.state_dict(),
            "meta": json.dumps({"model": "report_cnn", "model_kwargs": {"init": "keras"}}),
        },
        tmp_path / "k.pt",
    )
    loaded, _ = load_model(tmp_path / "k.pt")
    x = torch.rand(4, 1, 48, 48)
    assert torch.allclose(loaded(x), m.eval()(x), atol=1e-5)
    assert {mod.eps for mod in loaded.modules() if isinstance(mod, torch.nn.BatchNorm2d)} == {1e-3}
    with pytest.raises(ConfigError, match="unknown init 'glorot'; choose one of torch, keras"):
        build_model("report_cnn", init="glorot")


def test_report_cnn_with_image_norm_sees_neither_brightness_nor_contrast(tmp_path):
    import json

    torch.manual_seed(0)
    m = build_model("report_cnn", norm="image").eval()
    assert [(r.shape, r.params) for r in summary_rows(m)] == KERAS_REPORT_CNN
    x = torch.rand(4, 1, 48, 48) * 0.5
    # a brighter, higher-contrast copy of the same faces gives the same outputs...
    assert torch.allclose(m(0.2 + 1.5 * x), m(x), atol=1e-4)
    # ...because the first layer sees the same input, which the default, dataset-wide scaling does not give it
    assert torch.allclose(m.normalize(0.2 + 1.5 * x), m.normalize(x), atol=1e-4)
    d = build_model("report_cnn").eval()
    assert (d.normalize(0.2 + 1.5 * x) - d.normalize(x)).abs().min() > 0.7
    # a blank image stays finite (its spread is floored at one grey level)
    assert torch.isfinite(m(torch.full((2, 1, 48, 48), 0.5))).all()
    torch.save(
        {
            "model": m.state_dict(),
            "meta": json.dumps({"model": "report_cnn", "model_kwargs": {"norm": "image"}}),
        },
        tmp_path / "n.pt",
    )
    loaded, _ = load_model(tmp_path / "n.pt")
    assert torch.allclose(loaded(x), m(x), atol=1e-5)
    with pytest.raises(ConfigError, match="unknown norm 'minmax'; choose one of dataset, image"):
        build_model("report_cnn", norm="minmax")


def test_simple_cnn_has_64_128_512_filters():
    m = build_model("simple_cnn")
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 512]
    assert m.last_conv is convs[-1]


def test_simple_cnn_dense_head_sees_where_features_are():
    gap, dense = build_model("simple_cnn"), build_model("simple_cnn", head="dense", hidden=256).eval()
    n_conv = sum(p.numel() for p in gap.features.parameters())
    # 6x6x512 flattened into Dense 256 (+ its BatchNorm's gamma and beta), then Dense 7
    assert sum(p.numel() for p in dense.parameters()) == n_conv + (6 * 6 * 512 + 1) * 256 + 2 * 256 + 257 * 7
    assert dense(torch.rand(3, 1, 48, 48)).shape == (3, 7)
    # moving a feature map's activations to another place changes the dense head's output, not the GAP head's
    feats = torch.rand(1, 512, 6, 6)
    moved = torch.roll(feats, shifts=3, dims=-1)
    gap.eval()

    def head(m, f):
        return m.classifier(m.flatten(m.pool(f)))

    assert torch.allclose(head(gap, feats), head(gap, moved), atol=1e-5)
    assert not torch.allclose(head(dense, feats), head(dense, moved), atol=1e-3)
    assert summary_totals(summary_rows(dense))["total"] == sum(p.numel() for p in dense.parameters()) + 2 * (
        64 + 128 + 512 + 256
    )
    assert "Identity" not in summary(dense) and "Dense (256)" in summary(dense)
    with pytest.raises(ConfigError, match="unknown head 'max'"):
        build_model("simple_cnn", head="max")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_models_take_unit_range_images_and_use_each_module_once(name):
    m = build_model(name).eval()
    calls = {}
    hooks = [
        mod.register_forward_hook(lambda mod, i, o: calls.__setitem__(mod, calls.get(mod, 0) + 1))
        for mod in m.modules()
        if not list(mod.children())
    ]
    out = m(torch.rand(3, 1, 48, 48))
    for h in hooks:
        h.remove()
    assert out.shape == (3, 7)
    assert set(calls.values()) == {1}, "a module instance is called more than once in forward"


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="unknown model 'vgg99'; registered models: "):
        build_model("vgg99")


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    import json

    m = build_model("report_cnn")
    torch.save({"model": m.state_dict(), "meta": json.dumps({"model": "report_cnn"})}, tmp_path / "c.pt")
    m2, meta = load_model(tmp_path / "c.pt")
    assert meta["model"] == "report_cnn"
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert checkpoint_meta(tmp_path / "c.pt") == {"model": "report_cnn"}
    (tmp_path / "bad.pt").write_bytes(b"junk")
    for read in (load_model, checkpoint_meta):
        with pytest.raises(ConfigError, match="bad.pt: not a readable fer_lib checkpoint"):
            read(tmp_path / "bad.pt")
        with pytest.raises(ConfigError, match="none.pt: no such checkpoint file"):
            read(tmp_path / "none.pt")
    torch.save({"weights": m.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="other.pt: not a fer_lib checkpoint"):
        checkpoint_meta(tmp_path / "other.pt")


def test_cli_summary_prints_the_totals():
    from .conftest import run_cli

    r = run_cli("summary", "report_cnn")
    assert r.returncode == 0
    assert "Total params: 319,975" in r.stdout and "Non-trainable params: 1,920" in r.stdout


def test_fast_dropout_keeps_the_right_share_and_scale():
    from fer_lib.models import Dropout

    d = Dropout(0.25).train()
    x = torch.ones(64, 32, 24, 24).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    y = d(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.75) < 0.005
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.75))
    torch.manual_seed(0)
    assert torch.equal(d(x), y)  # seeded like any torch op
    assert torch.equal(d.eval()(x), x)
