"""Shipped models and recorded experiments: a model loaded by name, run folder or path; cards and records.

Two kinds of file live in the package, with one schema (``RUN_KEYS``: what a training run's
checkpoint knows: recipe, phase changes, every epoch's history, where and how long it trained):

- a card, ``pretrained/NAME.json`` beside the weights ``NAME.pt``, adds ``CARD_KEYS``: the
  metrics measured on the shipped weights, how the run was chosen, its seed runs and PrivateTest
  predictions;
- a record, ``pretrained/experiments/RUN.json``, keeps a run that did not ship (no weights, no
  PrivateTest number) and adds ``RECORD_KEYS``: the question it was to answer and a note.

Writing them is ``fer_lib.ship``'s job (``fer-lib ship ...``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .device import resolve_device
from .errors import ConfigError, Note
from .models import REGISTRY, load_checkpoint

if TYPE_CHECKING:
    from .data import FerData
    from .recipe import TrainConfig

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
EXPERIMENTS_DIR = PRETRAINED_DIR / "experiments"

# the keys of a run, shared by cards and records (``init_weights`` and ``teacher_weights`` where known)
RUN_KEYS = (
    "run",  # the run folder's name
    "model",  # the registered architecture
    "seed",
    "config",  # the recipe (fer_lib.recipe.TrainConfig) in its last phase
    "config_changes",  # the settings changed on resume, from which epoch
    "history",  # every epoch: loss, ce, acc, lr, val_loss, val_acc, seconds
    "epochs",  # epochs trained
    "planned_epochs",
    "best_epoch",  # the epoch with the best PublicTest accuracy, as validated during training
    "best_PublicTest",
    "validated_with",  # which BatchNorm statistics the validation used
    "trained_on",
    "bf16",
    "torch",
    "minutes",
    "data_hash",
)
CARD_KEYS = (
    "metrics",
    "selected_on",
    "seeds",
    "weights",
)  # and seed_runs, seed_summary, predictions, batchnorm
RECORD_KEYS = ("question", "note", "recorded")  # and shipped_as, other_seeds for a model that was replaced


def schema_problems(doc: dict, kind: str) -> list[str]:
    """What a card (``kind="card"``) or record (``"record"``) lacks or gets wrong; empty when it is whole."""
    need = RUN_KEYS + (CARD_KEYS if kind == "card" else RECORD_KEYS)
    problems = [f"no '{k}'" for k in need if k not in doc]
    if not problems:
        if doc["epochs"] != len(doc["history"]):
            problems.append(f"'epochs' is {doc['epochs']} but the history has {len(doc['history'])} epochs")
        if doc["seed"] != doc["config"].get("seed"):
            problems.append("'seed' is not the config's seed")
        if doc["planned_epochs"] != doc["config"].get("epochs"):
            problems.append("'planned_epochs' is not the config's epochs")
        best = max(doc["history"], key=lambda h: h.get("val_acc", -1.0))
        if (doc["best_epoch"], doc["best_PublicTest"]) != (best["epoch"], best.get("val_acc")):
            problems.append("'best_epoch' and 'best_PublicTest' are not the history's best epoch")
    return problems


def run_fields(run: str, meta: dict) -> dict:
    """A run's ``RUN_KEYS`` (and weight fingerprints) from its last.pt metadata (or a card's)."""
    hist = meta["history"]
    best = max(hist, key=lambda h: h.get("val_acc", -1.0))
    config = meta["config"]
    return {
        "run": run,
        "model": meta["model"],
        "seed": config["seed"],
        "config": config,
        "config_changes": meta.get("config_changes", []),
        "history": hist,
        "epochs": len(hist),
        "planned_epochs": config["epochs"],
        "best_epoch": best["epoch"],
        "best_PublicTest": best.get("val_acc"),
        "validated_with": (
            f"BatchNorm statistics recomputed from {config['bn_recompute']:,} Training images"
            if config.get("bn_recompute")
            else "the trainer's running BatchNorm statistics"
        ),
        "trained_on": meta.get("device", meta.get("trained_on")),
        "bf16": meta.get("bf16"),
        "torch": meta.get("torch"),
        "minutes": round(sum(h.get("seconds", 0.0) for h in hist) / 60, 1),
        "data_hash": meta["data_hash"],
    } | {k: meta[k] for k in ("init_weights", "teacher_weights") if meta.get(k)}


def shipped_names() -> list[str]:
    """The names of the weights that ship in the package (a card and its weights), sorted: a registered
    model's name, or a fine-tune's (``fine_tuned_from``)."""
    names = {p.stem for p in PRETRAINED_DIR.glob("*.json")}
    return sorted(n for n in names if pretrained_info(n) is not None)


def fine_tuned_from(name: str) -> str | None:
    """The other shipped model that the shipped weights ``name`` were fine-tuned from (their recipe's
    ``init``, where it names one), or None: weights trained from scratch, or started from a checkpoint or
    from themselves."""
    init = ((pretrained_info(name) or {}).get("config") or {}).get("init")
    return init if init and init != name and pretrained_info(init) is not None else None


def batchnorm_recomputed(name: str) -> bool:
    """Whether the shipped weights ``name`` had their BatchNorm statistics recomputed on Training after the
    epoch was chosen (``fer-lib ship batchnorm``, kept only where PublicTest rose)."""
    return bool(((pretrained_info(name) or {}).get("batchnorm") or {}).get("kept"))


def describe(name: str) -> str:
    """One line on shipped weights or a registered model: the registry's description, or for a fine-tune
    what it started from and how it was tuned (read from its card)."""
    if name in REGISTRY:
        return REGISTRY[name].description
    card = pretrained_info(name)
    if card is None:
        raise ConfigError(f"no registered model or shipped weights named '{name}'.")
    cfg = card["config"]
    photo = " on faces made photo-like (a brightness curve, blur or sharpening, noise)"
    how = photo if cfg.get("photo") else ""
    return (
        f"{cfg.get('init') or card['model']} fine-tuned{how}: epoch {card['best_epoch']} of "
        f"{card['epochs']}, chosen on PublicTest"
    )


def pretrained_info(name: str) -> dict | None:
    """The shipped card (metrics, history, data hash) of ``name``, or None when no weights ship (or the name
    is not a plain file name: never a path out of the package's folder)."""
    if not name or Path(name).name != name or name.startswith("."):
        return None
    card = PRETRAINED_DIR / f"{name}.json"
    if not (card.exists() and (PRETRAINED_DIR / f"{name}.pt").exists()):
        return None
    return json.loads(card.read_text())


# What ``read_expressions`` and ``fer-lib predict`` use when no model is named: the rule that chose it and
# its numbers are in docs/DEVSET.md (benchmarks/bench_photos.py measures them again).
DEFAULT_MODEL = "ensemble"
# The ensemble: four shipped models' softmax probabilities averaged, each with the same weight. Weights chosen
# on PublicTest's balanced accuracy (a grid of tenths over the five shipped models, with flip: fer_vgg 0.4,
# simple_cnn 0.3, fer_vgg_s_photo 0.2, fer_vgg_s 0.1) raise PublicTest (balanced 0.700 against 0.681) but read
# the photos worse (balanced 0.502 against 0.530), so they were not kept (docs/DEVSET.md).
# fer_vgg_s_photo (fer_vgg_s fine-tuned on photo-like faces) takes fer_vgg_s's place: it reads the photos
# better, alone and in the ensemble (docs/DEVSET.md, "Training aimed at photos").
ENSEMBLE_WEIGHTS = {"fer_vgg": 0.25, "fer_vgg_s_photo": 0.25, "report_cnn": 0.25, "simple_cnn": 0.25}
# FER2013 Training's faces per class, in CLASSES' order (angry ... neutral): the class prior the models learnt
# (1.5% disgust to 25% happy), which ``fer_lib.photos.prior_corrected`` divides out to a power
TRAINING_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
# The power of that prior divided out of the default ensemble's probabilities: 0, none. PublicTest's
# balanced accuracy chooses 1.05 (``benchmarks/bench_photos.py`` prints it), which lowers the development
# set of web photos from 0.537 to 0.501 accuracy and from 0.530 to 0.486 balanced (docs/DEVSET.md).
PRIOR_ALPHA = 0.0


class Ensemble(nn.Module):
    """Several models as one: the log of their weighted mean softmax, so that its softmax is that mean."""

    def __init__(self, models: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        self.members = nn.ModuleDict(models)
        total = sum(weights[n] for n in models)
        self.weights = {n: weights[n] / total for n in models}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = sum(self.weights[n] * m(x).float().softmax(1) for n, m in self.members.items())
        return mean.clamp_min(1e-12).log()


def load_ensemble(device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The shipped models weighted above 0 in ``ENSEMBLE_WEIGHTS`` as one ``Ensemble``, and its metadata."""
    names = [n for n, w in ENSEMBLE_WEIGHTS.items() if w > 0]
    missing = [n for n in names if pretrained_info(n) is None]
    if missing:
        raise ConfigError(
            f"the ensemble needs the shipped weights of {', '.join(missing)}, which are missing."
        )
    # the package's own weights, never a file or folder of the same name in the working directory
    models = {n: load_checkpoint(PRETRAINED_DIR / f"{n}.pt", device=device)[0] for n in names}
    net = Ensemble(models, ENSEMBLE_WEIGHTS).to(resolve_device(str(device))).eval()
    return net, {"name": "ensemble", "weights": dict(net.weights)}


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A model and its metadata from a checkpoint path, a run folder (its best.pt), a pretrained name or
    ``"ensemble"`` (``load_ensemble``)."""
    if str(name_or_path) == "ensemble" and not Path(name_or_path).exists():
        return load_ensemble(device)
    p = Path(name_or_path)
    if p.is_dir():
        if not (p / "best.pt").is_file():
            raise ConfigError(
                f"{p}: a folder without best.pt; pass a checkpoint file, a run folder or a pretrained name."
            )
        return load_checkpoint(p / "best.pt", device=device)
    if p.suffix == ".pt" or p.exists():
        return load_checkpoint(p, device=device)
    name = str(name_or_path)
    card = pretrained_info(name)
    if card is not None:
        model, meta = load_checkpoint(PRETRAINED_DIR / f"{name}.pt", device=device)
        return model, dict(meta, card=card)
    if name in REGISTRY:
        raise ConfigError(
            f"no pretrained weights ship for '{name}'; train it with `fer-lib train` and pass the "
            "checkpoint path."
        )
    raise ConfigError(
        f"'{name}' is neither a checkpoint file nor a pretrained model "
        f"(shipped: {', '.join(shipped_names()) or 'none yet'})."
    )


def training_models(
    cfg: TrainConfig, data: FerData, device: str | torch.device | None = None
) -> tuple[nn.Module | None, nn.Module | None]:
    """The models a recipe starts from and distils from, ``(init, teacher)``, loaded from the names or paths
    ``cfg.init`` and ``cfg.teacher`` name (None where it names none) onto ``device`` (``cfg.device``'s).

    What every caller of ``fer_lib.train.train`` passes as its ``init`` and ``teacher``. Warns
    (``Note``) when one was trained on other data than ``data``; an init must hold the recipe's own
    model and model_kwargs.
    """
    cfg.check()
    if not (cfg.init or cfg.teacher):
        return None, None
    device = resolve_device(cfg.device if device is None else device)
    data_hash = data.data_hash()
    init = teacher = None
    if cfg.init:
        init, meta = _training_model(cfg.init, "init", device, data_hash)
        if meta["model"] != cfg.model or meta.get("model_kwargs", {}) != cfg.model_kwargs:
            raise ConfigError(f"init: {cfg.init} holds a '{meta['model']}' model, not '{cfg.model}'.")
    if cfg.teacher:
        teacher = _training_model(cfg.teacher, "teacher", device, data_hash)[0]
    return init, teacher


def _training_model(source: str, what: str, device: torch.device, data_hash: str) -> tuple[nn.Module, dict]:
    """A model to start from or to distil from; warns when it was trained on other data than this run's."""
    try:
        net, meta = load_model(source, device=device)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    if meta.get("data_hash") != data_hash:
        warnings.warn(
            f"the {what} {source} was trained on other data (hash {meta.get('data_hash')}, this run's is "
            f"{data_hash}); "
            "if it saw this run's validation faces, the validation accuracy will read too high.",
            Note,
            stacklevel=3,
        )
    return net, meta


def experiments(model: str | None = None, folder: str | Path | None = None) -> list[dict]:
    """The recorded experiments (``record_experiment``), in the order they were recorded, optionally of one
    model only."""
    recs = [json.loads(p.read_text()) for p in sorted(Path(folder or EXPERIMENTS_DIR).glob("*.json"))]
    return sorted(
        (r for r in recs if model is None or r["model"] == model), key=lambda r: (r["recorded"], r["run"])
    )
