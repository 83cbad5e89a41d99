"""The report's networks and a registry that builds and loads them by name.

Every model takes float images in [0, 1] shaped (N, 1, 48, 48) and normalises them itself, so a
loaded model needs no hidden preprocessing. No module instance is used twice in ``forward``:
Captum's DeepLift and layer hooks rely on that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checks import printable
from .device import borrowed
from .errors import ConfigError

# FER2013 Training pixel statistics (on [0, 1]); fixed so that weights never depend on data.
FER_MEAN, FER_STD = 0.5077, 0.2550


class Normalize(nn.Module):
    """Map [0, 1] pixels to zero mean and unit variance with FER2013's statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - FER_MEAN) / FER_STD


class ImageStandardize(nn.Module):
    """Map each image to zero mean and unit variance by its own statistics.

    A face's brightness and contrast then carry no signal: a dark photo and a bright one of the
    same expression look alike to the first layer. The spread is floored at one grey level (1/255)
    so that a blank image stays blank instead of becoming amplified noise.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(1 / 255)
        return (x - mean) / std


class Dropout(nn.Dropout):
    """nn.Dropout with a faster mask on the CPU: four 16-bit draws from each random 64-bit word.

    PyTorch's CPU bernoulli_ took a quarter of report_cnn's training step; this takes a fifth
    of that. The keep probability is 1 - p rounded to a multiple of 1/65536.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p >= 1:
            return x * 0
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        draws = words.view(torch.int16)[:n]
        dense = x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)
        draws = draws.as_strided(x.size(), x.stride()) if dense else draws.view(x.shape)
        keep = draws >= int(round(self.p * 65536)) - 32768
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))


def conv_block(c_in: int, c_out: int, k: int, dropout: float) -> nn.Sequential:
    """Conv('same') - BatchNorm - ReLU - MaxPool(2) - Dropout: the unit the report stacks."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=k // 2),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
        Dropout(dropout),
    )


def dense_block(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    """Dense - BatchNorm - ReLU - Dropout."""
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), Dropout(dropout))


def keras_defaults(model: nn.Module) -> nn.Module:
    """Set a model up the way Keras 2 builds its layers, in place: Glorot-uniform kernels, zero biases,
    BatchNorm with epsilon 1e-3 and a running-average momentum of 0.99 (PyTorch's 0.01).

    PyTorch's own defaults draw kernels from U(±1/sqrt(fan_in)) and give BatchNorm epsilon 1e-5 and
    momentum 0.1; the original report was trained with Keras's."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps, m.momentum = 1e-3, 0.01
    return model


class ReportCNN(nn.Module):
    """The original report's network: 4 conv blocks (32, 64@5x5, 64, 32), Dense 256, 512, 7.

    ``init="keras"`` builds it with Keras 2's layer defaults (``keras_defaults``), as the original
    was; ``init="torch"`` (the default) with PyTorch's. ``norm="dataset"`` (the default) scales the
    pixels by FER2013's fixed mean and spread; ``norm="image"`` standardises each image by its own
    (``ImageStandardize``). Neither has parameters, so the Keras summary is the same.
    """

    INITS = ("torch", "keras")
    NORMS = ("dataset", "image")

    def __init__(
        self, dropout: float = 0.25, n_classes: int = 7, init: str = "torch", norm: str = "dataset"
    ) -> None:
        super().__init__()
        if init not in self.INITS:
            raise ConfigError(f"report_cnn: unknown init '{init}'; choose one of {', '.join(self.INITS)}.")
        if norm not in self.NORMS:
            raise ConfigError(f"report_cnn: unknown norm '{norm}'; choose one of {', '.join(self.NORMS)}.")
        self.normalize = Normalize() if norm == "dataset" else ImageStandardize()
        self.features = nn.Sequential(
            conv_block(1, 32, 3, dropout),
            conv_block(32, 64, 5, dropout),
            conv_block(64, 64, 3, dropout),
            conv_block(64, 32, 3, dropout),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            dense_block(32 * 3 * 3, 256, dropout),
            dense_block(256, 512, dropout),
            nn.Linear(512, n_classes),
        )
        if init == "keras":
            keras_defaults(self)

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.features[3][0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(self.normalize(x))))


class SimpleCNN(nn.Module):
    """A simple 3-layer CNN with [64, 128, 512] filters, then a head.

    ``head="gap"`` (the default): global average pooling and Dense 7; it sees *which* features
    fired, not *where*. ``head="dense"``: the 6x6 maps flattened into Dense ``hidden``-BN-ReLU-
    Dropout and Dense 7, like the report's CNN, so a feature's place on the face counts too.
    """

    HEADS = ("gap", "dense")

    def __init__(
        self,
        widths: tuple[int, ...] = (64, 128, 512),
        dropout: float = 0.25,
        n_classes: int = 7,
        head: str = "gap",
        hidden: int = 256,
        size: int = 48,
    ) -> None:
        super().__init__()
        if head not in self.HEADS:
            raise ConfigError(f"simple_cnn: unknown head '{head}'; choose one of {', '.join(self.HEADS)}.")
        self.normalize = Normalize()
        chans = (1, *widths)
        self.features = nn.Sequential(
            *[conv_block(chans[i], chans[i + 1], 3, dropout) for i in range(len(widths))]
        )
        side = size // 2 ** len(widths)
        self.pool = nn.AdaptiveAvgPool2d(1) if head == "gap" else nn.Identity()
        self.flatten = nn.Flatten()
        self.classifier = (
            nn.Linear(widths[-1], n_classes)
            if head == "gap"
            else nn.Sequential(
                dense_block(widths[-1] * side * side, hidden, dropout), nn.Linear(hidden, n_classes)
            )
        )

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.features[-1][0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(self.normalize(x)))))


class VGGNet(nn.Module):
    """A VGG-style network for 48x48 faces: four stages of two 3x3 Conv-BN-ReLU, max pooling between.

    The body follows the best honest FER2013 single model (Khaireddin & Chen 2021): wide 3x3
    stacks with BatchNorm everywhere. The head is ours: global average pooling and dropout before
    one dense layer, in place of their two wide dense layers.
    """

    def __init__(
        self, widths: tuple[int, ...] = (64, 128, 256, 512), dropout: float = 0.4, n_classes: int = 7
    ) -> None:
        super().__init__()
        self.normalize = Normalize()
        stages, c_in = [], 1
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [
                nn.Conv2d(c_in, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            c_in = w
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], n_classes)

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.features[-1][3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.flatten(self.pool(self.features(self.normalize(x))))))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    description: str


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, description: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model constructor under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        REGISTRY[name] = ModelSpec(name, fn, description)
        return fn

    return deco


@register("report_cnn", "the original report's 4-block CNN (319,975 Keras-counted params)")
def report_cnn(**kw: Any) -> nn.Module:
    return ReportCNN(**kw)


@register("simple_cnn", "a simple 3-layer CNN with [64, 128, 512] filters")
def simple_cnn(**kw: Any) -> nn.Module:
    return SimpleCNN(**kw)


@register("fer_vgg", "VGG-style 8-conv network (64-512 filters, 4.7M params): the strong model")
def fer_vgg(**kw: Any) -> nn.Module:
    return VGGNet(**kw)


@register(
    "fer_vgg_s", "fer_vgg at half width (32-256 filters, 1.2M params): a strong model a CPU trains in hours"
)
def fer_vgg_s(**kw: Any) -> nn.Module:
    kw.setdefault("widths", (32, 64, 128, 256))
    return VGGNet(**kw)


def build_model(name: str, **kw: Any) -> nn.Module:
    """A fresh model by registered name."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown model '{name}'; registered models: {', '.join(sorted(REGISTRY))}.")
    try:
        return REGISTRY[name].build(**kw)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError) as e:
        raise ConfigError(f"{name} cannot be built with {kw}: {_constructor_complaint(name, e)}.") from None


def _constructor_complaint(name: str, e: Exception) -> str:
    """What was wrong with a model's keyword arguments, naming the ones it does take."""
    import inspect

    msg = str(e)
    if "unexpected keyword argument" in msg:
        takes = [
            p
            for p in inspect.signature(REGISTRY[name].build(**{}).__class__.__init__).parameters
            if p != "self"
        ]
        bad = msg.split("'")[-2] if msg.count("'") >= 2 else msg
        return f"it takes no argument '{bad}' (it takes {', '.join(takes)})"
    return msg.rstrip(".")


# --------------------------------------------------------------------------- checkpoints


def half_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with float16 copies of its floating tensors (integer buffers kept): how weights ship."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict, dict]:
    """A trainer checkpoint's raw contents and its decoded metadata; ConfigError for anything else.

    The one reader of checkpoint files: resuming, settling a run folder, compact copies and loading a
    model all read through it.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such checkpoint file.")
    try:
        ckpt = torch.load(p, map_location=device, weights_only=True)
    except Exception as e:  # torch raises many kinds for a bad file
        raise ConfigError(f"{p}: not a readable fer_lib checkpoint ({type(e).__name__}).") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "meta" not in ckpt:
        raise ConfigError(f"{p}: not a fer_lib checkpoint (expected the keys 'model' and 'meta').")
    weights = ckpt["model"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ConfigError(
            f"{p}: its weights are not a state dict of tensors; not a checkpoint written by fer_lib."
        )
    try:
        meta = json.loads(ckpt["meta"]) if isinstance(ckpt["meta"], str) else ckpt["meta"]
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise ConfigError(f"{p}: its metadata is not readable; not a checkpoint written by fer_lib.")
    return ckpt, meta


def checkpoint_meta(path: str | Path) -> dict:
    """The metadata of a checkpoint written by the trainer (config, history, data hash...), without building
    the model."""
    return read_checkpoint(path)[1]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A model and its metadata from a checkpoint written by the trainer (weights only)."""
    ckpt, meta = read_checkpoint(path, device)
    if "model" not in meta:
        raise ConfigError(f"{path}: its metadata names no model; not a checkpoint written by fer_lib.")
    kwargs = meta.get("model_kwargs", {})
    if not (isinstance(meta["model"], str) and isinstance(kwargs, dict)):
        raise ConfigError(
            f"{path}: its metadata's model or model_kwargs is garbled; not a fer_lib checkpoint."
        )
    with torch.device("meta"):  # the shapes first, in no memory: the metadata may ask for a huge model
        shell = build_model(meta["model"], **kwargs)
    misfit = _misfit(shell.state_dict(), ckpt["model"])
    if misfit:
        raise ConfigError(
            f"{path}: its weights do not fit a '{meta['model']}' {kwargs or ''}({misfit}); the checkpoint is "
            "of another architecture or damaged."
        )
    model = build_model(meta["model"], **kwargs)
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ConfigError(
            f"{path}: the weights hold NaN or infinite values (in {bad}): the run diverged before it was "
            "saved; "
            "use an earlier checkpoint or train again with a lower learning rate."
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise ConfigError(
            f"{path}: its weights do not fit a '{meta['model']}' {meta.get('model_kwargs') or ''}"
            f"({first.rstrip('.')}); the checkpoint is of another architecture or damaged."
        ) from None
    return model.to(device).eval(), meta


def _misfit(want: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> str:
    """The first difference between a model's state dict and a checkpoint's, as load_state_dict would name it;
    empty when they fit."""
    missing = [k for k in want if k not in got]
    if missing:
        return f"missing key {printable(missing[0])}"
    extra = [k for k in got if k not in want]
    if extra:
        return f"unexpected key {printable(extra[0])}"
    for k, v in want.items():
        if tuple(v.shape) != tuple(got[k].shape):
            return (
                f"size mismatch for {k}: the checkpoint holds {tuple(got[k].shape)}, the model "
                f"{tuple(v.shape)}"
            )
    return ""


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 (first 16 hex digits) over a model's parameters and buffers, names included, as float32.

    Identifies the weights a run started from or distilled from: a pretrained name stays the same
    when its weights are re-shipped, the fingerprint does not.
    """
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        t = t.detach().cpu()
        h.update((t.float() if t.is_floating_point() else t).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- Keras-style summary

_KERAS_NAMES = {
    nn.Conv2d: "Conv2D",
    nn.BatchNorm2d: "BatchNormalization",
    nn.BatchNorm1d: "BatchNormalization",
    nn.ReLU: "Activation (ReLU)",
    nn.MaxPool2d: "MaxPooling2D",
    nn.Dropout: "Dropout",
    nn.Flatten: "Flatten",
    nn.Linear: "Dense",
    nn.AdaptiveAvgPool2d: "GlobalAveragePooling2D",
}


@dataclass
class LayerRow:
    name: str
    shape: tuple[int | None, ...]
    params: int
    trainable: int


def summary_rows(model: nn.Module, input_shape: tuple[int, int, int] = (1, 48, 48)) -> list[LayerRow]:
    """One row per leaf layer in call order, with Keras's channels-last shapes and counts.

    Keras counts BatchNorm's running mean and variance as non-trainable parameters; so do we.
    """
    rows = [LayerRow("InputLayer", (None, input_shape[1], input_shape[2], input_shape[0]), 0, 0)]
    hooks = []

    def hook(mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        shape = tuple(out.shape[1:])
        keras_shape = (None, *shape[1:], shape[0]) if len(shape) == 3 else (None, *shape)
        trainable = sum(p.numel() for p in mod.parameters(recurse=False) if p.requires_grad)
        frozen = sum(p.numel() for p in mod.parameters(recurse=False) if not p.requires_grad)
        stats = sum(
            b.numel() for n, b in mod.named_buffers(recurse=False) if n in ("running_mean", "running_var")
        )
        label = next((v for k, v in _KERAS_NAMES.items() if isinstance(mod, k)), type(mod).__name__)
        if isinstance(mod, nn.Conv2d):
            label += f" ({mod.out_channels}, {mod.kernel_size})"
        elif isinstance(mod, nn.Linear):
            label += f" ({mod.out_features})"
        elif isinstance(mod, nn.Dropout):
            label += f" ({mod.p})"
        rows.append(LayerRow(label, keras_shape, trainable + frozen + stats, trainable))

    for m in model.modules():
        if len(list(m.children())) == 0 and not isinstance(m, (Normalize, ImageStandardize, nn.Identity)):
            hooks.append(m.register_forward_hook(hook))
    try:
        with borrowed(model, layout=None), torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return rows


def summary_totals(rows: list[LayerRow]) -> dict[str, int]:
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def summary(model: nn.Module | str) -> str:
    """A Keras-style table: layer, output shape, parameter count, and the three totals."""
    if isinstance(model, str):
        model = build_model(model)
    rows = summary_rows(model)
    w = max(len(r.name) for r in rows) + 2
    lines = [f"{'Layer (type)':<{w}}{'Output Shape':<22}{'Param #':>10}", "=" * (w + 32)]
    for r in rows:
        lines.append(f"{r.name:<{w}}{str(r.shape):<22}{r.params:>10,}")
    t = summary_totals(rows)
    lines += [
        "=" * (w + 32),
        f"Total params: {t['total']:,}",
        f"Trainable params: {t['trainable']:,}",
        f"Non-trainable params: {t['non_trainable']:,}",
    ]
    return "\n".join(lines)
