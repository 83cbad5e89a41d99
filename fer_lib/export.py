"""ONNX export, and inference with onnxruntime: the models where torch is not installed.

The exported graph takes ``faces``, float32 (N, 1, 48, 48) with pixels in [0, 1] (the model's own
normalisation is inside the graph), and returns ``logits`` (N, 7); the batch size is free. The
class names are stored in the file's metadata. Needs the ``export`` extra (onnx, onnxscript,
onnxruntime).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import CLASSES, IMAGE_SIZE
from .errors import ConfigError
from .files import write_bytes

INPUT, OUTPUT = "faces", "logits"


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"ONNX export and inference need {module}: pip install 'fer-lib[export]' "
            "(onnx, onnxscript, onnxruntime)."
        ) from None


def export_onnx(model: nn.Module, path: str | Path, *, name: str = "", opset: int = 18) -> Path:
    """Write ``model`` as one self-contained ONNX file with a free batch size; the caller's model is not
    changed."""
    _need("onnxscript")
    _need("onnx")
    p = Path(path)
    net = copy.deepcopy(model).float().to("cpu", memory_format=torch.contiguous_format).eval()
    example = torch.rand(2, 1, IMAGE_SIZE, IMAGE_SIZE)
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                net,
                (example,),
                input_names=[INPUT],
                output_names=[OUTPUT],
                opset_version=opset,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                verbose=False,
            )
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    proto = program.model_proto
    for key, value in (
        ("classes", json.dumps(list(CLASSES))),
        ("model", name or type(model).__name__),
        ("input", "float32 (N, 1, 48, 48), pixels in [0, 1]"),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return write_bytes(p, proto.SerializeToString())  # whole or not at all: a full disk leaves no stub


class OnnxModel:
    """An exported model run by onnxruntime on the CPU: ``logits(images)`` as the torch model's."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = _need("onnxruntime")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise ConfigError(
                f"{path}: not an ONNX model onnxruntime can load ({type(e).__name__})."
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.classes = json.loads(meta["classes"]) if "classes" in meta else list(CLASSES)

    def logits(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 (N, 48, 48) faces, or float (N, 1, 48, 48) in [0, 1] -> (N, 7) logits."""
        x = np.asarray(images)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255.0)
        if x.ndim == 3:
            x = x[:, None]
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = [
            self.session.run([OUTPUT], {INPUT: x[i : i + batch_size]})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        z = self.logits(images)
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


def compare(model: nn.Module, onnx_model: OnnxModel, images: np.ndarray) -> dict:
    """How far the ONNX model's answers are from torch's on ``images``: differing classes, largest
    probability gap."""
    from .evaluate import predict_logits

    p_torch = predict_logits(model, images, bf16=False).softmax(1).numpy()
    p_onnx = onnx_model.probabilities(images)
    return {
        "faces": len(images),
        "classes_differ": int((p_torch.argmax(1) != p_onnx.argmax(1)).sum()),
        "max_probability_gap": float(np.abs(p_torch - p_onnx).max()) if len(images) else 0.0,
    }
