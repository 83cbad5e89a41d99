"""A model's forward pass for inference alone: onnxruntime on the CPU where it is installed, else torch.

For these small networks on a CPU, onnxruntime runs the same float32 graph 3-4x faster than torch's
kernels (``benchmarks/bench_report.py`` prints the ratio); its logits differ from torch's in the sixth
decimal, and its predicted classes are checked against torch's on every test face by
``tests/test_export.py``. Evaluation and the attribution tests that only need outputs (occlusion,
deletion and insertion curves) ask for it here; gradients always come from torch.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable

import torch
from torch import nn

from .device import borrowed, resolve_device
from .errors import ConfigError

ENGINES = ("auto", "torch", "onnxruntime")
Forward = Callable[[torch.Tensor], torch.Tensor]


def onnxruntime_available() -> bool:
    """True where onnxruntime can be imported (the library's ``export`` extra)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_forward(model: nn.Module, batch_size: int | None = None) -> Forward:
    """The model itself, run in eval mode for each call (``borrowed``), on the device of the input,
    ``batch_size`` faces a pass (None: all of a call's faces in one)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        step = batch_size if batch_size and len(x) > batch_size else max(len(x), 1)
        with torch.inference_mode(), borrowed(model, layout=None):
            parts = [
                model(x[i : i + step].contiguous(memory_format=torch.channels_last)).float()
                for i in range(0, max(len(x), 1), step)
            ]
        return torch.cat(parts)

    return forward


def _onnx_bytes(model: nn.Module) -> bytes:
    """The model as an in-memory ONNX graph with a free batch size (a copy is exported, in eval mode)."""
    net = copy.deepcopy(model).float().to("cpu", memory_format=torch.contiguous_format).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(2, 1, 48, 48),),
            buf,
            input_names=["faces"],
            output_names=["logits"],
            dynamic_axes={"faces": {0: "n"}, "logits": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()


def _onnx_forward(model: nn.Module, batch_size: int) -> Forward:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    session = ort.InferenceSession(_onnx_bytes(model), options, providers=["CPUExecutionProvider"])

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float().contiguous()
        parts = [
            torch.from_numpy(session.run(None, {"faces": x[i : i + batch_size].numpy()})[0])
            for i in range(0, len(x), batch_size)
        ]
        return torch.cat(parts) if parts else torch.zeros(0, 7)

    return forward


def inference_forward(
    model: nn.Module,
    device: str | torch.device = "cpu",
    engine: str = "auto",
    batch_size: int = 512,
    torch_batch_size: int | None = None,
) -> Forward:
    """A function from float faces (N, 1, 48, 48) to float32 logits (N, classes), for inference only.

    ``engine``: 'auto' is onnxruntime on the CPU where it is installed and the model exports, else
    torch; 'torch' or 'onnxruntime' ask for one. The onnxruntime function holds a copy of the weights
    as they are now (ask again after changing them) and runs ``batch_size`` faces a pass; the torch one
    runs the model itself, put in eval mode for each call and given back as it was, ``torch_batch_size``
    faces a pass (None: a call's faces in one).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine '{engine}'; expected one of {', '.join(ENGINES)}.")
    on_cpu = resolve_device(device).type == "cpu"
    if engine == "torch" or (engine == "auto" and not (on_cpu and onnxruntime_available())):
        return _torch_forward(model, torch_batch_size)
    try:
        return _onnx_forward(model, batch_size)
    except Exception:  # an operator the exporter or onnxruntime cannot take: torch gives the same numbers
        if engine == "onnxruntime":
            raise
        return _torch_forward(model, torch_batch_size)
