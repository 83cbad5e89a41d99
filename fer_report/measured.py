"""Each model's accuracies on the test splits, computed from its weights once per report run and shared
by the chapters that show them.

The intro, the results chapter and the appendix all show accuracies of the same models; each chapter
runs in its own kernel, so the measurement (``fer_lib.evaluate.measure``: both test splits, the plain,
flip and ten-crop views, and every face's predicted class) is kept in a folder that ``fer_report run``
names in ``$FER_REPORT_MEASURED``, keyed by the weights' fingerprint and the data's, and read back by
the next chapter that asks. A chapter run by hand, without that folder, measures in its own process.
Nothing is ever read from a model card: every number comes from the weights and the data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from fer_lib.data import FerData

MEASURED_ENV = "FER_REPORT_MEASURED"
_memory: dict[str, dict[str, Any]] = {}


def measurement_key(model: nn.Module, data: FerData) -> str:
    """What a measurement depends on: the weights and the data (device and engine give the same classes)."""
    from fer_lib.models import weights_fingerprint

    return f"{weights_fingerprint(model)}-{data.fingerprint()}"


SPLITS = ("PublicTest", "PrivateTest")
VIEWS = ("none", "flip", "tencrop")


def _stored(key: str, path: Path | None) -> dict[str, Any] | None:
    """The measurement kept for ``key``: this process's first, then the run's folder's."""
    if key not in _memory and path is not None and path.exists():
        _memory[key] = json.loads(path.read_text())
    return _memory.get(key)


def measured(
    model: nn.Module,
    data: FerData,
    device: str = "cpu",
    splits: tuple[str, ...] = SPLITS,
    views: tuple[str, ...] = VIEWS,
) -> dict[str, Any]:
    """``{"metrics": measure's dict, "predictions": {"PrivateTest tencrop": "0351...", ...}}`` for
    ``model`` on ``data``, holding at least ``splits`` x ``views`` (every test split and view unless the
    caller needs fewer): each split and view is computed once per key, then read back (this process, then
    the run's folder), and what a later call adds is kept beside what was there."""
    from fer_lib.evaluate import measure
    from fer_lib.files import write_text

    key = measurement_key(model, data)
    folder = os.environ.get(MEASURED_ENV)
    path = Path(folder) / f"{key}.json" if folder else None
    kept = _stored(key, path)
    if kept is not None and all(f"{s} {v}" in kept["predictions"] for s in splits for v in views):
        return kept
    predictions: dict[str, str] = {}
    metrics = measure(model, data, splits, views, device=device, predictions=predictions)
    if kept is not None:  # the views measured before stay, the ones measured now are added
        for split, row in kept["metrics"].items():
            metrics[split] = row | metrics.get(split, {})
        predictions = kept["predictions"] | predictions
    _memory[key] = {"metrics": metrics, "predictions": predictions}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(_memory[key]))
    return _memory[key]
