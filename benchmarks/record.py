"""One results file per benchmark: what was measured, on what machine, under what load, against what target.

Every benchmark ends with ``save(name, ...)``; with ``--record`` the file goes to
``benchmarks/results/<name>.json``, from which ``python -m benchmarks.report`` writes
docs/benchmarks.md. No number of that page is typed: each comes from one of these files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OPERATORS = ("<=", ">=", "<", ">")


def measure(
    key: str, label: str, value: float, unit: str = "", target: tuple[str, float] | None = None, digits: int = 2
) -> dict[str, Any]:
    """One named number; ``target`` = (operator, bound) makes it a checked target (met or missed)."""
    if target is not None and target[0] not in OPERATORS:
        raise ValueError(f"target operator must be one of {OPERATORS}, not {target[0]!r}")
    number = float(value)
    entry: dict[str, Any] = {
        "key": key,
        "label": label,
        "value": number if math.isfinite(number) else None,  # None: not measured (the page says so)
        "unit": unit,
        "digits": digits,
    }
    if target is not None:
        entry["target"] = {"op": target[0], "value": float(target[1])}
    return entry


def table(
    key: str, columns: list[str], rows: list[list[Any]], digits: list[int | None] | None = None
) -> dict[str, Any]:
    """A table of results: numeric cells are formatted with their column's ``digits``, text cells as they are."""
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"table {key}: every row needs {len(columns)} cells")
    if digits is not None and len(digits) != len(columns):
        raise ValueError(f"table {key}: digits needs one entry per column ({len(columns)})")
    rows = [[_finite_or_text(cell) for cell in row] for row in rows]
    return {"key": key, "columns": columns, "rows": rows, "digits": digits or [2] * len(columns)}


def _finite_or_text(cell: Any) -> Any:
    """A table cell as JSON can hold it: a non-finite number becomes the text "not measured"."""
    if isinstance(cell, float) and not math.isfinite(cell):
        return "not measured"
    return cell


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare two results: cores, CPU, memory, Python, torch and its threads, GPU."""
    facts: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
        facts["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        return round(int(first.split()[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        return None


_NOT_CODE = [":(exclude)benchmarks/results", ":(exclude)benchmarks/page"]


def _commit() -> str:
    """The checkout's commit, with ``+changes`` when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        changes = ["git", "status", "--porcelain", "--", "gapviz", "workers", "benchmarks", *_NOT_CODE]
        dirty = subprocess.run(changes, cwd=root, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


BUSY_SAMPLE_S = 2.0
"""How long the machine's CPU use is sampled before a benchmark starts."""


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat; None where there is none."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(seconds: float = BUSY_SAMPLE_S) -> float | None:
    """How many cores other processes kept busy over the next ``seconds`` (this one sleeps meanwhile)."""
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1), 2)


class Session:
    """Started when a benchmark starts (the machine's CPU use and load then), saved when it ends."""

    def __init__(
        self, name: str, argv: list[str] | None = None, module: str | None = None, sample_s: float = BUSY_SAMPLE_S
    ) -> None:
        """``name`` names the results file; ``module`` the benchmark's module when it is not bench_<name>;
        the machine's CPU use is sampled for ``sample_s`` seconds first (0: not sampled)."""
        self.name = name
        shown = _without_output_flags(list(sys.argv[1:] if argv is None else argv))
        self.command = f"python -m benchmarks.{module or _module_name(name)}" + "".join(f" {a}" for a in shown)
        self.load_before = [round(x, 2) for x in os.getloadavg()]
        self.busy_before = busy_cores(sample_s) if sample_s > 0 else None
        self.commit = _commit()  # the code that runs is the code at the start
        self.started = time.time()

    def save(
        self, measures: list[dict[str, Any]], tables: list[dict[str, Any]], path: str | Path | None
    ) -> dict[str, Any]:
        """The result as a dict, also written to ``path`` when one is given."""
        result = {
            "benchmark": self.name,
            "command": self.command,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "wall_s": round(time.time() - self.started, 1),
            "commit": self.commit,
            "machine": machine(),
            "busy_cores_before": self.busy_before,
            "load_average_before": self.load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "measures": measures,
            "tables": tables,
        }
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
            print(f"results written to {path}", flush=True)
        return result


def _without_output_flags(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip or arg == "--record" or arg.startswith("--json="):
            skip = False
            continue
        if arg == "--json":
            skip = True
            continue
        kept.append(arg)
    return kept


def _module_name(name: str) -> str:
    return f"bench_{name}"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--record`` (write benchmarks/results/<name>.json, the page's source) and ``--json PATH``."""
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/<name>.json (docs source)")
    parser.add_argument("--json", help="write the results file here instead")


def output_path(name: str, args: argparse.Namespace) -> Path | None:
    """Where ``add_output_arguments``' flags send the results file, if anywhere."""
    if args.json:
        return Path(args.json)
    return RESULTS / f"{name}.json" if args.record else None
