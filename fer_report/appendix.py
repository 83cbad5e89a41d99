"""The reproducibility appendix: the environment and the chapter runs."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from .runner import toc_notebooks
from .sources import cpu_model


def environment_info() -> dict[str, str]:
    """Library versions and the machine, for the reproducibility appendix."""
    import importlib.metadata as md

    import torch

    from fer_lib.device import cpu_has_fast_bf16

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu bf16": (
            "native: CPU training runs under bf16 autocast"
            if cpu_has_fast_bf16()
            else "none: CPU training runs in float32"
        ),
        "cpu threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    for pkg in (
        "fer-lib",
        "torch",
        "captum",
        "numpy",
        "pandas",
        "seaborn",
        "matplotlib",
        "sympy",
        "papermill",
        "jupyter-book",
        "myst-nb",
    ):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "not installed"
    return info


def notebook_runs(folder: str | Path, *fallbacks: str | Path) -> list[dict[str, Any]]:
    """Papermill's record (duration, parameters, exception) of each executed chapter in ``folder``.

    A chapter missing from ``folder`` is read from the first of ``fallbacks`` that has it: after
    a partial run (``--only``) that publishes into the book, the book's other chapters keep the
    record of the run that made them. ``folder`` says where each record came from. Paths (the data
    file, the folders) are shown by their last part: where they sat on the machine that ran the book is
    nobody else's business.
    """
    rows = []
    for nb in toc_notebooks():
        path = next((p for p in (Path(f) / nb.name for f in (folder, *fallbacks)) if p.exists()), None)
        if path is None:
            continue
        pm = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        rows.append(
            {
                "notebook": nb.name,
                "seconds": pm.get("duration"),
                "parameters": {
                    k: Path(v).name if isinstance(v, str) and "/" in v else v
                    for k, v in pm.get("parameters", {}).items()
                },
                "exception": pm.get("exception"),
                "start": pm.get("start_time"),
                "folder": path.parent.name,
            }
        )
    return rows
