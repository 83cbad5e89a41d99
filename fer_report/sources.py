"""How a chapter gets its data and models: the shipped weights, or a run folder trained or resumed here."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from fer_lib.data import CLASSES, FerData, load_fer2013
from fer_lib.errors import ConfigError


def load_data(data: str = "", seed: int = 0) -> FerData:
    """'' -> $FER2013_CSV; 'synthetic' -> the generated stand-in; anything else is a path."""
    if data == "synthetic":
        from fer_lib.synthetic import synthetic_fer

        return synthetic_fer(700, 140, 140, seed=seed)
    return load_fer2013(data or None)


def run_folder(run_dir: str | Path, model: str) -> Path:
    return Path(run_dir) / model


def train_or_load(
    model: str,
    data: FerData,
    run_dir: str | Path,
    *,
    epochs: int,
    device: str = "auto",
    limit: int = 0,
    seed: int = 0,
    use_pretrained: bool = False,
    **cfg: Any,
) -> dict[str, Any]:
    """Train ``model`` (resuming its run folder), or load the shipped weights; say which happened."""
    from fer_lib.pretrained import load_model, pretrained_info, training_models
    from fer_lib.ship import full_run_meta
    from fer_lib.train import TrainConfig, train

    folder = run_folder(run_dir, model)
    if use_pretrained and pretrained_info(model) is not None:
        net, meta = load_model(model, device="cpu")
        card = pretrained_info(model)
        return {
            "model": net,
            "history": card["history"],
            "source": "pretrained",
            "folder": None,
            "meta": meta,
        }
    before = 0
    if (folder / "history.json").exists():
        before = len(json.loads((folder / "history.json").read_text()))
    recipe = TrainConfig(
        model=model, epochs=epochs, device=device, limit=limit or None, seed=seed, progress=False, **cfg
    )
    init, teacher = training_models(recipe, data)
    history = train(recipe, data, folder, resume=True, init=init, teacher=teacher)
    net, meta = load_model(folder / "best.pt")
    meta = full_run_meta(folder, meta)  # the whole run's config and changes, not best.pt's epoch
    source = "trained" if before == 0 else ("loaded" if before >= epochs else "resumed")
    return {
        "model": net,
        "history": history,
        "source": source,
        "epochs_before": before,
        "folder": str(folder),
        "meta": meta,
    }


def model_for(model: str, run_dir: str | Path, use_pretrained: bool = False) -> tuple[Any, str]:
    """The chapter's trained model: the run folder's best.pt, else the shipped weights."""
    net, source, _ = model_record(model, run_dir, use_pretrained)
    return net, source


def model_record(model: str, run_dir: str | Path, use_pretrained: bool = False) -> tuple[Any, str, dict]:
    """The trained model (run folder's best.pt, else the shipped weights), where it came from, and its
    metadata with the whole run's history, config and changes."""
    from fer_lib.pretrained import load_model, pretrained_info
    from fer_lib.ship import full_run_meta

    best = run_folder(run_dir, model) / "best.pt"
    if best.exists() and not (use_pretrained and pretrained_info(model)):
        net, meta = load_model(best)
        return net, f"run folder {best.parent.name}", full_run_meta(best.parent, meta)
    if pretrained_info(model) is not None:
        net, meta = load_model(model)
        return net, f"pretrained '{model}'", meta
    raise ConfigError(
        f"no trained '{model}': {best} does not exist and no pretrained weights ship; run the training "
        "chapter first."
    )


def pick_faces(data: FerData, split: str, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices into ``data.split(split)``: ``per_class`` seeded faces of each class."""
    part = data.split(split)
    rng = np.random.default_rng(seed)
    idx = []
    for c in range(len(CLASSES)):
        pool = np.flatnonzero(part.labels == c)
        idx.extend(rng.choice(pool, min(per_class, len(pool)), replace=False).tolist())
    return np.array(idx)


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
