"""Attribution maps with Captum, tests of whether they mean anything, and filter visualisation.

* :func:`attribute` runs one of :data:`METHODS` on a batch (model in eval mode, as Captum
  assumes but does not enforce) and returns maps shaped like the input.
* :func:`randomization_test` is the cascading model-parameter randomisation test of Adebayo et
  al. (2018): a map that barely changes when the weights are scrambled explains nothing.
* :func:`deletion_insertion` scores maps by what happens to the true-class probability when
  pixels are removed (or restored) in the order the map ranks them (Petsiuk et al. 2018).
* :func:`activation_maximisation`, :func:`top_activating` and :func:`activation_maps` show what
  the last conv layer's filters respond to.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .device import bf16_pays, borrowed
from .errors import ConfigError
from .names import METHODS
from .runtime import inference_forward

BASELINES = ("black", "blur", "mean")
# Inputs a pass (faces, integration steps or noisy copies) on the CPU: small batches keep the working
# set in cache. On a 2-core Xeon with AMX, simple_cnn's forward and backward passes ran 1.6x (bf16) and
# 1.3x (float32) as fast at 32 as at 256, and its bf16 forward passes 2x as fast at 32 as at 512
# (benchmarks/bench_report.py prints float32 at 256 and at 32 a pass, method by method). A GPU takes
# GPU_BATCH for gradients, SMOOTH_COPIES of SmoothGrad's, and runs forward-only passes whole.
CPU_BATCH = 32
GPU_BATCH = 256
SMOOTH_COPIES = 1024


def pass_size(device: torch.device | str, batch_size: int | None = None) -> int:
    """Inputs a forward (and backward) pass: ``batch_size`` where given, else CPU_BATCH on the CPU and
    GPU_BATCH elsewhere."""
    if batch_size is not None:
        return batch_size
    return CPU_BATCH if torch.device(device).type == "cpu" else GPU_BATCH


def _forward_pass_size(device: torch.device | str, batch_size: int) -> int | None:
    """Faces a forward-only torch pass (occlusion, the curves): ``batch_size`` on the CPU, all of a call's
    faces on a GPU."""
    return batch_size if torch.device(device).type == "cpu" else None


def last_conv(model: nn.Module) -> nn.Conv2d:
    """The model's last Conv2d (Grad-CAM's layer and the filters of question 5)."""
    layer = getattr(model, "last_conv", None)
    if layer is None:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ConfigError(f"{type(model).__name__} has no Conv2d layer.")
        layer = convs[-1]
    return layer


def _activation_after(model: nn.Module, conv: nn.Conv2d) -> nn.Module:
    """The ReLU that follows ``conv`` in its block (Grad-CAM is taken on rectified features)."""
    for block in model.modules():
        kids = list(block.children())
        if conv in kids:
            after = kids[kids.index(conv) + 1 :]
            return next((m for m in after if isinstance(m, nn.ReLU)), conv)
    return conv


def gaussian_blur(x: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Separable Gaussian blur of a batch (N, 1, H, W), reflect-padded."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def make_baseline(x: torch.Tensor, kind: str = "blur", mean_face: torch.Tensor | None = None) -> torch.Tensor:
    """Integrated Gradients' reference input.

    'blur' (the default) keeps each face's overall lighting and removes the fine detail that
    carries an expression, so IG credits the detail, not the brightness. 'black' is Captum's
    default but is far from any face (and credits bright skin, the original report's
    forehead artefact); 'mean' is the average training face.
    """
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        return gaussian_blur(x, 3.0)
    if kind == "mean":
        if mean_face is None:
            raise ConfigError("the 'mean' baseline needs mean_face (the average Training image).")
        return mean_face.to(x).expand_as(x)
    raise ConfigError(f"unknown baseline '{kind}'; expected one of {', '.join(BASELINES)}.")


def _captum():
    """captum.attr, imported without tqdm's notebook-widget warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from captum import attr

    return attr


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | Sequence[int] | int,
    method: str = "saliency",
    *,
    baseline: str = "blur",
    ig_steps: int = 32,
    smooth_samples: int = 16,
    smooth_std: float = 0.1,
    occlusion_window: int = 8,
    occlusion_stride: int = 4,
    mean_face: torch.Tensor | None = None,
    batch_size: int | None = None,
    bf16: bool | None = False,
    engine: str = "auto",
) -> torch.Tensor:
    """Attributions for the target classes of a batch x (N, 1, 48, 48) in [0, 1]; same shape as x.

    The model runs channels_last (same results, 1.1-1.4x faster on the CPU, by CPU) and in eval mode
    during the call, and is given back as it was. ``bf16`` runs the model under bfloat16 autocast
    (occlusion's forward passes by torch then, ``pass_size`` faces a pass on the CPU): on a 2-core Xeon
    with AMX, 200 PrivateTest faces, every method ran 1.6-3.8x as fast as in float32 (integrated gradients on
    simple_cnn 28.1 s -> 7.4 s, occlusion 23.1 s -> 10.3 s), with maps that rank the pixels as the
    float32 ones do to a mean Spearman rho of 0.94-0.998 by method (``benchmarks/bench_report.py``).
    ``bf16=None`` turns it on where it pays (``fer_lib.device.bf16_pays``). In float32, occlusion needs
    outputs only: ``engine`` runs them (``fer_lib.runtime``; 'auto' is onnxruntime on the CPU where it
    is installed, the same maps as Captum's to 1e-5). ``batch_size`` is the inputs a pass: faces,
    integration steps or noisy copies (None: ``pass_size``).
    """
    import warnings

    x = x.contiguous(memory_format=torch.channels_last)
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method '{method}'; expected one of {', '.join(METHODS)}.")
    if bf16 is None:
        bf16 = bf16_pays(x.device)
    batch_size = pass_size(x.device, batch_size)
    target = (
        torch.as_tensor(target, device=x.device).long().expand(len(x))
        if not torch.is_tensor(target) or target.dim() == 0
        else target.to(x.device).long()
    )
    settings = {
        "baseline": baseline,
        "ig_steps": ig_steps,
        "smooth_samples": smooth_samples,
        "smooth_std": smooth_std,
        "occlusion_window": occlusion_window,
        "occlusion_stride": occlusion_stride,
        "mean_face": mean_face,
        "batch_size": batch_size,
    }
    out = []
    with (
        borrowed(model),
        torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16),
        warnings.catch_warnings(),
    ):
        # Captum announces that guided backprop hooks the ReLUs (and removes them afterwards)
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        # occlusion needs outputs only: onnxruntime where it pays (fer_lib.runtime), torch under bf16
        settings["forward"] = (
            inference_forward(
                model,
                x.device,
                "torch" if bf16 else engine,
                torch_batch_size=_forward_pass_size(x.device, batch_size),
            )
            if method == "occlusion"
            else None
        )
        step = _faces_a_call(method, x.device, batch_size, smooth_samples)
        for i in range(0, len(x), step):
            xb = x[i : i + step].detach().clone().requires_grad_(True)
            a = _attribute_batch(model, xb, target[i : i + step], method, **settings)
            out.append(a.detach().float().contiguous())
    return torch.cat(out)


def _faces_a_call(method: str, device: torch.device, batch_size: int, smooth_samples: int) -> int:
    """Faces ``attribute`` hands Captum at once: ``batch_size``, but for SmoothGrad, which runs each face's
    noisy copies together, about ``batch_size`` copies a pass on the CPU (up to SMOOTH_COPIES elsewhere):
    on the CPU the noise drawn (face by face, seeded) and the maps are the same whatever the batch."""
    if method != "smoothgrad":
        return batch_size
    copies = batch_size if device.type == "cpu" else min(batch_size * smooth_samples, SMOOTH_COPIES)
    return max(1, copies // smooth_samples)


def _attribute_batch(
    model: nn.Module,
    xb: torch.Tensor,
    tb: torch.Tensor,
    method: str,
    *,
    baseline: str,
    ig_steps: int,
    smooth_samples: int,
    smooth_std: float,
    occlusion_window: int,
    occlusion_stride: int,
    mean_face: torch.Tensor | None,
    batch_size: int,
    forward: Callable[[torch.Tensor], torch.Tensor] | None,
) -> torch.Tensor:
    """One batch's attributions by one Captum method (``attribute`` holds the model and the settings)."""
    ca = _captum()
    if method == "saliency":
        return ca.Saliency(model).attribute(xb, target=tb, abs=True)
    if method == "input_x_gradient":
        return ca.InputXGradient(model).attribute(xb, target=tb)
    if method == "integrated_gradients":
        return ca.IntegratedGradients(model).attribute(
            xb,
            baselines=make_baseline(xb.detach(), baseline, mean_face),
            target=tb,
            n_steps=ig_steps,
            internal_batch_size=batch_size,
        )
    if method == "smoothgrad":
        return ca.NoiseTunnel(ca.Saliency(model)).attribute(
            xb,
            nt_type="smoothgrad",
            nt_samples=smooth_samples,
            nt_samples_batch_size=smooth_samples,
            stdevs=smooth_std,
            target=tb,
            abs=True,
        )
    if method == "guided_backprop":
        return ca.GuidedBackprop(model).attribute(xb, target=tb)
    if method == "gradcam":
        layer = _activation_after(model, last_conv(model))
        cam = ca.LayerGradCam(model, layer).attribute(xb, target=tb, relu_attributions=True)
        return ca.LayerAttribution.interpolate(cam, xb.shape[-2:], interpolate_mode="bilinear")
    if method == "guided_gradcam":
        return ca.GuidedGradCam(model, _activation_after(model, last_conv(model))).attribute(xb, target=tb)
    # occlusion: a gray patch slid over the face; forward passes only (``forward``: see ``attribute``)
    return occlusion(forward, xb.detach(), tb, occlusion_window, occlusion_stride)


def occlusion(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor,
    window: int = 8,
    stride: int = 4,
    baseline: float = 0.5,
    chunk: int = 4096,
) -> torch.Tensor:
    """Occlusion maps (Zeiler & Fergus 2014) as Captum's ``Occlusion`` computes them, batched over faces
    and patch positions: a ``window`` x ``window`` patch of ``baseline`` slid by ``stride``; each pixel
    gets the mean drop of the target logit over the patches that cover it.

    ``forward`` maps faces to logits (``fer_lib.runtime.inference_forward``); ``chunk`` bounds the faces
    run in one call.
    """
    n, _, h, w = x.shape
    rows = [k * stride for k in range(math.ceil((h - window) / stride) + 1)]
    cols = [k * stride for k in range(math.ceil((w - window) / stride) + 1)]
    spots = [(r, c) for r in rows for c in cols]
    pick = target.long().view(n, 1)
    start = forward(x).gather(1, pick).squeeze(1)
    total, cover = torch.zeros_like(x), torch.zeros(1, 1, h, w)
    per_call = max(1, chunk // max(n, 1))
    for i in range(0, len(spots), per_call):
        group = spots[i : i + per_call]
        batch = x.unsqueeze(0).repeat(len(group), 1, 1, 1, 1)
        for k, (r, c) in enumerate(group):
            batch[k, :, :, r : r + window, c : c + window] = baseline
        out = forward(batch.view(-1, 1, h, w)).view(len(group), n, -1)
        drop = start.unsqueeze(0) - out.gather(2, pick.unsqueeze(0).expand(len(group), n, 1)).squeeze(2)
        for k, (r, c) in enumerate(group):
            total[:, :, r : r + window, c : c + window] += drop[k].view(n, 1, 1, 1)
            cover[:, :, r : r + window, c : c + window] += 1
    return total / cover


def to_display(a: torch.Tensor, signed: bool = False) -> np.ndarray:
    """Maps (N, 1, H, W) -> (N, H, W) in [0, 1]: magnitude, scaled by each map's 99th percentile."""
    m = a.detach().float().squeeze(1)
    m = m if signed else m.abs()
    q = torch.quantile(m.flatten(1), 0.99, dim=1).clamp_min(1e-12)
    return (m / q[:, None, None]).clamp(0, 1).cpu().numpy()


# --------------------------------------------------------------------------- sanity checks


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per row of two (N, D) tensors."""

    def ranks(t: torch.Tensor) -> torch.Tensor:
        return t.argsort(1).argsort(1).float()

    ra, rb = ranks(a), ranks(b)
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Layers with weights, from the output back to the input (the cascade's order)."""
    layers = [
        (n, m)
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d))
    ]
    return layers[::-1]


def _randomize(module: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.copy_(
                torch.randn(p.shape, generator=gen) * (p.std() if p.numel() > 1 else 1.0)
                + (0 if p.dim() > 1 else p.mean())
            )
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)


def randomization_test(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    methods: Sequence[str] = METHODS,
    *,
    seed: int = 0,
    **kwargs: object,
) -> dict[str, list[tuple[str, float]]]:
    """Cascading randomisation from the top layer down: per method, (layer, mean Spearman rho) after each
    step.

    rho is computed between the absolute maps of the trained model and of the progressively
    randomised copy; a method whose rho stays high does not depend on what the model learned.
    """
    gen = torch.Generator().manual_seed(seed)
    if "bf16" in kwargs and kwargs["bf16"] is None:  # the randomised copy runs on the CPU: one precision
        kwargs = {**kwargs, "bf16": bf16_pays("cpu")}
    ref = {m: attribute(model, x, target, m, **kwargs).abs().flatten(1) for m in methods}
    rand = copy.deepcopy(model).cpu()
    xc, tc = x.cpu(), target.cpu()
    out: dict[str, list[tuple[str, float]]] = {m: [("trained", 1.0)] for m in methods}
    for name, layer in parameter_layers(rand):
        _randomize(layer, gen)
        for m in methods:
            a = attribute(rand, xc, tc, m, **kwargs).abs().flatten(1)
            out[m].append((name, float(spearman(ref[m].cpu(), a).mean())))
    return out


def insensitive_methods(result: dict[str, list[tuple[str, float]]], threshold: float = 0.5) -> list[str]:
    """Methods whose maps still correlate above ``threshold`` with the trained model's after full
    randomisation."""
    return [m for m, curve in result.items() if curve[-1][1] > threshold]


def _true_prob(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, target: torch.Tensor, bf16: bool = False
) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return forward(x).float().softmax(1).gather(1, target[:, None]).squeeze(1)


def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    maps: torch.Tensor | None,
    *,
    steps: int = 24,
    seed: int = 0,
    bf16: bool | None = None,
    engine: str = "auto",
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves of the true-class probability, and their areas (AUC).

    Deletion replaces pixels, most important first, by the blurred face; a good map makes the
    probability fall fast (low AUC). Insertion starts from the blurred face and restores pixels
    in the same order; a good map makes it rise fast (high AUC). ``maps=None`` ranks pixels at
    random: the floor that any real method should beat.

    The curves cost 2 x (steps + 1) forward passes per face, run by onnxruntime on the CPU where it
    is installed (``engine='auto'``, ``fer_lib.runtime``: 3-4x faster than torch, probabilities within
    1e-5 of it), else by torch, channels_last. With ``bf16`` torch runs them under bfloat16 autocast,
    ``pass_size`` faces a pass: on a 2-core Xeon with AMX, 200 PrivateTest faces, 2.6x (simple_cnn) and
    1.7x (report_cnn) as fast as onnxruntime in float32, mean AUCs within 0.0002 of it
    (benchmarks/bench_report.py).
    ``bf16=None`` (the default) turns it on only where it pays (``fer_lib.device.bf16_pays``): on a
    CPU without native bf16 the autocast is emulated and an order of magnitude slower than float32.
    """
    if bf16 is None:
        bf16 = bf16_pays(x.device)
    n, _, h, w = x.shape
    d = h * w
    if maps is None:
        g = torch.Generator().manual_seed(seed)
        scores = torch.rand(n, d, generator=g).to(x.device)
    else:
        scores = maps.detach().abs().flatten(1).to(x.device)
    order = scores.argsort(1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(d, device=x.device).expand(n, d))
    blurred = gaussian_blur(x, 3.0)
    fracs = torch.linspace(0, 1, steps + 1)
    dele, ins = [], []
    both = torch.cat([target, target])
    with borrowed(model):
        forward = inference_forward(
            model,
            x.device,
            "torch" if bf16 else engine,
            torch_batch_size=_forward_pass_size(x.device, CPU_BATCH),
        )
        for f in fracs:
            k = int(round(float(f) * d))
            mask = (rank < k).view(n, 1, h, w)
            p = _true_prob(
                forward, torch.cat([torch.where(mask, blurred, x), torch.where(mask, x, blurred)]), both, bf16
            )
            dele.append(p[:n])
            ins.append(p[n:])
    dele_c, ins_c = torch.stack(dele, 1).cpu().numpy(), torch.stack(ins, 1).cpu().numpy()
    auc = lambda c: np.trapezoid(c, fracs.numpy(), axis=1)  # noqa: E731
    return {
        "fractions": fracs.numpy(),
        "deletion": dele_c,
        "insertion": ins_c,
        "deletion_auc": auc(dele_c),
        "insertion_auc": auc(ins_c),
    }


# --------------------------------------------------------------------------- filters (question 5)


def _hooked_activation(
    model: nn.Module, layer: nn.Module
) -> tuple[Callable[[], torch.Tensor], Callable[[], None]]:
    store: dict[str, torch.Tensor] = {}
    h = layer.register_forward_hook(lambda m, i, o: store.__setitem__("out", o))
    return (lambda: store["out"]), h.remove


def layer_activations(
    model: nn.Module, x: torch.Tensor, layer: nn.Module | None = None, batch_size: int = 512
) -> torch.Tensor:
    """Outputs of ``layer`` (default: the last conv) for a batch, in eval mode."""
    layer = layer or last_conv(model)
    get, remove = _hooked_activation(model, layer)
    outs = []
    try:
        with borrowed(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                model(x[i : i + batch_size].contiguous(memory_format=torch.channels_last))
                outs.append(get().float())
    finally:
        remove()
    return torch.cat(outs)


def activation_maps(model: nn.Module, face: torch.Tensor, layer: nn.Module | None = None) -> np.ndarray:
    """Every filter's feature map for one face (1, 1, 48, 48) -> (filters, h, w)."""
    return layer_activations(model, face[:1], layer)[0].cpu().numpy()


def top_activating(
    model: nn.Module, x: torch.Tensor, k: int = 9, layer: nn.Module | None = None
) -> torch.Tensor:
    """Indices (filters, k) of the faces whose strongest response per filter is largest."""
    act = layer_activations(model, x, layer)
    peak = act.flatten(2).amax(2)  # (N, filters)
    return peak.topk(k, dim=0).indices.T


def activation_maximisation(
    model: nn.Module,
    filters: Sequence[int] | None = None,
    *,
    layer: nn.Module | None = None,
    steps: int = 128,
    lr: float = 0.1,
    jitter: int = 3,
    l2: float = 1e-3,
    tv: float = 2e-2,
    blur_every: int = 8,
    seed: int = 0,
    size: int = 48,
    channels_last: bool = True,
) -> np.ndarray:
    """For each filter, a 48x48 input that excites it most (filters, size, size), in [0, 1].

    Gradient ascent on the filter's mean activation from small noise around mid-gray, with the
    usual regularisers that keep 48x48 images readable: random jitter each step, an L2 penalty
    on the deviation from gray, total variation, and a light blur every few steps. All filters
    are optimised together as one batch (eval mode keeps the images independent).
    ``channels_last`` (the default) runs the model in that layout, about 1.2x faster on the CPU
    (``benchmarks/bench_attribution.py``). The ascent amplifies the layouts' different float
    rounding: on 32 simple_cnn filters (128 steps) the images from the two layouts correlate at
    0.92 or more (mean 0.98), mean pixel difference 0.014; the patterns are the same.
    """
    layer = layer or last_conv(model)
    n_out = layer.out_channels if isinstance(layer, nn.Conv2d) else None
    filters = list(range(n_out)) if filters is None else list(filters)
    g = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    z = (torch.randn(len(filters), 1, size, size, generator=g) * 0.1).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    get, remove = _hooked_activation(model, layer)
    idx = torch.arange(len(filters), device=dev)
    fidx = torch.as_tensor(filters, device=dev)
    try:
        # frozen: the ascent needs the image's gradient only, and the caller's weights get none
        with borrowed(
            model, layout=torch.channels_last if channels_last else torch.contiguous_format, frozen=True
        ):
            for step in range(steps):
                img = torch.sigmoid(z)
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
                model(torch.roll(img, (dy, dx), (2, 3)))
                act = get()[idx, fidx].mean((1, 2))
                tv_loss = (img[..., 1:, :] - img[..., :-1, :]).abs().mean((1, 2, 3)) + (
                    img[..., 1:] - img[..., :-1]
                ).abs().mean((1, 2, 3))
                loss = (-act + l2 * ((img - 0.5) ** 2).sum((1, 2, 3)) + tv * tv_loss * size).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                if blur_every and step % blur_every == blur_every - 1 and step < steps - blur_every:
                    with torch.no_grad():
                        z.copy_(torch.logit(gaussian_blur(torch.sigmoid(z), 0.5).clamp(1e-4, 1 - 1e-4)))
    finally:
        remove()
    return torch.sigmoid(z).detach().squeeze(1).cpu().numpy()


# --------------------------------------------------------------------------- where do maps point?

# Horizontal bands of a FER2013 face (the faces are roughly aligned: eyes near row 18 of 48).
REGIONS: dict[str, tuple[int, int]] = {
    "forehead": (0, 13),
    "eyes": (13, 24),
    "nose": (24, 32),
    "mouth": (32, 43),
    "chin": (43, 48),
}


def region_shares(maps: torch.Tensor) -> dict[str, float]:
    """Mean share of each map's absolute attribution that falls in each face band."""
    a = maps.detach().abs().float().squeeze(1)
    total = a.sum((1, 2)).clamp_min(1e-12)
    return {r: float((a[:, lo:hi].sum((1, 2)) / total).mean()) for r, (lo, hi) in REGIONS.items()}


def brightness_correlation(maps: torch.Tensor, x: torch.Tensor) -> float:
    """Mean Spearman correlation between |attribution| and pixel brightness, face by face.

    A method that mostly lights up bright skin (the original report's forehead guess) shows a
    high value; a map that follows features scores near zero.
    """
    return float(
        spearman(maps.detach().abs().flatten(1).float().cpu(), x.detach().flatten(1).float().cpu()).mean()
    )
