"""No library call changes the caller's model: modes, gradients, values, layout and hooks come back.

Every public function of fer_lib that takes a model has a row in CASES: it is called on a small
model in a mixed state (one block training, the rest in eval mode; a frozen parameter; a parameter
holding a gradient; one conv laid out channels_last) with tiny synthetic inputs, and the model must
be exactly as it was afterwards, except for the tensors whose change is the function's job.
``test_every_function_that_takes_a_model_has_a_row`` finds those functions by their signatures, so
that a new one without a row fails.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fer_lib
from fer_lib import attribution, device, evaluate, export, models, photos, runtime, ship, train
from fer_lib.names import METHODS
from fer_lib.synthetic import synthetic_fer

# Public functions that take a model and change it as their whole job, so no row can hold them.
EXEMPT = {
    "fer_lib.train.train_epoch": "one epoch of training: the weights, gradients and mode are its output",
}


def small_model() -> nn.Sequential:
    """A network with every kind of layer the library's models have, small enough to run in milliseconds."""
    torch.manual_seed(0)
    return nn.Sequential(
        models.Normalize(),
        models.conv_block(1, 4, 3, 0.1),  # 48 -> 24
        models.conv_block(4, 6, 3, 0.1),  # 24 -> 12
        models.conv_block(6, 8, 3, 0.1),  # 12 -> 6
        nn.Flatten(),
        models.dense_block(8 * 6 * 6, 16, 0.2),
        nn.Linear(16, 7),
    )


def mixed_state(model: nn.Sequential) -> nn.Sequential:
    """The state a caller may leave a model in, every part of which a careless call would change."""
    model.eval()
    model[5].train()  # the dense block trains (BatchNorm1d, dropout), the convs are frozen in eval mode
    model[1][0].bias.requires_grad_(False)
    model[2][0].weight.grad = torch.randn_like(model[2][0].weight)  # mid-way through accumulating
    # one conv channels_last, the conv before it not: the model has no single layout to restore
    model[3][0].weight.data = model[3][0].weight.data.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # statistics unlike a fresh layer's, so that a reset would show
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return model


@dataclass
class Inputs:
    data: object  # a FerData
    images: np.ndarray  # uint8 (N, 48, 48)
    x: torch.Tensor  # float (N, 1, 48, 48) in [0, 1]
    target: torch.Tensor
    tmp: Path


class UniformGuess:
    """Stands in for an ONNX model in ``export.compare``: exporting one takes seconds, and only the torch
    model is the caller's."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.full((len(images), 7), 1 / 7, np.float32)


@dataclass
class Case:
    function: Callable
    call: Callable[[nn.Module, Inputs], object]
    variant: str = ""
    changes: Callable[[nn.Module], set[str]] = field(default=lambda model: set())  # its job to change

    @property
    def name(self) -> str:
        return f"{self.function.__module__}.{self.function.__name__}"

    @property
    def id(self) -> str:
        return self.name.removeprefix("fer_lib.") + (f"[{self.variant}]" if self.variant else "")


def _named(model: nn.Module, keep: Callable[[nn.Module, str], bool]) -> set[str]:
    return {
        f"{mod_name}.{t_name}".lstrip(".")
        for mod_name, mod in model.named_modules()
        for t_name, _ in [*mod.named_parameters(recurse=False), *mod.named_buffers(recurse=False)]
        if keep(mod, t_name)
    }


def batchnorm_statistics(model: nn.Module) -> set[str]:
    return _named(
        model,
        lambda m, n: isinstance(m, nn.modules.batchnorm._BatchNorm) and n in ("running_mean", "running_var"),
    )


def conv_and_dense_weights(model: nn.Module) -> set[str]:
    return _named(model, lambda m, n: isinstance(m, (nn.Conv2d, nn.Linear)))


def _inside_borrowed(**kwargs: object) -> Callable[[nn.Module, Inputs], object]:
    """A block that runs forward and backward through a borrowed model, as a library function would."""

    def call(model: nn.Module, i: Inputs) -> None:
        with device.borrowed(model, **kwargs):
            x = i.x[:2].clone().requires_grad_(True)
            model(x).logsumexp(1).sum().backward()
            assert x.grad is not None

    return call


def _export(model: nn.Module, path: Path) -> Path:
    pytest.importorskip(
        "onnxscript", reason="the export extra (onnx, onnxscript, onnxruntime) is not installed"
    )
    return export.export_onnx(model, path)


def _faces(i: Inputs) -> tuple[np.ndarray, list]:
    return photos.locate_faces(i.images[0])  # 48x48: taken whole, no detector


def _card_of(model: nn.Module, i: Inputs) -> dict:
    """A card of ``model`` on the test faces of ``i``: its accuracies and stored predictions."""
    predictions: dict[str, str] = {}
    metrics = evaluate.measure(model, i.data, predictions=predictions)
    return {"data_hash": i.data.data_hash(), "metrics": metrics, "predictions": predictions}


FEW_STEPS = dict(ig_steps=3, smooth_samples=2, occlusion_window=16, occlusion_stride=16)

CASES: list[Case] = [
    # attribution
    Case(attribution.last_conv, lambda m, i: attribution.last_conv(m)),
    *(
        Case(
            attribution.attribute,
            lambda m, i, method=method: attribution.attribute(m, i.x[:2], i.target[:2], method, **FEW_STEPS),
            variant=method,
        )
        for method in METHODS
    ),
    Case(attribution.parameter_layers, lambda m, i: attribution.parameter_layers(m)),
    Case(
        attribution.randomization_test,
        lambda m, i: attribution.randomization_test(m, i.x[:1], i.target[:1], methods=("saliency",)),
    ),
    Case(
        attribution.deletion_insertion,
        lambda m, i: attribution.deletion_insertion(m, i.x[:2], i.target[:2], None, steps=2),
    ),
    Case(attribution.layer_activations, lambda m, i: attribution.layer_activations(m, i.x[:3])),
    Case(attribution.activation_maps, lambda m, i: attribution.activation_maps(m, i.x[:1])),
    Case(attribution.top_activating, lambda m, i: attribution.top_activating(m, i.x[:3], k=2)),
    Case(
        attribution.activation_maximisation,
        lambda m, i: attribution.activation_maximisation(m, [0, 1], steps=2),
    ),
    Case(
        attribution.activation_maximisation,
        lambda m, i: attribution.activation_maximisation(m, [0], steps=2, channels_last=False),
        variant="contiguous",
    ),
    # device
    Case(device.is_channels_last, lambda m, i: device.is_channels_last(m)),
    Case(device.borrowed, _inside_borrowed()),
    Case(device.borrowed, _inside_borrowed(layout=torch.contiguous_format), variant="contiguous"),
    Case(device.borrowed, _inside_borrowed(layout=None, frozen=True), variant="frozen"),
    # evaluate
    Case(evaluate.predict_logits, lambda m, i: evaluate.predict_logits(m, i.images, tta="tencrop")),
    Case(
        evaluate.predict_logits_tta,
        lambda m, i: evaluate.predict_logits_tta(m, i.images, ("none", "flip"), batch_size=3),
    ),
    Case(evaluate.evaluate_split, lambda m, i: evaluate.evaluate_split(m, i.data, "PublicTest", tta="flip")),
    Case(
        evaluate.recompute_batchnorm,
        lambda m, i: evaluate.recompute_batchnorm(m, i.images, batch_size=4),
        changes=batchnorm_statistics,
    ),
    Case(evaluate.measure, lambda m, i: evaluate.measure(m, i.data, splits=("PublicTest",), ttas=("none",))),
    # export
    Case(export.export_onnx, lambda m, i: _export(m, i.tmp / "model.onnx")),
    Case(export.compare, lambda m, i: export.compare(m, UniformGuess(), i.images)),
    # models
    Case(models.keras_defaults, lambda m, i: models.keras_defaults(m), changes=conv_and_dense_weights),
    Case(models.weights_fingerprint, lambda m, i: models.weights_fingerprint(m)),
    Case(models.summary_rows, lambda m, i: models.summary_rows(m)),
    Case(models.summary, lambda m, i: models.summary(m)),
    # photos
    Case(photos.classify_faces, lambda m, i: photos.classify_faces(_faces(i)[1], m, tta="flip")),
    Case(photos.read_expressions, lambda m, i: photos.read_expressions(i.images[0], m)),
    Case(photos.explain_faces, lambda m, i: photos.explain_faces(*_faces(i), m, "gradcam", target="happy")),
    # ship
    Case(
        ship.check_predictions,
        lambda m, i: ship.check_predictions(m, i.data, "0" * 7, split="PublicTest", tta="none", sample=3),
    ),
    Case(runtime.inference_forward, lambda m, i: runtime.inference_forward(m, engine="torch")(i.x[:2])),
    Case(
        runtime.inference_forward,
        lambda m, i: runtime.inference_forward(m)(i.x[:2]),
        variant="auto",
    ),
    Case(ship.save_fp16, lambda m, i: ship.save_fp16(m, {}, i.tmp / "model.pt")),
    Case(ship.card_problems, lambda m, i: ship.card_problems(_card_of(m, i), m, i.data, sample=4)),
    # train
    Case(
        train.train,
        lambda m, i: train.train(
            train.TrainConfig(
                model="simple_cnn", epochs=1, teacher="t", distill=0.5, batch_size=4, progress=False
            ),
            i.data,
            i.tmp / "student",
            force=True,
            teacher=m,
        ),
    ),
    Case(
        train.make_loss,
        lambda m, i: train.make_loss(
            train.TrainConfig(teacher="t", distill=0.5, flip=True, shift=0, rotate=0, scale=0),
            i.data.split("Training"),
            torch.device("cpu"),
            False,
            m,
        ),
    ),
    Case(
        train.validate,
        lambda m, i: train.validate(m, i.data.split("PublicTest"), 4, torch.device("cpu"), False),
    ),
    Case(train.model_device, lambda m, i: train.model_device(m)),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    data = synthetic_fer(7, 7, 7, seed=3)
    images = data.split("PublicTest").images
    return Inputs(
        data=data,
        images=images,
        x=evaluate.to_float_images(images),
        target=torch.as_tensor(data.split("PublicTest").labels),
        tmp=tmp_path_factory.mktemp("caller_model"),
    )


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything of a model a call could change, copied."""
    tensors = {}
    for mod_name, mod in model.named_modules():
        for kind, named in (("parameter", mod.named_parameters), ("buffer", mod.named_buffers)):
            for t_name, t in named(recurse=False):
                grad = getattr(t, "grad", None) if kind == "parameter" else None
                tensors[f"{mod_name}.{t_name}".lstrip(".")] = {
                    "object": t,
                    "kind": kind,
                    "requires_grad": t.requires_grad,
                    "dtype": t.dtype,
                    "device": t.device,
                    "layout": t.stride(),
                    "value": t.detach().clone(),
                    "grad": None if grad is None else (grad.detach().clone(), grad.stride()),
                }
    return {
        "modes": {name or "(model)": m.training for name, m in model.named_modules()},
        "hooks": {
            name or "(model)": tuple(
                len(h)
                for h in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks)
            )
            for name, m in model.named_modules()
        },
        "tensors": tensors,
    }


def differences(before: dict, after: dict, may_change: set[str]) -> list[str]:
    """What differs between two snapshots, one line each."""
    out = [
        f"{name}: {'train' if was else 'eval'} mode became {'train' if after['modes'].get(name) else 'eval'}"
        for name, was in before["modes"].items()
        if after["modes"].get(name) != was
    ]
    out += [
        f"{name}: hooks {was} became {after['hooks'].get(name)}"
        for name, was in before["hooks"].items()
        if after["hooks"].get(name) != was
    ]
    if set(before["tensors"]) != set(after["tensors"]):
        out.append(f"tensors {sorted(before['tensors'])} became {sorted(after['tensors'])}")
    for name, b in before["tensors"].items():
        a = after["tensors"].get(name)
        if a is None:
            continue
        if a["object"] is not b["object"]:
            out.append(f"{name}: the {b['kind']} was replaced by another tensor")
        for key in ("requires_grad", "dtype", "device", "layout"):
            if a[key] != b[key]:
                out.append(f"{name}: {key} {b[key]} became {a[key]}")
        if name not in may_change and not torch.equal(a["value"], b["value"]):
            out.append(f"{name}: its values changed")
        if (a["grad"] is None) != (b["grad"] is None):
            was, now = ("None" if g is None else "set" for g in (b["grad"], a["grad"]))
            out.append(f"{name}: .grad {was} became {now}")
        elif b["grad"] is not None and (
            not torch.equal(a["grad"][0], b["grad"][0]) or a["grad"][1] != b["grad"][1]
        ):
            out.append(f"{name}: its existing .grad changed")
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_callers_model_comes_back_as_it_was(case: Case, inputs: Inputs):
    model = mixed_state(small_model())
    before = snapshot(model)
    case.call(model, inputs)
    may_change = case.changes(model)
    assert may_change <= set(before["tensors"]), f"{case.id}: its 'changes' name no tensor of the model"
    changed = differences(before, snapshot(model), may_change)
    assert not changed, f"{case.id} changed the caller's model: " + "; ".join(changed)


def test_the_snapshot_sees_each_kind_of_change():
    """The comparison above can fail: each thing it checks, changed by hand, is reported."""
    changes: dict[str, Callable[[nn.Sequential], object]] = {
        "mode": lambda m: m.eval(),
        "hooks": lambda m: m[1][0].register_forward_hook(lambda *a: None),
        "requires_grad": lambda m: m[1][0].bias.requires_grad_(True),
        "layout": lambda m: m.to(memory_format=torch.contiguous_format),
        "values": lambda m: m[6].bias.data.add_(1),
        "replaced": lambda m: setattr(m[6], "bias", nn.Parameter(m[6].bias.detach().clone())),
        ".grad None": lambda m: setattr(m[6].weight, "grad", torch.zeros_like(m[6].weight)),
        "existing .grad": lambda m: m[2][0].weight.grad.add_(1),
        "statistics": lambda m: m[5][1].running_mean.add_(1),
    }
    for what, change in changes.items():
        model = mixed_state(small_model())
        before = snapshot(model)
        change(model)
        assert differences(before, snapshot(model), set()), f"a change of {what} went unseen"
    model = mixed_state(small_model())
    before = snapshot(model)
    model[5][1].running_mean.add_(1)
    assert differences(before, snapshot(model), batchnorm_statistics(model)) == []


def test_borrowed_gives_the_model_back_when_the_block_fails():
    model = mixed_state(small_model())
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="the block failed"), device.borrowed(model, frozen=True):
        x = torch.rand(2, 1, 48, 48, requires_grad=True)
        model(x).sum().backward()
        assert x.grad is not None and all(p.grad is None for p in model.parameters())
        raise RuntimeError("the block failed")
    assert differences(before, snapshot(model), set()) == []


def _takes_a_model(fn: Callable, module: object) -> bool:
    """Whether a parameter of ``fn`` is annotated with an nn.Module (alone or in a union), or unannotated
    and named like one."""
    for p in inspect.signature(fn).parameters.values():
        ann = p.annotation
        if ann is inspect.Parameter.empty:
            if p.name in ("model", "net", "teacher"):
                return True
            continue
        if isinstance(ann, str):
            try:
                ann = eval(ann, vars(module))  # the modules use `from __future__ import annotations`
            except NameError:  # a name imported for type checking only: judge the text
                if "Module" in ann:
                    return True
                continue
        stack = [ann]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, nn.Module):
                return True
            stack.extend(typing.get_args(t))
    return False


def public_functions_taking_a_model() -> set[str]:
    found = set()
    for info in pkgutil.iter_modules(fer_lib.__path__):
        module = importlib.import_module(f"fer_lib.{info.name}")
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            if _takes_a_model(fn, module):
                found.add(f"{module.__name__}.{name}")
    return found


def test_every_function_that_takes_a_model_has_a_row():
    found = public_functions_taking_a_model()
    rows = {case.name for case in CASES}
    # the finder sees plain annotations, unions and decorated functions
    assert {
        "fer_lib.evaluate.recompute_batchnorm",
        "fer_lib.models.summary",
        "fer_lib.photos.read_expressions",
        "fer_lib.device.borrowed",
    } <= found
    missing = sorted(found - rows - set(EXEMPT))
    assert not missing, f"public functions that take a model but have no row in CASES: {', '.join(missing)}"
    stale = sorted((rows | set(EXEMPT)) - found)
    assert not stale, f"rows for functions that are gone or no longer take a model: {', '.join(stale)}"


def test_a_function_added_without_a_row_is_found(monkeypatch):
    def crop_and_predict(net: nn.Module | None, faces: np.ndarray) -> None:
        """Stands in for a public function added later."""

    crop_and_predict.__module__ = "fer_lib.evaluate"
    monkeypatch.setattr(evaluate, "crop_and_predict", crop_and_predict, raising=False)
    assert "fer_lib.evaluate.crop_and_predict" in public_functions_taking_a_model()
