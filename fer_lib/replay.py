"""A recipe trained again: every phase of a recorded run (a card or run metadata), with another seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import checks
from .data import FerData
from .errors import ConfigError
from .models import checkpoint_meta
from .pretrained import training_models
from .recipe import RUNTIME_KEYS, TrainConfig, recipe_phases, recipe_settings
from .rundir import RunFolder
from .train import train

__all__ = ["replay"]


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
        init, teacher = training_models(cfg, data)
        history = train(cfg, data, out_dir, resume=done > 0, stop_after=n, init=init, teacher=teacher)
        if budget is not None:
            budget -= len(history) - done
        done = len(history)
    return history
