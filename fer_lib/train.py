"""The trainer: data on the device, batched augmentation, atomic checkpoints, exact resume, DDP.

Every epoch reseeds its own random streams from (seed, epoch), so a run resumed from ``last.pt``
replays exactly the epochs an uninterrupted run would have (bit for bit on the CPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .data import CLASSES, FerData
from .device import bf16_pays, resolve_device
from .errors import ConfigError, TrainingDiverged
from .evaluate import predict_logits
from .models import build_model, checkpoint_meta, half_state_dict, weights_fingerprint
from .rundir import RunFolder, atomic_save

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle", "plateau")
# settings that do not change what is learned; a resume may change them without a note
RUNTIME_KEYS = ("device", "progress", "eval_batch", "compile")


@dataclass
class TrainConfig:
    """Plain training settings; the defaults are the original report's setup."""

    model: str = "report_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    schedule: str = "constant"
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Beta(alpha, alpha) mixing; 0 turns it off
    flip: bool = True
    shift: float = 4.0  # pixels
    rotate: float = 10.0  # degrees
    scale: float = 0.1
    erase: float = 0.0  # probability of erasing a random rectangle
    ema: float = (
        0.0  # decay of an exponential moving average of the weights; 0 is off (validated and kept when on)
    )
    init: str | None = (
        None  # start from these weights (a pretrained name or a checkpoint path), not from random ones
    )
    teacher: str | None = None  # distil from this model (a pretrained name or a checkpoint path)
    distill: float = 0.0  # weight of the distillation term in the loss (0 to 1)
    distill_temp: float = 4.0  # softmax temperature of the distillation term
    bn_recompute: int = (
        0  # before each validation, recompute BatchNorm statistics from this many Training images; 0 is off
    )
    seed: int = 0
    limit: int | None = None  # train on a stratified sample of this many Training images
    device: str = "auto"
    bf16: bool | None = None  # None: on where it pays (CUDA with bf16, CPUs with AMX or AVX512-BF16)
    channels_last: bool = True
    compile: bool = False
    eval_batch: int = 1024
    progress: bool = True

    def check(self) -> None:
        """Every setting within its range: one ConfigError sentence naming the first that is not."""
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer '{self.optimizer}'; expected one of {', '.join(OPTIMIZERS)}."
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{self.schedule}'; expected one of {', '.join(SCHEDULES)}.")
        checks.integer("epochs", self.epochs, 1)
        checks.integer("batch_size", self.batch_size, 2, "BatchNorm needs two faces a batch")
        checks.number("lr", self.lr, 0, low_open=True, hint="a learning rate such as 1e-3")
        checks.number("weight_decay", self.weight_decay, 0, hint="0 turns it off")
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        for i, b in enumerate(self.betas):
            checks.number(f"betas[{i}]", b, 0, 1, high_open=True)
        checks.number(
            "label_smoothing", self.label_smoothing, 0, 1, high_open=True, hint="0.1 is usual, 0 turns it off"
        )
        checks.number("mixup", self.mixup, 0, hint="0 turns it off")
        checks.number("erase", self.erase, 0, 1, hint="a probability")
        for name in ("shift", "rotate", "scale"):
            checks.number(name, getattr(self, name), 0, hint="0 turns it off")
        checks.number("ema", self.ema, 0, 1, high_open=True, hint="a decay such as 0.999; 0 turns it off")
        checks.number("distill", self.distill, 0, 1, hint="the weight of the distillation term")
        checks.number("distill_temp", self.distill_temp, 0, low_open=True)
        if (self.teacher is None) != (self.distill == 0.0):
            raise ConfigError("distillation needs both a teacher and a distill weight above 0.")
        if self.bn_recompute != 0:
            checks.integer("bn_recompute", self.bn_recompute, len(CLASSES), "0 turns it off")
        if self.limit is not None:
            checks.integer("limit", self.limit, len(CLASSES), "one image per class at least")
        checks.integer("eval_batch", self.eval_batch, 1)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


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
    return (x, flip) if return_flips else x


# --------------------------------------------------------------------------- helpers


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


def _varies_beyond_flips(cfg: TrainConfig) -> bool:
    """Whether a training image can look other than itself or its mirror image."""
    return bool(cfg.shift or cfg.rotate or cfg.scale or cfg.erase > 0 or cfg.mixup > 0)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temp: float) -> torch.Tensor:
    """Hinton et al.'s soft-target term: temp^2 * KL(softmax(teacher/temp) || softmax(student/temp)), batch mean."""
    log_p = F.log_softmax(student / temp, dim=1)
    log_q = F.log_softmax(teacher / temp, dim=1)
    return F.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * temp * temp


class WeightAverage:
    """An exponential moving average of a model's parameters and BatchNorm statistics.

    The decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates, so that the
    average of a freshly initialised model is not dominated by its random weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, now in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(now.detach(), 1.0 - d)
            else:
                avg.copy_(now)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


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
    (population) variance of its inputs over all images. Returns the number of layers updated;
    the model is left in eval mode.
    """
    from .evaluate import to_float_images

    device = torch.device(device)
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

    model.eval()
    hooks = [m.register_forward_pre_hook(collect) for m in layers]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
    try:
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
        model.eval()
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


def _load_weights(source: str, what: str, device: torch.device, data_hash: str) -> tuple[nn.Module, dict]:
    """A model to start from or to distil from; warns when it was trained on other data than this run's."""
    import warnings

    from .pretrained import load_model

    try:
        net, meta = load_model(source, device=device)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    if meta.get("data_hash") != data_hash:
        warnings.warn(
            f"the {what} {source} was trained on other data (hash {meta.get('data_hash')}, this run's is {data_hash}); "
            "if it saw this run's validation faces, the validation accuracy will read too high.",
            stacklevel=3,
        )
    return net, meta


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> bool:
    """Join the process group that torchrun describes in the environment (if any)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return torch.distributed.is_initialized()
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


# --------------------------------------------------------------------------- the trainer


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )


def make_scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
    return None


def train(
    cfg: TrainConfig,
    data: FerData,
    out_dir: str | Path,
    resume: bool = False,
    stop_after: int | None = None,
    force: bool = False,
) -> list[dict]:
    """Train ``cfg.model`` on Training, validate on PublicTest; return the per-epoch history.

    Writes ``last.pt`` every epoch and ``best.pt`` whenever PublicTest accuracy improves, plus
    ``history.json``; with ``resume`` it continues from ``last.pt``. ``stop_after`` ends this
    call after that many epochs (a time-boxed session), to be resumed later. A folder that holds
    another run is refused unless ``resume`` (continue it) or ``force`` (replace it); it is locked
    while this call trains into it.
    """
    cfg.check()
    if stop_after is not None:
        checks.integer("stop_after", stop_after, 1, "leave it out to train every planned epoch")
    run = RunFolder(out_dir)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 writes
        return _train(cfg, data, run, resume, stop_after)
    with run:
        if force:
            run.clear()
        run.settle()  # a run killed at any moment: best.pt and history.json made to agree with last.pt
        held = run.existing_run_files()
        if held and not (resume and "last.pt" in held):
            what = "pass --resume to continue it, " if "last.pt" in held else ""
            raise ConfigError(
                f"{run.path} already holds a training run ({', '.join(held)}); {what}pass --force to replace it, "
                "or choose another --out folder."
            )
        return _train(cfg, data, run, resume, stop_after)


def _train(
    cfg: TrainConfig, data: FerData, run: RunFolder, resume: bool, stop_after: int | None
) -> list[dict]:
    device = resolve_device(cfg.device)
    distributed = init_distributed(device)
    rank, world = _dist_info()
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    out = run.path

    train_part = data.split("Training")
    if cfg.limit:
        train_part = _take(train_part, stratified_sample(train_part.labels, cfg.limit, cfg.seed))
    val_part = data.split("PublicTest") if "PublicTest" in data.split_names() else None
    data_hash = data.data_hash()

    # the whole training set lives on the device as uint8: 28,709 x 48 x 48 is 66 MB
    x_all = torch.as_tensor(train_part.images, device=device).unsqueeze(1)
    y_all = torch.as_tensor(train_part.labels, device=device)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs).to(device)
    init_weights = None  # the fingerprint of the weights the run started from (a resumed run keeps its own)
    if cfg.init and not (resume and (out / "last.pt").exists()):
        start, start_meta = _load_weights(cfg.init, "init", device, data_hash)
        if start_meta["model"] != cfg.model or start_meta.get("model_kwargs", {}) != cfg.model_kwargs:
            raise ConfigError(f"init: {cfg.init} holds a '{start_meta['model']}' model, not '{cfg.model}'.")
        model.load_state_dict(start.state_dict())
        init_weights = weights_fingerprint(start)
    teacher = teacher_weights = None
    if cfg.teacher:
        teacher = _load_weights(cfg.teacher, "teacher", device, data_hash)[0].eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher_weights = weights_fingerprint(teacher)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    bf16 = use_bf16(cfg, device)
    steps_per_epoch = math.ceil(len(train_part) / cfg.batch_size)
    opt = make_optimizer(cfg, model.parameters())
    sched = make_scheduler(cfg, opt, steps_per_epoch)
    ema = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    teacher_cache = (
        None  # (views, N, 7): the teacher's logits for each image and, with flips, its mirror image
    )
    if teacher is not None and not _varies_beyond_flips(cfg):  # two views at most: one pass over each
        views = [train_part.images] + ([train_part.images[:, :, ::-1]] if cfg.flip else [])
        teacher_cache = torch.stack(
            [
                predict_logits(
                    teacher, np.ascontiguousarray(v), device=device, batch_size=cfg.eval_batch, bf16=bf16
                )
                for v in views
            ]
        ).to(device)

    bn_images = None
    if cfg.bn_recompute:  # a fixed, stratified sample: the same images before every validation
        n = min(cfg.bn_recompute, len(train_part))
        bn_images = (
            train_part.images
            if n == len(train_part)
            else train_part.images[stratified_sample(train_part.labels, n, cfg.seed)]
        )

    history: list[dict] = []
    config_changes: list[dict] = []
    start_epoch = 0
    best_acc = -1.0
    last_path = out / "last.pt"
    if resume and last_path.exists():
        ckpt = torch.load(last_path, map_location=device, weights_only=True)
        meta = json.loads(ckpt["meta"])
        if meta["model"] != cfg.model:
            raise ConfigError(
                f"{last_path} holds a '{meta['model']}' run; cannot resume it as '{cfg.model}'."
            )
        built_with = meta["config"].get("model_kwargs", {})
        if built_with != cfg.model_kwargs:
            raise ConfigError(
                f"{last_path} holds a '{meta['model']}' built with {built_with}; "
                f"cannot resume it as one built with {cfg.model_kwargs}."
            )
        if "optimizer" not in ckpt:
            raise ConfigError(
                f"{last_path} holds weights only (a compact copy of a run); it cannot be resumed."
            )
        if meta["data_hash"] != data_hash:
            raise ConfigError(
                f"{last_path} was trained on other data (hash {meta['data_hash']}, now {data_hash}); use a new --out folder."
            )
        if teacher_weights and meta.get("teacher_weights") not in (None, teacher_weights):
            raise ConfigError(
                f"{last_path} was distilled from other weights (fingerprint {meta['teacher_weights']}) than the teacher "
                f"{cfg.teacher} holds now ({teacher_weights}); resume it with the run's own teacher, or use a new --out folder."
            )
        old_epochs, old_lr, old_schedule = (
            meta["config"]["epochs"],
            meta["config"]["lr"],
            meta["config"]["schedule"],
        )
        if cfg.schedule in ("cosine", "onecycle") and old_epochs != cfg.epochs:
            raise ConfigError(
                f"{last_path} was planned for {old_epochs} epochs with the '{cfg.schedule}' schedule; "
                f"resume it with --epochs {old_epochs}."
            )
        new_lr = old_lr != cfg.lr or old_schedule != cfg.schedule
        if new_lr and cfg.schedule in ("cosine", "onecycle"):
            raise ConfigError(
                f"{last_path} ran with the '{old_schedule}' schedule at lr {old_lr:g}; a '{cfg.schedule}' schedule "
                "cannot take over in the middle of a run."
            )
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if (
            new_lr
        ):  # a new rate or schedule starts from cfg.lr with a fresh scheduler (recorded in config_changes)
            for group in opt.param_groups:
                group["lr"] = cfg.lr
        elif sched is not None and ckpt.get("scheduler") is not None:
            sched.load_state_dict(ckpt["scheduler"])
        if ema is not None:
            if ckpt.get("ema") is not None:
                ema.load_state_dict(ckpt["ema"])
            else:  # a run that starts averaging now: the average starts from the current weights
                ema.model.load_state_dict(model.state_dict())
        history, start_epoch, best_acc = meta["history"], meta["epoch"], meta["best_val_acc"]
        init_weights = meta.get("init_weights")
        config_changes = list(meta.get("config_changes", []))
        now = cfg.to_json()
        changed = {
            k: [v, now.get(k)] for k, v in meta["config"].items() if k not in RUNTIME_KEYS and now.get(k) != v
        }
        if changed:  # e.g. a constant-LR run extended with a plateau schedule: the card says so
            config_changes.append({"from_epoch": start_epoch + 1, "changed": changed})

    net: nn.Module = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile:
        net = torch.compile(net)

    meta_base = {
        "model": cfg.model,
        "model_kwargs": cfg.model_kwargs,
        "config": cfg.to_json(),
        "config_changes": config_changes,
        "data_hash": data_hash,
        "data_source": data.source,
        "init_weights": init_weights,
        "teacher_weights": teacher_weights,
        "n_train": len(train_part),
        "classes": list(CLASSES),
        "torch": torch.__version__,
        "device": str(device),
        "world_size": world,
        "bf16": bf16,
    }

    end_epoch = cfg.epochs if stop_after is None else min(cfg.epochs, start_epoch + stop_after)
    for epoch in range(start_epoch, end_epoch):
        t0 = time.perf_counter()
        es = _epoch_seed(cfg.seed, epoch)
        torch.manual_seed(es)  # dropout
        g = torch.Generator(device=device).manual_seed(es)  # order and augmentation
        perm = torch.randperm(len(train_part), generator=g, device=device)
        mix_rng = np.random.default_rng(es)
        net.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        bar = _progress(cfg, rank, steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}")
        for step in range(steps_per_epoch):
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            if world > 1:
                idx = idx[rank::world]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = x_all[idx].float().div_(255.0)
            xb, flips = augment(xb, cfg, g, return_flips=True)
            xb = xb.contiguous(memory_format=memory_format)
            yb = y_all[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                if cfg.mixup > 0:
                    lam = float(mix_rng.beta(cfg.mixup, cfg.mixup))
                    j = torch.randperm(len(idx), generator=g, device=device)
                    xb = lam * xb + (1 - lam) * xb[j]  # the mixed batch, which the teacher sees too
                    logits = net(xb).float()
                    loss = lam * F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing) + (
                        1 - lam
                    ) * F.cross_entropy(logits, yb[j], label_smoothing=cfg.label_smoothing)
                else:
                    logits = net(xb).float()
                    loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
                if teacher is not None:
                    if teacher_cache is not None:
                        t_logits = teacher_cache[0 if flips is None else flips.long(), idx]
                    else:  # the teacher sees the student's (augmented, mixed) batch
                        with torch.no_grad():
                            t_logits = teacher(xb).float()
                    loss = (1 - cfg.distill) * loss + cfg.distill * distill_loss(
                        logits, t_logits, cfg.distill_temp
                    )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(model)
            if sched is not None and cfg.schedule != "plateau":
                sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(idx)
            if step % 50 == 0 or step == steps_per_epoch - 1:
                current = float(loss.detach())  # one sync every 50 steps keeps a divergence from running on
                if not math.isfinite(current):
                    _diverged(epoch, step, current, last_path, rank)
                if bar is not None:
                    bar.set_postfix(loss=f"{current:.3f}")
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        stats = torch.stack([loss_sum, correct.float(), torch.tensor(float(seen), device=device)])
        if world > 1:
            torch.distributed.all_reduce(stats)
        train_loss = float(stats[0] / stats[2])
        if not math.isfinite(train_loss):
            _diverged(epoch, steps_per_epoch - 1, train_loss, last_path, rank)
        entry = {
            "epoch": epoch + 1,
            "loss": train_loss,
            "acc": float(stats[1] / stats[2]),
            "lr": opt.param_groups[0]["lr"],
        }
        kept = model if ema is None else ema.model  # the weights that are validated and saved as best.pt
        if (
            bn_images is not None
        ):  # test-time statistics (dropout off, no augmentation) replace the running averages
            recompute_batchnorm(kept, bn_images, batch_size=cfg.eval_batch, device=device)
        if val_part is not None:
            labels = torch.as_tensor(val_part.labels)
            logits = predict_logits(
                kept, val_part.images, device=device, batch_size=cfg.eval_batch, bf16=bf16
            )
            entry["val_loss"] = float(F.cross_entropy(logits, labels))
            entry["val_acc"] = float((logits.argmax(1).numpy() == val_part.labels).mean())
            if ema is not None:  # the raw weights, for comparison
                if bn_images is not None:
                    recompute_batchnorm(model, bn_images, batch_size=cfg.eval_batch, device=device)
                raw = predict_logits(
                    model, val_part.images, device=device, batch_size=cfg.eval_batch, bf16=bf16
                )
                entry["val_acc_raw"] = float((raw.argmax(1).numpy() == val_part.labels).mean())
            if sched is not None and cfg.schedule == "plateau":
                sched.step(entry["val_acc"])
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        improved = val_part is not None and entry["val_acc"] > best_acc
        if improved:
            best_acc = entry["val_acc"]
        if rank == 0:
            meta = dict(meta_base, epoch=epoch + 1, history=history, best_val_acc=best_acc)
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            last = {
                "model": state,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "ema": ema.state_dict() if ema is not None else None,
                "meta": json.dumps(meta),
            }
            best = None
            if improved or val_part is None:
                best_state = (
                    state
                    if ema is None
                    else {k: v.detach().clone() for k, v in ema.model.state_dict().items()}
                )
                best = {"model": best_state, "meta": json.dumps(meta)}
            run.commit(last, best, history)
    return history


def compact_run(run_dir: str | Path, dest: str | Path) -> list[Path]:
    """Float16, weights-only copies of a run's best.pt and last.pt in ``dest``: a quarter of the size.

    What ``export_pretrained`` and ``evaluate`` read (the weights, and last.pt's metadata with the
    whole history and recipe) for bringing a run back from a machine with tight transfer limits;
    the optimizer's state is dropped, so a compact last.pt cannot be resumed.
    """
    src, out = Path(run_dir), Path(dest)
    if not (src / "best.pt").exists():
        raise ConfigError(f"{src}: no best.pt; not a training run folder.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("best.pt", "last.pt"):
        if not (src / name).exists():
            continue
        ckpt = torch.load(src / name, map_location="cpu", weights_only=True)
        atomic_save({"model": half_state_dict(ckpt["model"]), "meta": ckpt["meta"]}, out / name)
        written.append(out / name)
    return written


def _take(d: FerData, idx: np.ndarray) -> FerData:
    return FerData(d.images[idx], d.labels[idx], d.splits[idx], d.source, d.layout)


def _progress(cfg: TrainConfig, rank: int, total: int, desc: str) -> Any:
    if not cfg.progress or rank != 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, mininterval=1.0)


def _diverged(epoch: int, step: int, value: float, last_path: Path, rank: int) -> None:
    kept = (
        f"the last good checkpoint is kept at {last_path}"
        if last_path.exists()
        else "no checkpoint was written yet"
    )
    raise TrainingDiverged(
        f"the training loss became {value} at epoch {epoch + 1}, step {step + 1}; {kept}. "
        "Lower the learning rate or turn off bf16."
    )


# --------------------------------------------------------------------------- replaying a recipe


def recipe_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A config without its seed and runtime keys: what runs of one recipe share.

    Settings added after a config was written take their defaults, so an older card's recipe equals
    the same recipe written by this version."""
    full = TrainConfig.from_json(config).to_json()
    return {k: v for k, v in full.items() if k not in (*RUNTIME_KEYS, "seed")}


def recipe_phases(
    config: dict[str, Any], changes: list[dict], epochs_trained: int
) -> list[tuple[dict[str, Any], int]]:
    """The phases of a run, as (the settings of the phase, the last epoch it trained), first to last.

    ``config`` is the run's last setting and ``changes`` its ``config_changes`` (each names the epoch
    from which it applied and each changed key's [old, new] value), so undoing the changes from the
    newest back gives every earlier phase's settings.
    """
    starts = [int(ch["from_epoch"]) for ch in changes]
    if any(b <= a for a, b in zip([1, *starts], [*starts, epochs_trained + 1])):
        raise ConfigError(
            f"config_changes start at epochs {starts}, which do not fit a run of {epochs_trained} epochs."
        )
    phases = [dict(config)]
    for ch in reversed(changes):
        earlier = dict(phases[0])
        for key, (old, new) in ch["changed"].items():
            if earlier.get(key) != new:
                raise ConfigError(
                    f"config_changes from epoch {ch['from_epoch']}: '{key}' became {new!r}, "
                    f"but the next phase has {earlier.get(key)!r}."
                )
            earlier[key] = old
        phases.insert(0, earlier)
    return list(zip(phases, [s - 1 for s in starts] + [epochs_trained]))


def replay(
    recipe: dict[str, Any],
    data: FerData,
    out_dir: str | Path,
    seed: int,
    stop_after: int | None = None,
    runtime: dict[str, Any] | None = None,
    force: bool = False,
) -> list[dict]:
    """Train ``recipe`` again (a card or run metadata: config, config_changes, history) with another seed.

    Every phase runs with the settings and for the epochs the original run had, so the new run's
    recipe is the original's (seed aside) and the two count as seed runs of one recipe. Resumable:
    a second call continues from ``out_dir/last.pt``. ``stop_after`` ends this call after that many
    epochs; ``runtime`` sets device, progress, eval_batch or compile. ``force`` replaces whatever run
    the folder held.
    """
    if stop_after is not None:
        checks.integer("stop_after", stop_after, 1, "leave it out to train every planned epoch")
    if force:
        with RunFolder(out_dir) as run:
            run.clear()
    phases = recipe_phases(recipe["config"], recipe.get("config_changes") or [], len(recipe["history"]))
    runtime = {k: v for k, v in (runtime or {}).items() if k in RUNTIME_KEYS}
    last = Path(out_dir) / "last.pt"
    done, history = 0, []
    if last.exists():
        with RunFolder(out_dir) as run:  # a kill may have left best.pt behind last.pt
            run.settle()
        meta = checkpoint_meta(last)
        done, history = meta["epoch"], meta["history"]
        k = next(
            (i for i, (_, end) in enumerate(phases) if done <= end), len(phases) - 1
        )  # the phase last.pt is in
        if (
            recipe_settings(meta["config"]) != recipe_settings(phases[k][0])
            or meta["config"].get("seed") != seed
        ):
            raise ConfigError(
                f"{last} is not a replay of this recipe with seed {seed} (its settings or seed differ); "
                "use a new output folder, or --force to replace it."
            )
    budget = stop_after
    for settings, end in phases:
        if done >= end:
            continue
        if budget is not None and budget <= 0:
            break
        n = end - done if budget is None else min(end - done, budget)
        cfg = TrainConfig.from_json({**settings, "seed": seed, **runtime})
        history = train(cfg, data, out_dir, resume=done > 0, stop_after=n)
        if budget is not None:
            budget -= len(history) - done
        done = len(history)
    return history
