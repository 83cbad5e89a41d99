"""Accuracy, test-time augmentation, confusion matrices, per-class metrics and saved predictions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import CLASSES, FerData
from .device import borrowed, resolve_device
from .errors import ConfigError
from .names import TTA_MODES
from .runtime import inference_forward


def to_float_images(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 48, 48) -> float (N, 1, 48, 48) in [0, 1] on ``device``."""
    t = torch.as_tensor(images, device=device)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The views averaged at test time: none (1), flip (2) or tencrop (10).

    'tencrop' is the classic ten-crop adapted to a 48x48 input: the centre and four corner
    crops of a 2-pixel reflect-padded image (shifts of +-2 pixels), each with its mirror image.
    """
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x.flip(3)]
    if mode == "tencrop":
        h, w = x.shape[-2:]
        pad = F.pad(x, (2, 2, 2, 2), mode="reflect")
        crops = [pad[..., dy : dy + h, dx : dx + w] for dy, dx in ((2, 2), (0, 0), (0, 4), (4, 0), (4, 4))]
        return crops + [c.flip(3) for c in crops]
    raise ConfigError(f"unknown TTA mode '{mode}'; expected one of {', '.join(TTA_MODES)}.")


# Which views of each TTA mode's set the smaller modes reuse: ten-crop's first view is the face
# itself (the centre crop of the padded face) and its sixth the mirror image, so a ten-crop pass
# also gives the plain and the flip predictions.
_SHARED_VIEWS = {
    "none": {"none": [0]},
    "flip": {"none": [0], "flip": [0, 1]},
    "tencrop": {"none": [0], "flip": [0, 5], "tencrop": list(range(10))},
}


def predict_logits(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 1024,
    tta: str = "none",
    bf16: bool = False,
) -> torch.Tensor:
    """Logits (N, 7) in float32 on the CPU, averaged over the TTA views' softmax when tta != none.

    The model and the views run channels_last: the same predictions, about 1.4x faster on the
    CPU (``benchmarks/bench_evaluate.py`` prints the ratio). The caller's model is given back as it
    was: modes, gradients and layout.
    """
    return predict_logits_tta(model, images, (tta,), device=device, batch_size=batch_size, bf16=bf16)[tta]


@torch.no_grad()
def predict_logits_tta(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    ttas: Sequence[str],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 1024,
    bf16: bool = False,
    engine: str = "torch",
) -> dict[str, torch.Tensor]:
    """``predict_logits`` for several TTA modes at once: {mode: logits}, each view run once.

    The modes' views nest (the face, its mirror, then the other crops), so all of none, flip and
    tencrop cost the ten forward passes of tencrop, not 1 + 2 + 10; each mode's logits are the
    ones ``predict_logits`` gives it alone. ``engine`` runs the views (``fer_lib.runtime``: 'auto'
    is onnxruntime on the CPU where it is installed); under ``bf16`` torch runs them.
    """
    for tta in ttas:
        if tta not in TTA_MODES:
            raise ConfigError(f"unknown TTA mode '{tta}'; expected one of {', '.join(TTA_MODES)}.")
    base = max(ttas, key=TTA_MODES.index) if ttas else "none"
    picks = {tta: _SHARED_VIEWS[base][tta] for tta in ttas}
    device = resolve_device(device)
    out: dict[str, list[torch.Tensor]] = {tta: [] for tta in ttas}
    with borrowed(model):
        forward = inference_forward(model, device, "torch" if bf16 else engine)
        for i in range(0, len(images), batch_size):
            x = to_float_images(images[i : i + batch_size], device)
            views = [v.contiguous(memory_format=torch.channels_last) for v in tta_views(x, base)]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                raw = [forward(v).float() for v in views]
            probs = [r.softmax(1) for r in raw] if base != "none" else []
            for tta, idx in picks.items():
                if len(idx) == 1:
                    logits = raw[idx[0]]
                else:  # average probabilities, return their log: still valid logits
                    logits = torch.stack([probs[j] for j in idx]).mean(0).clamp_min(1e-12).log()
                out[tta].append(logits.cpu())
    return {tta: torch.cat(parts) if parts else torch.zeros(0, len(CLASSES)) for tta, parts in out.items()}


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Counts C[true, predicted]."""
    return np.bincount(
        np.asarray(labels) * n_classes + np.asarray(preds), minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)


def per_class_metrics(cm: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class name from a confusion matrix."""
    out = {}
    for i, c in enumerate(CLASSES[: len(cm)]):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i].sum() if cm[i].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[c] = {
            "precision": float(prec),
            "recall": float(rec),
            "f1": float(f1),
            "support": int(cm[i].sum()),
        }
    return out


def balanced_accuracy(cm: np.ndarray) -> float:
    """The mean of the per-class recalls (classes with no faces left out): what a model gets when every class
    counts the same."""
    support = cm.sum(1)
    recalls = np.diag(cm)[support > 0] / support[support > 0]
    return float(recalls.mean()) if len(recalls) else 0.0


def most_confused(cm: np.ndarray, k: int = 5) -> list[tuple[str, str, int, float]]:
    """The k largest off-diagonal cells: (true, predicted, count, share of the true class)."""
    off = cm.astype(float).copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(off, axis=None)[::-1][:k]
    rows = []
    for flat in order:
        t, p = divmod(int(flat), cm.shape[1])
        rows.append((CLASSES[t], CLASSES[p], int(cm[t, p]), float(cm[t, p] / max(cm[t].sum(), 1))))
    return rows


def evaluate_split(
    model: nn.Module,
    data: FerData,
    split: str,
    *,
    device: torch.device | str = "cpu",
    tta: str = "none",
    batch_size: int = 1024,
    save_to: str | Path | None = None,
    without_copies_of: Sequence[str] = (),
    check: Callable[[dict], None] | None = None,
) -> dict:
    """Accuracy, loss, confusion matrix and per-class metrics on one split; optionally save logits.

    ``without_copies_of`` (say ``("Training",)``) leaves out the faces whose exact pixels also appear
    in those splits (``FerData.copied_from``); the result's ``copies_left_out`` counts them. ``check``
    sees the result before the logits are saved: whatever it raises leaves ``save_to`` unwritten.
    """
    part = data.split(split)
    copies = (
        data.copied_from(split, tuple(without_copies_of)) if without_copies_of else np.zeros(len(part), bool)
    )
    part = part.subset(~copies)
    logits = predict_logits(model, part.images, device=device, tta=tta, batch_size=batch_size)
    labels = torch.as_tensor(part.labels)
    preds = logits.argmax(1).numpy()
    cm = confusion_matrix(part.labels, preds)
    result = {
        "split": split,
        "n": int(len(part)),
        "accuracy": float((preds == part.labels).mean()),
        "balanced_accuracy": balanced_accuracy(cm),
        "loss": float(F.cross_entropy(logits, labels)),
        "tta": tta,
        "copies_left_out": int(copies.sum()),
        "confusion_matrix": cm.tolist(),
        "per_class": per_class_metrics(cm),
    }
    if check is not None:
        check(result)
    if save_to is not None:
        save_predictions(save_to, split, logits.numpy(), part.labels)
    return result


def save_predictions(path: str | Path, split: str, logits: np.ndarray, labels: np.ndarray) -> Path:
    """Write logits and labels of one split to ``path`` (an .npz, written whole or not at all)."""
    from .files import write_atomic

    p = Path(path)
    if p.suffix.lower() != ".npz":  # numpy would write PATH.npz instead, without a word
        raise ConfigError(f"{p}: predictions are saved as .npz; give a file name ending in .npz.")
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "split": split,
        "logits": logits.astype(np.float32),
        "labels": labels.astype(np.int64),
        "classes": np.array(CLASSES),
    }
    return write_atomic(p, lambda f: np.savez_compressed(f, **arrays))


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> int:
    """Replace every BatchNorm layer's running mean and variance by its inputs' statistics over ``images``.

    The statistics are what the layer sees at test time: no augmentation, dropout off. The
    trainer's running averages (momentum 0.1, the last few dozen batches) are noisy, and they
    were gathered with dropout on, which widens the variance of every layer that follows a
    dropout (Li et al. 2019, "the variance shift"). One pass in float32; each layer normalises
    with its batch statistics during the pass and keeps the exact per-channel mean and
    (population) variance of its inputs over all images. Returns the number of layers updated.
    Those statistics are all it changes: the caller's model keeps its modes, gradients and layout.
    """
    device = resolve_device(device)
    layers = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not layers:
        return 0
    if len(images) < 2:
        raise ConfigError(f"recomputing BatchNorm statistics needs at least 2 images, got {len(images)}.")
    sums: dict[nn.Module, list[torch.Tensor]] = {}

    def collect(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        dims = [d for d in range(x.dim()) if d != 1]
        s = sums.setdefault(layer, [torch.zeros((), dtype=torch.float64), 0, 0])
        s[0] = s[0] + x.sum(dims).cpu()
        s[1] = s[1] + (x * x).sum(dims).cpu()
        s[2] += x.numel() // x.shape[1]

    hooks = [m.register_forward_pre_hook(collect) for m in layers]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
    try:
        with borrowed(model, layout=None):
            for m in layers:
                m.train()  # normalise with batch statistics during the pass; dropout stays off
            starts = list(range(0, len(images), batch_size))
            if (
                len(images) - starts[-1] == 1 and len(starts) > 1
            ):  # a batch of one has no variance: join it to the one before
                starts.pop()
            for i, j in zip(starts, [*starts[1:], len(images)]):
                model(to_float_images(images[i:j], device).contiguous(memory_format=torch.channels_last))
    finally:
        for h in hooks:
            h.remove()
        for m, (mean, var, n) in zip(layers, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(n)
    for m in layers:
        total, total_sq, count = sums[m]
        mean = total / count
        m.running_mean.copy_(mean.to(m.running_mean))
        m.running_var.copy_((total_sq / count - mean * mean).clamp_min(0).to(m.running_var))
    return len(layers)


def eval_batch_size(device: torch.device) -> int:
    """The evaluation batch size: on the CPU small batches are 10-25% faster than large ones
    (benchmarks/bench_evaluate.py)."""
    return 64 if device.type == "cpu" else 1024


def measure(
    model: nn.Module,
    data: FerData,
    splits: tuple[str, ...] = ("PublicTest", "PrivateTest"),
    ttas: tuple[str, ...] = ("none", "flip", "tencrop"),
    device: str | torch.device = "cpu",
    predictions: dict[str, str] | None = None,
    engine: str = "auto",
) -> dict[str, dict[str, float]]:
    """Accuracy per split and TTA mode: {split: {"accuracy": a, "accuracy_flip": ..., "accuracy_tencrop":
    ..., "n": n}}.

    The modes share their views (``predict_logits_tta``): all three cost ten forward passes a face,
    run by onnxruntime on the CPU where it is installed (``engine='auto'``, ``fer_lib.runtime``: 3-4x
    faster than torch here, and the same class for every test face of every shipped model, which
    ``tests/test_pretrained.py`` checks against the cards).
    Given a dict, ``predictions`` receives each split and mode's predicted classes, one digit a
    face in the split's order, under keys like ``"PrivateTest tencrop"`` (what a card keeps, so that
    a test can check a sample of faces against the card's headline number: ``check_predictions``).
    """
    device = resolve_device(device)
    batch = eval_batch_size(device)
    out: dict[str, dict[str, float]] = {}
    for split in splits:
        part = data.split(split)
        row: dict[str, float] = {"n": len(part)}
        for tta, logits in predict_logits_tta(
            model, part.images, ttas, device=device, batch_size=batch, engine=engine
        ).items():
            pred = logits.argmax(1).numpy()
            row["accuracy" if tta == "none" else f"accuracy_{tta}"] = float((pred == part.labels).mean())
            if predictions is not None:
                predictions[f"{split} {tta}"] = "".join(map(str, pred.tolist()))
        out[split] = row
    return out
