"""Models that ship inside the package, loadable by name, with their recorded metrics."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .models import REGISTRY, load_checkpoint

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def pretrained_info(name: str) -> dict | None:
    """The shipped card (metrics, history, data hash) of ``name``, or None when no weights ship."""
    card = PRETRAINED_DIR / f"{name}.json"
    if not (card.exists() and (PRETRAINED_DIR / f"{name}.pt").exists()):
        return None
    return json.loads(card.read_text())


def pretrained(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A shipped, trained model by name, in eval mode."""
    return load_model(name, device=device)[0]


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A model and its metadata from a checkpoint path or a pretrained name."""
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        return load_checkpoint(p, device=device)
    name = str(name_or_path)
    if name in REGISTRY:
        if pretrained_info(name) is None:
            raise ConfigError(f"no pretrained weights ship for '{name}'; train it with `fer-lib train` and pass the checkpoint path.")
        model, meta = load_checkpoint(PRETRAINED_DIR / f"{name}.pt", device=device)
        return model, dict(meta, card=pretrained_info(name))
    shipped = [n for n in sorted(REGISTRY) if pretrained_info(n) is not None]
    raise ConfigError(f"'{name}' is neither a checkpoint file nor a pretrained model (shipped: {', '.join(shipped) or 'none yet'}).")
