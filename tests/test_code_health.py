"""House rules the architecture relies on, checked on the source (issue 11)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gapviz"
MAX_FUNCTION_LINES = 60
RUN_FOLDER_NAMES = re.compile(
    r"""["'](status\.json|config\.json|meta\.json|metrics\.jsonl|captions\.json|last\.pt)["']"""
)
NUMBA_MARK = "numba kernel"
"""A numba kernel may be longer: its docstring says so and why."""


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _long_functions(path: Path) -> list[str]:
    text = path.read_text()
    tree = ast.parse(text)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and NUMBA_MARK not in (ast.get_docstring(node) or ""):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_a_screen():
    long = [entry for path in _sources() for entry in _long_functions(path)]
    assert long == []


def test_run_folder_file_names_live_in_the_store_only():
    owners = {PACKAGE / "runs" / "store.py"}
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in _sources()
        if path not in owners
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RUN_FOLDER_NAMES.search(line)
    ]
    assert offenders == []


def test_science_imports_no_app_queue_or_store():
    forbidden = ("streamlit", "redis", "rq", "gapviz.app", "gapviz.queue", "gapviz.runs", "gapviz.training")
    offenders = []
    for path in (PACKAGE / "science").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden or n.startswith(forbidden)]
    assert offenders == []
