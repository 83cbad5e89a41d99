"""The arrows between fer_lib's modules, read from their import statements (``ast``), not from a run.

The trainer takes models, not names, so it never imports the catalogue of shipped models; and no
module reaches for another's private names: what one module needs of another is public there.
"""

from __future__ import annotations

import ast

import pytest

from .conftest import REPO

FER_LIB = REPO / "fer_lib"

# (importing module, module imported from, name): private names still imported across modules, each with
# why it stays for now; none today
KNOWN: set[tuple[str, str, str]] = set()


def imports(source: str, module: str) -> list[tuple[str, str]]:
    """Every (fer_lib module, name) that ``module``'s source imports, at any depth (imports inside functions
    too); a whole module imported is (module, "")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y, from . import x
                base = node.module or ""
            elif node.level == 0 and (node.module or "").split(".")[0] == "fer_lib":
                base = (node.module or "").removeprefix("fer_lib").lstrip(".")
            else:
                continue
            for alias in node.names:
                found.append((base, alias.name) if base else (alias.name, ""))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fer_lib":
                    found.append((alias.name.removeprefix("fer_lib").lstrip("."), ""))
    return found


def private_imports(source: str, module: str) -> set[tuple[str, str, str]]:
    """The names private to another fer_lib module that ``module`` imports: (module, from, name)."""
    return {
        (module, base, name)
        for base, name in imports(source, module)
        if base != module
        and (name or base.split(".")[-1]).startswith("_")
        and not (name or base).startswith("__")
    }


def modules() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(FER_LIB.glob("*.py"))}


def test_the_trainer_imports_nothing_from_the_catalogue_of_shipped_models():
    found = imports((FER_LIB / "train.py").read_text(), "train")
    assert ("rundir", "RunFolder") in found  # the parse sees the trainer's own imports
    assert not [(base, name) for base, name in found if base == "pretrained"]


def test_no_module_imports_another_modules_private_names():
    found = set().union(*(private_imports(src, name) for name, src in modules().items()))
    assert not found - KNOWN, f"private names imported across modules: {sorted(found - KNOWN)}"


@pytest.mark.parametrize(
    "source, found",
    [
        ("from .models import _read_checkpoint, build_model", {("train", "models", "_read_checkpoint")}),
        ("def f():\n    from .evaluate import _eval_batch", {("train", "evaluate", "_eval_batch")}),
        ("from fer_lib.models import _misfit as m", {("train", "models", "_misfit")}),
        ("from . import _private", {("train", "_private", "")}),
        ("from .models import build_model, __version__", set()),
        ("from .train import _epoch_seed", set()),  # its own name
        ("from torch.nn.modules.batchnorm import _BatchNorm", set()),  # not fer_lib's
    ],
)
def test_the_check_finds_a_private_import_wherever_it_is_written(source, found):
    assert private_imports(source, "train") == found


@pytest.mark.parametrize(
    "source",
    [
        "from .pretrained import load_model",
        "from . import pretrained",
        "import fer_lib.pretrained",
        "from fer_lib import pretrained",
        "def f():\n    from fer_lib.pretrained import load_model",
    ],
)
def test_the_check_finds_the_catalogue_however_it_is_imported(source):
    assert "pretrained" in [base for base, _ in imports(source, "train")]
