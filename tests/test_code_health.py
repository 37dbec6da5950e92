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


APP = PACKAGE / "app"
FEATURES = ("explore", "launch", "live", "compare", "theory")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every gapviz module ``path`` imports, at the top or inside a function (``from p import m`` names p.m)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gapviz")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gapviz"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                found.add(sub if is_module or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module)
    return found


def test_no_layer_below_the_app_imports_it():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in _sources()
        if APP not in path.parents
        for name in _imports(path)
        if name == "gapviz.app" or name.startswith("gapviz.app.")
    ]
    assert offenders == []


def test_feature_packages_import_only_shared_and_themselves():
    offenders = []
    for path in APP.rglob("*.py"):
        owner = path.relative_to(APP).parts[0] if len(path.relative_to(APP).parts) > 1 else None
        for name in _imports(path):
            parts = name.split(".")
            target = parts[2] if len(parts) > 2 and parts[:2] == ["gapviz", "app"] else None
            if target in FEATURES and owner != target:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {name}")
            if target is not None and target not in (*FEATURES, "shared"):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {name} (not a feature package or shared)")
    assert offenders == []
    assert not (APP / "pages").exists()


def test_no_import_circle_inside_the_app():
    graph = {_module_name(p): {n for n in _imports(p) if n.startswith("gapviz.app.")} for p in APP.rglob("*.py")}
    state: dict[str, int] = {}
    circles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
