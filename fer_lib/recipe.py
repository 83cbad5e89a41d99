"""A training recipe as data: its settings, their checks, and the phases of a run that changed them.

Nothing here imports torch: cards, records and ``--like`` read recipes without building a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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


def option(default: Any, help: str, *, check: Callable[[str, Any], Any] | None = None, **cli: Any) -> Any:
    """A training setting, declared once: its default, its help, its check (called with the setting's name
    and value) and how the command line spells it (``cli``: ``flag``, ``metavar``, ``type``, ``action``,
    ``required`` for a setting the command line must be given unless it replays a recipe, ``hidden`` for
    one it does not offer)."""
    meta = {"help": help, "check": check, "cli": cli}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def _one_of(choices: tuple[str, ...], what: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ConfigError(f"unknown {what} '{value}'; expected one of {', '.join(choices)}.")

    return check


def _number(low: float = 0, high: float | None = None, **kw: Any) -> Callable[[str, Any], float]:
    return lambda name, value: checks.number(name, value, low, high, **kw)


_NEVER = object()


def _integer(low: int, hint: str = "", off: Any = _NEVER) -> Callable[[str, Any], Any]:
    """A whole number >= ``low``; ``off``, where given, is the value that turns the setting off."""

    def check(name: str, value: Any) -> Any:
        if off is not _NEVER and (value is off or value == off):
            return value
        return checks.integer(name, value, low, hint)

    return check


@dataclass
class TrainConfig:
    """Plain training settings; the defaults are the original report's setup."""

    model: str = option("report_cnn", "a registered model name", required=True)
    model_kwargs: dict[str, Any] = option(
        {},
        "a keyword for the model's constructor, e.g. head=dense for simple_cnn (repeatable)",
        flag="--model-arg",
        metavar="KEY=VALUE",
        action="append",
    )
    epochs: int = option(30, "planned epochs", check=_integer(1), type=int, required=True)
    batch_size: int = option(
        128, "faces a batch", check=_integer(2, "BatchNorm needs two faces a batch"), type=int
    )
    optimizer: str = option(
        "adam",
        "adam (betas 0.9, 0.99) or sgd (Nesterov momentum 0.9)",
        check=_one_of(OPTIMIZERS, "optimizer"),
    )
    lr: float = option(
        1e-3, "learning rate", check=_number(low_open=True, hint="a learning rate such as 1e-3"), type=float
    )
    weight_decay: float = option(0.0, "weight decay", check=_number(hint="0 turns it off"), type=float)
    schedule: str = option(
        "constant", "constant, cosine, onecycle or plateau", check=_one_of(SCHEDULES, "schedule")
    )
    label_smoothing: float = option(
        0.0, "label smoothing", check=_number(0, 1, high_open=True, hint="0.1 is usual"), type=float
    )
    flip: bool = option(True, "no horizontal flips", flag="--no-flip", action="store_false")
    shift: float = option(4.0, "random shift, pixels", check=_number(hint="0 turns it off"), type=float)
    rotate: float = option(10.0, "random rotation, degrees", check=_number(hint="0 turns it off"), type=float)
    scale: float = option(0.1, "random scale, +- fraction", check=_number(hint="0 turns it off"), type=float)
    erase: float = option(
        0.0, "random erasing probability", check=_number(0, 1, hint="a probability"), type=float, metavar="P"
    )
    photo: bool = option(
        False,
        "photo-like changes after the others: a gamma curve, blur or sharpening, sensor noise "
        "(fer_lib.train.photo_like)",
        flag="--photo",
        action="store_true",
    )
    init: str | None = option(
        None,
        "start from these weights instead of random ones (a pretrained name or a checkpoint)",
        metavar="NAME_OR_CKPT",
    )
    teacher: str | None = option(
        None,
        "distil from this model's softened outputs (a pretrained name or a checkpoint)",
        metavar="NAME_OR_CKPT",
    )
    distill: float = option(
        0.0,
        "weight of the distillation term in the loss (0-1)",
        check=_number(0, 1, hint="the weight of the distillation term"),
        type=float,
        metavar="W",
    )
    distill_temp: float = option(
        4.0,
        "softmax temperature of the distillation term",
        check=_number(low_open=True),
        type=float,
        metavar="T",
    )
    bn_recompute: int = option(
        0,
        "before each validation, recompute BatchNorm statistics from N Training images (dropout off); "
        "0 is off",
        check=_integer(len(CLASSES), "0 turns it off", off=0),
        type=int,
        metavar="N",
    )
    seed: int = option(
        0, "random seed", hidden=True
    )  # the CLI's --seed is a data option: it seeds the NTU hold-out too
    limit: int | None = option(
        None,
        "train on a seeded, stratified sample of N Training images",
        check=_integer(len(CLASSES), "one image per class at least", off=None),
        type=int,
        metavar="N",
    )
    # runtime: where and how fast, not what is learned
    device: str = option("auto", "auto, cpu or cuda")
    bf16: bool | None = option(
        None,
        "train in float32 where bf16 would be chosen (CUDA with bf16, CPUs with AMX or AVX512-BF16)",
        flag="--no-bf16",
        action="store_const",
        const=False,
    )
    eval_batch: int = option(1024, "faces a validation batch", check=_integer(1), hidden=True)
    progress: bool = option(True, "no progress bar", flag="--quiet", action="store_false")

    def check(self) -> None:
        """Every setting within its range: one ConfigError sentence naming the first that is not."""
        for f in dataclasses.fields(self):
            if f.metadata.get("check"):
                f.metadata["check"](f.name, getattr(self, f.name))
        if (self.teacher is None) != (self.distill == 0.0):
            raise ConfigError("distillation needs both a teacher and a distill weight above 0.")

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
