"""House rules the architecture relies on, checked on the source (issue 11)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gapviz"
MAX_FUNCTION_LINES = 60
RUN_FOLDER_NAMES = re.compile(  # file names, and the two folders where a path is joined
    r"""["'](status\.json|config\.json|meta\.json|metrics\.jsonl|captions\.json|last\.pt|gap_trace\.jsonl|heartbeat)["']"""
    r"""|/\s*["'](epochs|checkpoints)["']|["'](epochs|checkpoints)/"""
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Every gapviz module this file imports, inside functions and under TYPE_CHECKING too."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
    return {m for m in found if m in modules and m != name}


def _import_graph() -> dict[str, set[str]]:
    paths = _sources()
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imported_modules(p, modules) for p in paths}


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in the graph (depth-first, a module on the stack seen again), or []."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str]:
        colour[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if colour.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in colour and (cycle := visit(n)):
                return cycle
        stack.pop()
        colour[m] = 2
        return []

    for m in sorted(graph):
        if m not in colour and (cycle := visit(m)):
            return cycle
    return []


def test_no_two_modules_import_each_other():
    cycle = _find_cycle(_import_graph())
    assert cycle == [], " -> ".join(cycle)


RUN_STATES = {"created", "queued", "running", "finished", "failed", "cancelled", "interrupted", "unreadable"}
JOB_STATUSES = {"started", "deferred", "scheduled", "canceled", "stopped"}  # RQ's JobStatus
CANCEL_OUTCOMES = {"stopping"}
EVENT_KINDS = {"step", "epoch", "state"}
"""Only a state, job status or event kind has an enum: code outside the enum's module compares the members."""
STATUS_OWNERS = {"runs/records.py", "queue/events.py", "queue/submission.py"}
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _compared_literals(node: ast.Compare) -> set[str]:
    """Status literals a comparison tests against (directly, or inside a tuple, list or set).

    An event kind counts only against something named ``kind`` ("epoch" and "step" are also column names), and
    "scheduled" not against a ``mode`` (the scheduled temperature mode is no RQ status).
    """
    if not any(isinstance(op, COMPARISONS) for op in node.ops):
        return set()
    sides = [node.left, *node.comparators]
    context = " ".join(ast.unparse(side) for side in sides if not isinstance(side, (ast.Constant, ast.Tuple)))
    words = RUN_STATES | JOB_STATUSES | CANCEL_OUTCOMES | (EVENT_KINDS if "kind" in context else set())
    if "mode" in context:
        words = words - {"scheduled"}
    found = set()
    for side in sides:
        items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
        found |= {item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)}
    return found & words


def status_literal_comparisons(root: Path, skip: tuple[str, ...]) -> list[str]:
    """Every comparison of a status literal under ``root`` outside its owner (paths relative to gapviz/)."""
    offenders = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name in STATUS_OWNERS or name.startswith(skip):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                offenders += [f"{name}:{node.lineno} {word!r}" for word in sorted(_compared_literals(node))]
    return offenders


def test_states_are_compared_as_enum_members():
    assert status_literal_comparisons(PACKAGE, skip=()) == []


def test_state_enums_still_equal_and_print_as_their_text():
    """The app still compares strings: a str Enum member must equal, and print as, its value."""
    from gapviz.queue import events
    from gapviz.queue.submission import CancelOutcome
    from gapviz.runs import store
    from gapviz.runs.records import RunState, RunStatus

    assert RunState.FINISHED == "finished" and f"{RunState.FINISHED}" == "finished" and str(RunState.QUEUED) == "queued"
    assert CancelOutcome.CANCELLED == "cancelled" and CancelOutcome.STOPPING == "stopping"
    assert events.KIND_EPOCH is events.EventKind.EPOCH and events.KIND_STATE == "state"
    assert store.UNREADABLE is RunState.UNREADABLE == "unreadable"
    unreadable = RunState.UNREADABLE
    assert not unreadable.is_terminal and unreadable not in RunState.ACTIVE | RunState.RESUMABLE
    try:
        RunStatus.from_dict({"state": "unreadable"})
    except ValueError:
        pass
    else:
        raise AssertionError("status.json must never say unreadable")
