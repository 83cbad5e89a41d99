"""Every chapter reads as a report (short visible cells, no loops or definitions in a cell), and the
executed notebooks carry no path of the machine that ran them."""

import json
import re

import pytest

from .conftest import REPO
from .report_cells import notebook_problems

CHAPTERS = sorted((REPO / "book").glob("*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_follows_the_pattern(path):
    assert notebook_problems(path) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_recorded_parameters_hold_no_path_of_the_machine(path):
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            source = "".join(cell["source"])
            assert not re.search(r"""["'](/|[A-Za-z]:\\)""", source), f"{path.name}: {source}"
    meta = json.loads(path.read_text())["metadata"].get("papermill", {})
    for key in ("parameters", "input_path", "output_path"):
        assert not re.search(r"""(^|["' ])(/|[A-Za-z]:\\)""", json.dumps(meta.get(key, ""))), (
            f"{path.name}: {key}"
        )
