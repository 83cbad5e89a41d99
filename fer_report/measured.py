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


def measured(model: nn.Module, data: FerData, device: str = "cpu") -> dict[str, Any]:
    """``{"metrics": measure's dict, "predictions": {"PrivateTest tencrop": "0351...", ...}}`` for
    ``model`` on ``data``: computed once per key, then read back (this process, then the run's folder)."""
    from fer_lib.evaluate import measure
    from fer_lib.files import write_text

    key = measurement_key(model, data)
    if key in _memory:
        return _memory[key]
    folder = os.environ.get(MEASURED_ENV)
    path = Path(folder) / f"{key}.json" if folder else None
    if path is not None and path.exists():
        _memory[key] = json.loads(path.read_text())
        return _memory[key]
    predictions: dict[str, str] = {}
    metrics = measure(model, data, device=device, predictions=predictions)
    _memory[key] = {"metrics": metrics, "predictions": predictions}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(_memory[key]))
    return _memory[key]
