"""The trainer: the training faces on the device, batched augmentation, atomic checkpoints, exact resume.

``train`` reads top to bottom: setup, the resume check, then one loop over epochs, each a pass of
short steps (augment, forward, the loss chosen once, backward), a validation on PublicTest and a
checkpoint. Every epoch reseeds its own random streams from (seed, epoch), so a run resumed from
``last.pt`` replays exactly the epochs an uninterrupted run would have (bit for bit on the CPU).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .data import CLASSES, FerData
from .device import bf16_pays, resolve_device
from .errors import ConfigError, TrainingDiverged
from .evaluate import predict_logits, recompute_batchnorm
from .models import build_model, read_checkpoint, weights_fingerprint
from .recipe import ADAM_BETAS, SGD_MOMENTUM, TrainConfig, config_changes, retired_settings
from .rundir import RunFolder

__all__ = ["TrainConfig", "augment", "stratified_sample", "train"]


def train(
    cfg: TrainConfig,
    data: FerData,
    out_dir: str | Path,
    resume: bool = False,
    stop_after: int | None = None,
    force: bool = False,
    *,
    init: nn.Module | None = None,
    teacher: nn.Module | None = None,
) -> list[dict]:
    """Train ``cfg.model`` on Training, validate on PublicTest; return the per-epoch history.

    Writes ``last.pt`` every epoch and ``best.pt`` whenever PublicTest accuracy improves, plus
    ``history.json``; with ``resume`` it continues from ``last.pt``. ``stop_after`` ends this
    call after that many epochs, to be resumed later. A folder that holds another run is refused
    unless ``resume`` (continue it) or ``force`` (replace it); it is locked while this call trains.

    ``init`` (the weights a new run starts from) and ``teacher`` (the model it distils from) are the
    models that ``cfg.init`` and ``cfg.teacher`` name, which the run records (``fer_lib.pretrained.
    training_models`` loads them); a resumed run keeps last.pt's weights. Neither is changed.
    """
    cfg.check()
    for what, named, given in (("init", cfg.init, init), ("teacher", cfg.teacher, teacher)):
        if named and given is None:
            raise ConfigError(
                f"{what}: the recipe names '{named}' but no model came with it; pass {what}= the model "
                "(fer_lib.pretrained.training_models loads it)."
            )
        if given is not None and not named:
            raise ConfigError(
                f"{what}: a model came without a name in the recipe; set {what} to the name or path it was "
                "loaded from, which the run records."
            )
    if stop_after is not None:
        checks.integer("stop_after", stop_after, 1, "leave it out to train every planned epoch")
    if force and resume:
        raise ConfigError(
            f"--force and --resume contradict each other: --force replaces the run in {out_dir}, --resume "
            "continues it; pass only one."
        )
    with RunFolder(out_dir) as run:
        if force:
            run.clear()
        run.settle()  # a run killed at any moment: best.pt and history.json made to agree with last.pt
        held = run.existing_run_files()
        if held and not (resume and "last.pt" in held):
            what = "pass --resume to continue it, " if "last.pt" in held else ""
            raise ConfigError(
                f"{run.path} already holds a training run ({', '.join(held)}); {what}"
                "pass --force to replace it, or choose another --out folder."
            )
        return _train(cfg, data, run, resume and "last.pt" in held, stop_after, init, teacher)


def _train(
    cfg: TrainConfig,
    data: FerData,
    run: RunFolder,
    resume: bool,
    stop_after: int | None,
    init: nn.Module | None,
    teacher: nn.Module | None,
) -> list[dict]:
    # setup: the faces on the device as uint8 (28,709 x 48 x 48 is 66 MB), the model, the loss
    device = resolve_device(cfg.device)
    bf16 = use_bf16(cfg, device)
    train_part = data.split("Training")
    if cfg.limit:
        train_part = train_part.subset(stratified_sample(train_part.labels, cfg.limit, cfg.seed))
    val_part = data.split("PublicTest") if "PublicTest" in data.split_names() else None
    data_hash = data.data_hash()
    x_all = torch.as_tensor(train_part.images, device=device).unsqueeze(1)
    y_all = torch.as_tensor(train_part.labels, device=device)
    steps = math.ceil(len(train_part) / cfg.batch_size)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs).to(device)
    init_weights = None if resume else _start_from(model, cfg, init)
    loss_fn = make_loss(cfg, train_part, device, bf16, teacher)
    model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model.parameters())
    schedule = Schedule(cfg, opt, steps)
    bn_images = _batchnorm_sample(cfg, train_part)

    # the resume check: the run in last.pt must be this run
    state = RunState(init_weights=init_weights)
    if resume:
        state = _resume(run.path / "last.pt", cfg, model, opt, schedule, data_hash, loss_fn.teacher_weights)

    meta_base = {
        "model": cfg.model,
        "model_kwargs": cfg.model_kwargs,
        "config": cfg.to_json(),
        "config_changes": state.config_changes,
        "data_hash": data_hash,
        "data_source": data.source,
        "init_weights": state.init_weights,
        "teacher_weights": loss_fn.teacher_weights,
        "n_train": len(train_part),
        "classes": list(CLASSES),
        "torch": torch.__version__,
        "device": str(device),
        "bf16": bf16,
    }
    end = cfg.epochs if stop_after is None else min(cfg.epochs, state.epoch + stop_after)
    guard = DivergenceGuard(run.path / "last.pt", bf16)
    for epoch in range(state.epoch, end):
        t0 = time.perf_counter()
        entry = {"epoch": epoch + 1}
        entry.update(train_epoch(model, opt, schedule, loss_fn, x_all, y_all, cfg, epoch, bf16, guard))
        if bn_images is not None:  # test-time statistics (dropout off, no augmentation), not running averages
            recompute_batchnorm(model, bn_images, batch_size=cfg.eval_batch, device=device)
        if val_part is not None:
            entry.update(validate(model, val_part, cfg.eval_batch, device, bf16))
            schedule.after_epoch(entry["val_acc"])
        entry["seconds"] = time.perf_counter() - t0
        state.history.append(entry)
        improved = val_part is not None and entry["val_acc"] > state.best_acc
        if improved:
            state.best_acc = entry["val_acc"]
        meta = json.dumps(
            dict(meta_base, epoch=epoch + 1, history=state.history, best_val_acc=state.best_acc)
        )
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        last = {
            "model": weights,
            "optimizer": opt.state_dict(),
            "scheduler": schedule.state_dict(),
            "meta": meta,
        }
        best = {"model": weights, "meta": meta} if improved or val_part is None else None
        run.commit(last, best, state.history)
    return state.history


class Batch(NamedTuple):
    """What a loss may look at beside the logits and labels: the rows taken, the augmented faces, the
    flips."""

    idx: torch.Tensor
    x: torch.Tensor
    flips: torch.Tensor | None


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    schedule: Schedule,
    loss_fn: CrossEntropy,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    cfg: TrainConfig,
    epoch: int,
    bf16: bool,
    guard: DivergenceGuard,
) -> dict[str, float]:
    """One pass over the training faces in a seeded order: the mean loss, cross-entropy, accuracy and rate."""
    device = x_all.device
    seed = _epoch_seed(cfg.seed, epoch)
    torch.manual_seed(seed)  # dropout
    g = torch.Generator(device=device).manual_seed(seed)  # order and augmentation
    order = torch.randperm(len(x_all), generator=g, device=device)
    steps = math.ceil(len(x_all) / cfg.batch_size)
    loss_sum, ce_sum = torch.zeros((), device=device), torch.zeros((), device=device)
    correct, seen = torch.zeros((), device=device, dtype=torch.long), 0
    model.train()
    bar = _progress(cfg, steps, f"epoch {epoch + 1}/{cfg.epochs}")
    for step in range(steps):
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        if len(idx) < 2:  # BatchNorm needs two faces
            continue
        x, flips = augment(x_all[idx].float().div_(255.0), cfg, g, return_flips=True)
        x = x.contiguous(memory_format=torch.channels_last)
        y = y_all[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x).float()
            loss = loss_fn(logits, y, Batch(idx, x, flips))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.after_step()
        with torch.no_grad():
            loss_sum += loss.detach() * len(idx)
            ce_sum += F.cross_entropy(logits.detach(), y) * len(idx)  # the report's loss, whatever is trained
            correct += (logits.argmax(1) == y).sum()
            seen += len(idx)
        if step % 50 == 0 or step == steps - 1:  # one sync every 50 steps keeps a divergence from running on
            guard.check(float(loss.detach()), epoch, step)
            if bar is not None:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    loss = float(loss_sum / seen)
    guard.check(loss, epoch, steps - 1)
    return {
        "loss": loss,
        "ce": float(ce_sum / seen),
        "acc": float(correct.float() / seen),
        "lr": opt.param_groups[0]["lr"],
    }


@torch.no_grad()
def validate(
    model: nn.Module, part: FerData, batch_size: int, device: torch.device, bf16: bool
) -> dict[str, float]:
    """Cross-entropy and accuracy on a split (PublicTest), as the epoch's val_loss and val_acc."""
    logits = predict_logits(model, part.images, device=device, batch_size=batch_size, bf16=bf16)
    return {
        "val_loss": float(F.cross_entropy(logits, torch.as_tensor(part.labels))),
        "val_acc": float((logits.argmax(1).numpy() == part.labels).mean()),
    }


# --------------------------------------------------------------------------- the loss, chosen once


class CrossEntropy:
    """The report's loss: cross-entropy with the labels (optionally label-smoothed)."""

    teacher_weights: str | None = None

    def __init__(self, smoothing: float = 0.0):
        self.smoothing = smoothing

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(logits, labels, label_smoothing=self.smoothing)


class Distillation(CrossEntropy):
    """(1 - weight) x cross-entropy + weight x the soft-target term of a teacher (Hinton et al. 2015).

    Where the training faces vary only by mirroring, the teacher's logits for every face and its
    mirror image are computed once (``cache``, shape (views, N, 7)) instead of every step.
    """

    def __init__(
        self, smoothing: float, teacher: nn.Module, weight: float, temp: float, cache: torch.Tensor | None
    ):
        super().__init__(smoothing)
        self.teacher, self.weight, self.temp, self.cache = teacher, weight, temp, cache
        self.teacher_weights = weights_fingerprint(teacher)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, batch: Batch) -> torch.Tensor:
        if self.cache is not None:
            t_logits = self.cache[0 if batch.flips is None else batch.flips.long(), batch.idx]
        else:  # the teacher sees the student's augmented batch
            with torch.no_grad():
                t_logits = self.teacher(batch.x).float()
        ce = super().__call__(logits, labels, batch)
        return (1 - self.weight) * ce + self.weight * distill_loss(logits, t_logits, self.temp)


def _only_mirrored(cfg: TrainConfig) -> bool:
    """Whether a training face can only look like itself or its mirror image."""
    return not (cfg.shift or cfg.rotate or cfg.scale or cfg.erase > 0)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temp: float) -> torch.Tensor:
    """The soft-target term: temp^2 * KL(softmax(teacher/temp) || softmax(student/temp)), batch mean."""
    log_p = F.log_softmax(student / temp, dim=1)
    log_q = F.log_softmax(teacher / temp, dim=1)
    return F.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * temp * temp


def make_loss(
    cfg: TrainConfig, part: FerData, device: torch.device, bf16: bool, teacher: nn.Module | None = None
) -> CrossEntropy:
    """Cross-entropy, or distillation from ``teacher`` (its logits cached where that is exact)."""
    if teacher is None:
        return CrossEntropy(cfg.label_smoothing)
    teacher = copy.deepcopy(teacher).to(device).eval()  # the caller's model keeps its mode and gradients
    for p in teacher.parameters():
        p.requires_grad_(False)
    cache = None
    if _only_mirrored(cfg):  # a face or its mirror image: two views
        views = [part.images] + ([part.images[:, :, ::-1]] if cfg.flip else [])
        cache = torch.stack(
            [
                predict_logits(
                    teacher, np.ascontiguousarray(v), device=device, batch_size=cfg.eval_batch, bf16=bf16
                )
                for v in views
            ]
        ).to(device)
    return Distillation(cfg.label_smoothing, teacher, cfg.distill, cfg.distill_temp, cache)


# --------------------------------------------------------------------------- optimiser and schedule


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=ADAM_BETAS, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=SGD_MOMENTUM, nesterov=True, weight_decay=cfg.weight_decay
    )


class Schedule:
    """The learning rate over a run: stepped every batch (cosine, one-cycle), halved when PublicTest
    accuracy stalls for more than 3 epochs (plateau), or constant."""

    def __init__(self, cfg: TrainConfig, opt: torch.optim.Optimizer, steps_per_epoch: int):
        total = cfg.epochs * steps_per_epoch
        lr = torch.optim.lr_scheduler
        self.kind = cfg.schedule
        self.scheduler = {
            "cosine": lambda: lr.CosineAnnealingLR(opt, T_max=total),
            "onecycle": lambda: lr.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2),
            "plateau": lambda: lr.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3),
            "constant": lambda: None,
        }[cfg.schedule]()

    def after_step(self) -> None:
        if self.kind in ("cosine", "onecycle"):
            self.scheduler.step()

    def after_epoch(self, val_acc: float) -> None:
        if self.kind == "plateau":
            self.scheduler.step(val_acc)

    def state_dict(self) -> dict | None:
        return None if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


# --------------------------------------------------------------------------- starting and resuming


@dataclass
class RunState:
    """Where a run stands: its epochs so far, the best PublicTest accuracy, where it started from."""

    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    best_acc: float = -1.0
    init_weights: str | None = None  # the fingerprint of the weights the run started from
    config_changes: list[dict] = field(default_factory=list)


def _start_from(model: nn.Module, cfg: TrainConfig, init: nn.Module | None) -> str | None:
    """Load ``init``'s weights into a fresh model; their fingerprint (None without ``init``)."""
    if init is None:
        return None
    try:
        model.load_state_dict(init.state_dict())
    except RuntimeError as e:
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise ConfigError(
            f"init: {cfg.init} does not fit a '{cfg.model}' {cfg.model_kwargs or ''}({first.rstrip('.')})."
        ) from None
    return weights_fingerprint(init)


def _resume(
    last_path: Path,
    cfg: TrainConfig,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    schedule: Schedule,
    data_hash: str,
    teacher_weights: str | None,
) -> RunState:
    """Load last.pt into the model, optimiser and schedule after checking it is a run of ``cfg``."""
    ckpt, meta = read_checkpoint(last_path, model_device(model))
    old = meta["config"]
    if meta["model"] != cfg.model:
        raise ConfigError(f"{last_path} holds a '{meta['model']}' run; cannot resume it as '{cfg.model}'.")
    if old.get("model_kwargs", {}) != cfg.model_kwargs:
        raise ConfigError(
            f"{last_path} holds a '{meta['model']}' built with {old.get('model_kwargs', {})}; "
            f"cannot resume it as one built with {cfg.model_kwargs}."
        )
    if "optimizer" not in ckpt:
        raise ConfigError(f"{last_path} holds weights only (a compact copy of a run); it cannot be resumed.")
    if retired_settings(old):
        raise ConfigError(f"{last_path} uses {retired_settings(old)}, which the trainer no longer offers.")
    if meta["data_hash"] != data_hash:
        raise ConfigError(
            f"{last_path} was trained on other data (hash {meta['data_hash']}, now {data_hash}); "
            "use a new --out folder."
        )
    if teacher_weights and meta.get("teacher_weights") not in (None, teacher_weights):
        raise ConfigError(
            f"{last_path} was distilled from other weights (fingerprint {meta['teacher_weights']}) than the "
            f"teacher {cfg.teacher} holds now ({teacher_weights}); resume it with the run's own teacher, "
            "or use a new --out folder."
        )
    per_step = cfg.schedule in ("cosine", "onecycle")
    if per_step and old["epochs"] != cfg.epochs:
        raise ConfigError(
            f"{last_path} was planned for {old['epochs']} epochs with the '{cfg.schedule}' schedule; "
            f"resume it with --epochs {old['epochs']}."
        )
    new_rate = old["lr"] != cfg.lr or old["schedule"] != cfg.schedule
    if new_rate and per_step:
        raise ConfigError(
            f"{last_path} ran with the '{old['schedule']}' schedule at lr {old['lr']:g}; "
            f"a '{cfg.schedule}' schedule cannot take over in the middle of a run."
        )
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    if new_rate:  # a new rate or schedule starts from cfg.lr with a fresh schedule (noted in config_changes)
        for group in opt.param_groups:
            group["lr"] = cfg.lr
    else:
        schedule.load_state_dict(ckpt.get("scheduler"))
    changes = list(meta.get("config_changes", []))
    change = config_changes(old, cfg, meta["epoch"] + 1)
    if change:  # e.g. a constant-rate run extended with a plateau schedule: the card says so
        changes.append(change)
    return RunState(meta["history"], meta["epoch"], meta["best_val_acc"], meta.get("init_weights"), changes)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batchnorm_sample(cfg: TrainConfig, part: FerData) -> np.ndarray | None:
    """The fixed, stratified Training sample whose statistics replace BatchNorm's before each validation."""
    if not cfg.bn_recompute:
        return None
    n = min(cfg.bn_recompute, len(part))
    return part.images if n == len(part) else part.images[stratified_sample(part.labels, n, cfg.seed)]


# --------------------------------------------------------------------------- augmentation


def augment(x: torch.Tensor, cfg: TrainConfig, g: torch.Generator, *, return_flips: bool = False):
    """Random flip, shift, rotation, scale and erasing for a whole batch in a few tensor ops.

    With ``return_flips`` it returns ``(x, flips)``: which images were mirrored (None without flips).
    """
    b, _, h, w = x.shape
    dev = x.device
    flip = None

    def uniform(n: int) -> torch.Tensor:  # in [-1, 1)
        return torch.rand(n, generator=g, device=dev) * 2 - 1

    if cfg.flip:
        flip = torch.rand(b, generator=g, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if cfg.shift or cfg.rotate or cfg.scale:
        ang = uniform(b) * math.radians(cfg.rotate)
        s = 1 + uniform(b) * cfg.scale
        tx, ty = uniform(b) * cfg.shift * 2 / w, uniform(b) * cfg.shift * 2 / h
        cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.erase > 0:
        area = (0.02 + torch.rand(b, generator=g, device=dev) * 0.18) * h * w
        aspect = torch.exp(uniform(b) * math.log(3))
        eh = (area * aspect).sqrt().clamp(1, h)
        ew = (area / aspect).sqrt().clamp(1, w)
        y0 = torch.rand(b, generator=g, device=dev) * (h - eh)
        x0 = torch.rand(b, generator=g, device=dev) * (w - ew)
        yy = torch.arange(h, device=dev)[None, :, None]
        xx = torch.arange(w, device=dev)[None, None, :]
        box = (
            (yy >= y0[:, None, None])
            & (yy < (y0 + eh)[:, None, None])
            & (xx >= x0[:, None, None])
            & (xx < (x0 + ew)[:, None, None])
        )
        on = torch.rand(b, generator=g, device=dev) < cfg.erase
        fill = torch.rand(b, generator=g, device=dev)
        x = torch.where((box & on[:, None, None])[:, None], fill[:, None, None, None], x)
    if cfg.photo:
        x = photo_like(x, g)
    return (x, flip) if return_flips else x


# what photos bring that FER2013's faces rarely have (``cfg.photo``); the ranges of the fine-tune that
# reads real photos better (docs/DEVSET.md, "Training aimed at photos")
PHOTO_GAMMA = 1.6  # brightness curve: gamma drawn log-uniformly in [1/PHOTO_GAMMA, PHOTO_GAMMA]
PHOTO_BLUR = (0.2, 0.8)  # gaussian blur sigma (pixels), for half the faces
PHOTO_SHARPEN = 0.8  # unsharp-mask amount (up to), for the other half
PHOTO_NOISE = 0.02  # sensor noise: gaussian, sd drawn in [0, PHOTO_NOISE] of the full range


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each face blurred by its own sigma (a 5x5 separable kernel a face)."""
    r = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
    k = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    k = k / k.sum(1, keepdim=True)
    b = len(x)
    pad = F.pad(x.transpose(0, 1), (2, 2, 2, 2), mode="replicate")  # (1, B, H+4, W+4): faces as channels
    rows = F.conv2d(pad, k.view(b, 1, 1, 5), groups=b)
    return F.conv2d(rows, k.view(b, 1, 5, 1), groups=b).transpose(0, 1)


def photo_like(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Faces in [0, 1] given what photos bring: a gamma curve, then blur or sharpening, then noise."""
    b, dev = len(x), x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=g, device=dev)

    gamma = torch.exp(u(-math.log(PHOTO_GAMMA), math.log(PHOTO_GAMMA)))
    x = x.clamp(0, 1) ** gamma[:, None, None, None]
    blurred = _blur(x, u(*PHOTO_BLUR))
    soft = _blur(x, torch.full((b,), 1.0, device=dev))
    sharp = (x + u(0, PHOTO_SHARPEN)[:, None, None, None] * (x - soft)).clamp(0, 1)
    pick = (torch.rand(b, generator=g, device=dev) < 0.5)[:, None, None, None]
    x = torch.where(pick, blurred, sharp)
    noise = torch.randn(x.shape, generator=g, device=dev) * u(0, PHOTO_NOISE)[:, None, None, None]
    return (x + noise).clamp(0, 1)


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of ``n`` rows with the class proportions of ``labels``."""
    rng = np.random.default_rng(seed)
    n = min(n, len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    take = np.maximum(1, np.floor(counts * n / len(labels))).astype(int)
    while take.sum() < n:  # hand out the remainder to the largest classes
        take[np.argmax(counts - take)] += 1
    idx = [rng.choice(np.flatnonzero(labels == c), k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(idx))


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.bf16 if cfg.bf16 is not None else bf16_pays(device)


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def _progress(cfg: TrainConfig, total: int, desc: str) -> Any:
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, mininterval=1.0)


class DivergenceGuard:
    """Stops a run whose loss diverged: not finite, or above ``FACTOR`` times where it started.

    Where it started is the larger of the first loss this call checks (its first step) and
    chance-level cross-entropy, ln 7 = 1.95. The loss is checked every 50th step and once per
    epoch (its mean); it is raised before the epoch is committed, so last.pt keeps the last
    good epoch. A run that learns stays below its start: in the 21 shipped and recorded runs no
    epoch's mean loss exceeds 0.95 times that reference, so 20 times is never met by a normal
    run, while a learning rate far too high (``--lr 1e6``) passes it within the first epoch.
    """

    FACTOR = 20.0

    def __init__(self, last: Path, bf16: bool) -> None:
        self.last, self.bf16, self.start = last, bf16, None

    def check(self, value: float, epoch: int, step: int) -> None:
        if self.start is None and math.isfinite(value):
            self.start = max(value, math.log(len(CLASSES)))
        if math.isfinite(value) and value <= self.FACTOR * self.start:
            return
        how = (
            f"became {value}"
            if not math.isfinite(value)
            else f"reached {value:.3g}, more than {self.FACTOR:g} times where it started ({self.start:.3g})"
        )
        kept = (
            f"the last good checkpoint is kept at {self.last}"
            if self.last.exists()
            else "no checkpoint was written yet"
        )
        bf16 = " or turn off bf16 (--no-bf16)" if self.bf16 else ""
        raise TrainingDiverged(
            f"the training loss {how} at epoch {epoch + 1}, step {step + 1}; {kept}, so lower the learning "
            f"rate (--lr){bf16} and train again."
        )
