"""Which device, whether bf16 pays on it, and running a caller's model without changing it.

Asked by the trainer, the models, evaluation and attribution alike; it imports nothing else of
fer_lib's but its errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA where there is none is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{device}' was asked for, but this machine has no CUDA GPU (use --device cpu or auto)."
        )
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device '{device}'; expected auto, cpu or cuda.") from None


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 math (AMX or AVX512-BF16), where bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def bf16_pays(device: torch.device | str) -> bool:
    """Whether bf16 autocast speeds things up on ``device``: CUDA with bf16, CPUs with AMX or AVX512-BF16.

    Elsewhere it is emulated and slow: on a CPU without native bf16 a report_cnn forward pass
    under bf16 autocast took about 12x as long as in float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_fast_bf16()


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's conv weights are laid out channels_last (what ``model.to(memory_format=...)``
    sets).

    Read off the first 4-d weight where the two layouts differ (more than one input channel and a
    kernel wider than one pixel); a model with none has nothing to lay out.
    """
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1:
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False


@contextmanager
def borrowed(
    model: nn.Module,
    *,
    eval_mode: bool = True,
    layout: torch.memory_format | None = torch.channels_last,
    frozen: bool = False,
) -> Iterator[nn.Module]:
    """Lend ``model`` to a block in eval mode and in ``layout``, then give it back exactly as it was.

    Given back, whatever the block does or raises: every module's own train/eval mode, every
    parameter's ``requires_grad`` and ``.grad`` (the block starts with no gradients, and those it
    makes are dropped), and each 4-d weight's and buffer's layout, in its own storage, holding the
    values the block left. channels_last gives the same results about 1.2-1.5x faster on the CPU;
    ``layout=None`` leaves the layout alone. ``frozen`` turns ``requires_grad`` off for the block, so
    that a backward pass computes the inputs' gradients only.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    grads = [(p, p.grad, p.requires_grad) for p in params]
    relaid: list[tuple[torch.Tensor, torch.Tensor]] = []  # (tensor, its own data in the caller's layout)
    try:
        for p in params:
            p.grad = None
            if frozen:
                p.requires_grad_(False)
        if eval_mode:
            model.eval()
        if layout is not None:
            for t in [*params, *model.buffers()]:
                # as model.to(memory_format=...) lays them out: a conv with one input channel too,
                # whose strides the kernels read even though either layout describes its memory
                new = t.data.to(memory_format=layout) if t.dim() == 4 else t.data
                if new.data_ptr() != t.data.data_ptr():
                    relaid.append((t, t.data))
                    t.data = new
        yield model
    finally:
        with torch.no_grad():
            for t, own in relaid:
                own.copy_(t.data)
                t.data = own
        for p, grad, requires_grad in grads:
            p.requires_grad_(requires_grad)
            p.grad = grad
        for m, training in modes:
            m.training = training
