"""What makes a chapter notebook's code cell too much for a report: a loop, a branch, a definition, a
comprehension, or too many lines (the logic belongs in the chapter's module, with a test)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOT_IN_A_CELL = (
    ast.For,
    ast.While,
    ast.FunctionDef,
    ast.ClassDef,
    ast.If,
    ast.IfExp,
    ast.ListComp,
    ast.DictComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.Lambda,
)
MAX_LINES = 10  # any code cell
MAX_VISIBLE_LINES = 6  # a cell the reader sees


def cell_problems(cells: list[dict]) -> list[str]:
    """One sentence per code cell that holds a loop, branch, definition or comprehension, or too many lines
    (the parameters cells aside: they list the chapter's parameters)."""
    problems = []
    for i, cell in enumerate(cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & {"parameters", "injected-parameters"}:
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if line.strip()]
        python = "\n".join(line for line in lines if not line.startswith("%"))
        found = sorted(
            {type(n).__name__ for n in ast.walk(ast.parse(python)) if isinstance(n, NOT_IN_A_CELL)}
        )
        limit = MAX_LINES if tags & {"remove-cell", "remove-input"} else MAX_VISIBLE_LINES
        if found:
            problems.append(f"cell {i} holds {', '.join(found)}")
        if len(lines) > limit:
            problems.append(f"cell {i} has {len(lines)} lines (at most {limit})")
    return problems


def notebook_problems(path: Path) -> list[str]:
    """``cell_problems`` of a notebook file."""
    return cell_problems(json.loads(Path(path).read_text())["cells"])
