"""A training recipe as data: its settings, their checks, and the phases of a run that changed them.

Nothing here imports torch: cards, records and ``--like`` read recipes without building a model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import checks
from .errors import ConfigError
from .names import CLASSES

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle", "plateau")
ADAM_BETAS = (0.9, 0.99)  # the original report's Keras Adam
SGD_MOMENTUM = 0.9  # Nesterov
# settings that do not change what is learned; a resume may change them without a note
RUNTIME_KEYS = ("device", "progress", "eval_batch", "bf16")
# settings that earlier versions of the trainer offered, at the value every shipped model used: a
# record made with another value keeps its history, but its recipe cannot be trained again
RETIRED = {
    "betas": list(ADAM_BETAS),
    "momentum": SGD_MOMENTUM,
    "nesterov": True,
    "mixup": 0.0,
    "ema": 0.0,
    "channels_last": True,
    "compile": False,
}


@dataclass
class TrainConfig:
    """Plain training settings; the defaults are the original report's setup."""

    model: str = "report_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"  # Adam with betas (0.9, 0.99), or SGD with Nesterov momentum 0.9
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    label_smoothing: float = 0.0
    flip: bool = True
    shift: float = 4.0  # pixels
    rotate: float = 10.0  # degrees
    scale: float = 0.1
    erase: float = 0.0  # probability of erasing a random rectangle
    init: str | None = None  # start from these weights (a pretrained name or a checkpoint path)
    teacher: str | None = None  # distil from this model (a pretrained name or a checkpoint path)
    distill: float = 0.0  # weight of the distillation term in the loss (0 to 1)
    distill_temp: float = 4.0  # softmax temperature of the distillation term
    bn_recompute: int = 0  # recompute BatchNorm statistics from this many Training images before validating
    seed: int = 0
    limit: int | None = None  # train on a stratified sample of this many Training images
    # runtime: where and how fast, not what is learned
    device: str = "auto"
    bf16: bool | None = None  # None: on where it pays (CUDA with bf16, CPUs with AMX or AVX512-BF16)
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
        checks.number("label_smoothing", self.label_smoothing, 0, 1, high_open=True, hint="0.1 is usual")
        checks.number("erase", self.erase, 0, 1, hint="a probability")
        for name in ("shift", "rotate", "scale"):
            checks.number(name, getattr(self, name), 0, hint="0 turns it off")
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
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainConfig:
        """The settings of a card, record or checkpoint; one the trainer no longer offers is an error."""
        retired = retired_settings(d)
        if retired:
            names = ", ".join(f"{k}={v!r}" for k, v in retired.items())
            raise ConfigError(
                f"this recipe uses {names}, which the trainer no longer offers; "
                "its record keeps the history, but it cannot be trained again."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def retired_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``config`` that only earlier trainers offered, where they differ from today's fixed
    value."""
    return {k: config[k] for k, fixed in RETIRED.items() if k in config and config[k] != fixed}


def recipe_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A config without its seed and runtime keys: what runs of one recipe share.

    Settings added after a config was written take their defaults, so an older card's recipe equals
    the same recipe written by this version; a retired setting that was not at its fixed value stays,
    so that such a record never counts as today's recipe."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    full = TrainConfig(**{k: v for k, v in config.items() if k in known}).to_json()
    settings = {k: v for k, v in full.items() if k not in (*RUNTIME_KEYS, "seed")}
    return {**settings, **retired_settings(config)}


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


def config_changes(old: dict[str, Any], new: TrainConfig, from_epoch: int) -> dict | None:
    """The note a resumed run keeps when its settings changed (runtime settings aside), or None."""
    now = new.to_json()
    changed = {
        k: [v, now.get(k)]
        for k, v in old.items()
        if k not in RUNTIME_KEYS and k not in RETIRED and now.get(k) != v
    }
    return {"from_epoch": from_epoch, "changed": changed} if changed else None
