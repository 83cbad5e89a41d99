"""Every function of both packages reads in one sitting: none is longer than 80 lines."""

import ast

from .conftest import REPO


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted([*(REPO / "fer_lib").glob("*.py"), *(REPO / "fer_report").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
