"""Bad inputs, tried as a hostile or careless user would: every one must end in a clean one-line error.

Each case runs the real `gapviz` command (in this process through ``gapviz.cli.main.main``, or as a
subprocess where a pipe or a closed reader matters) on a private GAPVIZ_HOME and is classified:

- clean:      exit code 1 and one line on stderr (one per problem for config errors), no traceback,
              no "unexpected error"; for a closed pipe, any non-zero exit with nothing on stderr;
- traceback:  an exception escaped (a traceback on stderr, or no exit), or the error was not one line
              or not exit code 1 (counted with the tracebacks);
- unexpected: gapviz caught an error it did not expect ("unexpected error": a bug, one line);
- wrong:      exit code 0 where the input is bad (a silently wrong result);
- leak:       the message quotes the contents of the file it was given.

Run: python -m benchmarks.bad_inputs [--record | --json PATH]   (well under a minute on 2 idle cores)

``--record`` writes benchmarks/results/bad_inputs.json (docs/benchmarks.md's source); ``--json PATH``
writes the same results file elsewhere. Exit code 1 unless every input ends cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import record

REPO = Path(__file__).resolve().parents[1]
SECRET = "root:x:0:0:root:/root:/bin/bash"
TRAIN = ["train", "--preset", "tiny-test", "--set", "train.epochs=1"]


def files(folder: Path) -> dict[str, Path]:
    """The bad files the cases point at."""
    out = {"passwd": folder / "passwd", "dir": folder / "a-folder"}
    out["passwd"].write_text(SECRET + "\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    out["dir"].mkdir()
    texts = {
        "bad.json": '{"images": [',
        "list.json": "[1, 2]",
        "unhashable.json": json.dumps({"images": [{"id": [1, 2], "file_name": "a.jpg"}], "annotations": []}),
        "karpathy.json": json.dumps({"images": [{"filename": "a.jpg", "filepath": ["x"], "sentences": []}]}),
        "noann.json": '{"images": []}',
        "missing_cols.csv": "image,text\na.png,hi\n",
        "empty.csv": "",
        "short_row.csv": "filepath,caption\na.png,ok\nb.png\n",
        "cfg_inf.toml": "[train]\nlr = inf\n",
        "cfg_unknown.json": '{"train": {"epoch": 3}}',
        "cfg_list.json": "[1]",
        "cfg_bad.json": "{",
        "cfg_deep.json": "[" * 100_000,
        "not_emb.npy": "hello",
    }
    for name, text in texts.items():
        out[name] = folder / name
        out[name].write_text(text)
    out["binary.csv"] = folder / "binary.csv"
    out["binary.csv"].write_bytes(b"filepath,caption\n\xff\xfe\x00,bad\n")
    out["cfg_utf16.json"] = folder / "cfg_utf16.json"
    out["cfg_utf16.json"].write_bytes('{"train": {}}'.encode("utf-16"))
    np.save(folder / "shape.npy", np.zeros((3, 4, 2)))
    np.savez(folder / "noimage.npz", text=np.zeros((4, 2)))
    np.savez(folder / "nan.npz", image=np.full((4, 2), np.nan), text=np.zeros((4, 2)))
    np.savez(folder / "dims.npz", image=np.zeros((4, 2)), text=np.zeros((4, 3)))
    index = np.array([0, 1, 2, 9])
    np.savez(folder / "index.npz", image=np.ones((4, 2)), text=np.ones((4, 2)), text_image_index=index)
    forged = folder / "forged.npy"  # a header declaring 1.6 TB, with no data behind it
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 100000000, 1000), }"
    forged.write_bytes(
        b"\x93NUMPY\x01\x00" + len(header.ljust(118) + "\n").to_bytes(2, "little") + (header.ljust(118) + "\n").encode()
    )
    for name in ("shape.npy", "noimage.npz", "nan.npz", "dims.npz", "index.npz", "forged.npy"):
        out[name] = folder / name
    return out


SETS = (
    "train.lr=inf",
    "train.lr=nan",
    "train.lr=-1",
    "train.lr=0",
    "train.weight_decay=inf",
    "train.weight_decay=-1",
    "data.seed=-1",
    "seed=-5",
    "seed=99999999999999999999",
    "train.epochs=-1",
    "train.epochs=1.5",
    "train.epochs=abc",
    "train.batch_size=1",
    "data.eval_size=1",
    "data.mismatch=1.0",
    "data.mismatch=nan",
    "temperature.tau=0",
    "temperature.tau=inf",
    "temperature.tau=11",
    "temperature.mode=bogus",
    "swap.mode=hard",
    "swap.fraction=2",
    "temperature.k=inf",
    "device=tpu",
    "device=cuda:x",
    "device=cuda:7",
    "model.name=nope",
    "model.name= ",
    "model.pretrained=/nonexistent/w.pt",
    "model.pretrained=no-such-tag",
    "eval.projections=tsne",
    "eval.umap_neighbors=1",
    "data.csv_separator=ab",
    'data.csv_separator="',
    "data.image_size=5",
    "nonsense.key=1",
    "train=3",
    "noequals",
    "data.source=coco",
    "data.source=bogus",
    "train.max_steps_per_epoch=-1",
    "train.grad_accum=0",
    "eval.batch_size=0",
    "model.init_epoch=-2",
    "model.init_run=no-such-run",
)
"""Bad ``--set`` values of `gapviz train`."""
DATA_FILES = (
    ("csv", "passwd"),
    ("csv", "dir"),
    ("csv", "missing_cols.csv"),
    ("csv", "empty.csv"),
    ("csv", "short_row.csv"),
    ("csv", "binary.csv"),
    ("coco", "passwd"),
    ("coco", "bad.json"),
    ("coco", "list.json"),
    ("coco", "unhashable.json"),
    ("coco", "karpathy.json"),
    ("coco", "noann.json"),
    ("coco", "dir"),
)
"""(data.source, file) pairs of bad data files."""
CONFIGS = ("cfg_inf.toml", "cfg_unknown.json", "cfg_list.json", "cfg_bad.json", "cfg_deep.json", "cfg_utf16.json")
EMBEDDINGS = ("not_emb.npy", "shape.npy", "noimage.npz", "nan.npz", "dims.npz", "index.npz", "forged.npy")
PIPED = (["runs", "list"], ["runs", "list", "--json"], ["reproduce", "--list"])
"""Commands run with their stdout closed (as `| head` does when it exits)."""
Case = tuple[str, str, list[str]]
"""(kind, label, argv) of one bad input."""


def _file_cases(f: dict[str, Path]) -> list[Case]:
    """Bad data files, config files and embeddings files."""
    out: list[Case] = []
    for source, name in DATA_FILES:
        argv = [*TRAIN, "--set", f"data.source={source}", "--set", f"data.path={f[name]}"]
        out.append(("data files", f"data.source={source} data.path={name}", argv))
    missing = [*TRAIN, "--set", "data.source=csv", "--set", "data.path=/nonexistent.csv"]
    out.append(("data files", "data.path missing file", missing))
    out += [("config files", f"--config {name}", ["train", "--config", str(f[name])]) for name in CONFIGS]
    out += [
        ("config files", "--config missing", ["train", "--config", "/nonexistent.toml"]),
        ("config files", "--config a folder", ["train", "--config", str(f["dir"])]),
        ("config files", "--config and --preset", ["train", "--config", str(f["cfg_inf.toml"]), "--preset", "demo"]),
        ("embeddings files", "analyze missing", ["analyze", "/nonexistent.npz"]),
        ("embeddings files", "analyze passwd", ["analyze", str(f["passwd"])]),
        ("embeddings files", "analyze a folder", ["analyze", str(f["dir"])]),
    ]
    out += [("embeddings files", f"analyze {name}", ["analyze", str(f[name])]) for name in EMBEDDINGS]
    return out


def cases(f: dict[str, Path]) -> list[Case]:
    """(kind, label, argv) of every in-process case; each must fail cleanly."""
    out: list[Case] = [("--set values", f"--set {item}", [*TRAIN, "--set", item]) for item in SETS]
    out += _file_cases(f)
    out += [
        ("unknown run ids", "runs show unknown", ["runs", "show", "no-such-run"]),
        ("unknown run ids", "runs export unknown", ["runs", "export", "no-such-run"]),
        ("unknown run ids", "runs delete unknown", ["runs", "delete", "no-such-run", "--yes"]),
        ("queue and up misuses", "submit without a queue", ["submit", "--preset", "tiny-test"]),
        ("queue and up misuses", "submit bad sweep", ["submit", "--sweep", "nonsense.key=1,2"]),
        ("queue and up misuses", "submit bad sweep value", ["submit", "--sweep", "train.lr=0.1,-1"]),
        ("queue and up misuses", "cancel unknown", ["cancel", "no-such-run"]),
        ("queue and up misuses", "resume unknown", ["resume", "no-such-run"]),
        ("queue and up misuses", "status without a queue", ["status"]),
        ("queue and up misuses", "up --host 0.0.0.0 --no-token", ["up", "--host", "0.0.0.0", "--no-token"]),
        ("queue and up misuses", "up --workers -1", ["up", "--workers", "-1"]),
        ("queue and up misuses", "up --port 0", ["up", "--port", "0"]),
        ("reproduce misuses", "reproduce unknown", ["reproduce", "nope"]),
        ("reproduce misuses", "reproduce --wait alone", ["reproduce", "cone", "--wait"]),
        (
            "reproduce misuses",
            "reproduce paper without data",
            ["reproduce", "shift", "--scale", "paper", "--report-only"],
        ),
    ]
    return out


def run_in_process(argv: list[str]) -> tuple[int | None, str]:
    from gapviz.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
        except BaseException as error:  # noqa: BLE001 - an escaped exception is what we count
            return None, f"Traceback: {type(error).__name__}: {error}"
    return code, err.getvalue()


def run_piped(argv: list[str]) -> tuple[int | None, str]:
    """The command with its stdout closed before it writes (as `| head` does when it exits)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gapviz.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    return process.returncode, err.decode(errors="replace")


def classify(code: int | None, err: str, *, pipe: bool = False) -> str:
    if code is None or "Traceback" in err:
        return "traceback"
    if SECRET in err or "daemon:x" in err:
        return "leak"
    if "unexpected error" in err:
        return "unexpected"
    if pipe:
        return "clean" if code != 0 and err.strip() == "" else "wrong"
    if code == 0:
        return "wrong"
    lines = [line for line in err.strip().splitlines() if line]
    one_line = len(lines) == 1 or all(line.startswith("gapviz: config error:") for line in lines)
    return "clean" if code == 1 and one_line else "traceback"


OUTCOMES = ("clean", "traceback", "unexpected", "wrong", "leak")
CLEAN_LABEL = "clean one-line errors (exit 1; a closed pipe: non-zero, stderr empty)"


def try_all(f: dict[str, Path]) -> list[dict[str, Any]]:
    """Every case run and classified: kind, case, exit code, outcome and the start of stderr."""
    rows = []
    for kind, label, argv in cases(f):
        code, err = run_in_process(argv)
        rows.append({"kind": kind, "case": label, "exit": code, "outcome": classify(code, err), "stderr": err})
    for argv in PIPED:
        code, err = run_piped(argv)
        label, outcome = f"{' '.join(argv)} | head", classify(code, err, pipe=True)
        rows.append({"kind": "closed pipes", "case": label, "exit": code, "outcome": outcome, "stderr": err})
    for row in rows:
        row["stderr"] = row["stderr"].strip()[:200]
    return rows


def results(rows: list[dict[str, Any]], seconds: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The measures (each outcome's count, with its goal) and the tables (per kind; cases not clean)."""
    totals = {kind: sum(r["outcome"] == kind for r in rows) for kind in OUTCOMES}
    measures = [
        record.measure("tried", "bad inputs tried", len(rows), digits=0),
        record.measure("clean", CLEAN_LABEL, totals["clean"], "", (">=", len(rows)), 0),
        record.measure("tracebacks", "tracebacks", totals["traceback"], "", ("<=", 0), 0),
        record.measure("unexpected", '"unexpected error" (one line, a bug)', totals["unexpected"], "", ("<=", 0), 0),
        record.measure("silently_wrong", "silently wrong results (exit 0)", totals["wrong"], "", ("<=", 0), 0),
        record.measure("leaks", "file contents in the message", totals["leak"], "", ("<=", 0), 0),
        record.measure("seconds", "time to try them all", seconds, "s", digits=1),
    ]
    by_kind = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        outcomes = [r["outcome"] for r in rows if r["kind"] == kind]
        by_kind.append([kind, len(outcomes), *(outcomes.count(outcome) for outcome in OUTCOMES)])
    columns = ["kind of input", "tried", "clean", "traceback", "unexpected error", "silently wrong", "leak"]
    failures = [
        [r["case"], r["outcome"], "" if r["exit"] is None else r["exit"], r["stderr"]]
        for r in rows
        if r["outcome"] != "clean"
    ]
    tables = [
        record.table("by_kind", columns, by_kind, [None, 0, 0, 0, 0, 0, 0]),
        record.table("not_clean", ["case", "outcome", "exit code", "stderr"], failures, [None, None, 0, None]),
    ]
    return measures, tables


def main(argv: list[str] | None = None) -> int:
    """Try every bad input; print the ones not clean and the totals; exit 1 unless all are clean."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    record.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = record.Session("bad_inputs", argv, module="bad_inputs")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(GAPVIZ_HOME=str(Path(tmp) / "home"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        os.environ.pop("REDIS_URL", None)
        started = time.perf_counter()
        rows = try_all(files(Path(tmp)))
        elapsed = time.perf_counter() - started
    for row in rows:
        if row["outcome"] != "clean":
            print(f"{row['outcome']:<10} {row['case']}: exit {row['exit']}: {row['stderr']}")
    totals = {kind: sum(r["outcome"] == kind for r in rows) for kind in OUTCOMES}
    print(json.dumps({"tried": len(rows), **totals, "seconds": round(elapsed, 1)}))
    measures, tables = results(rows, elapsed)
    session.save(measures, tables, record.output_path("bad_inputs", args))
    return 0 if totals["clean"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
