"""Bad inputs, tried as a hostile or careless user would: every one ends in a clean one-line error.

Each case runs the real `gapviz` command (in this process through ``gapviz.cli.main.main``, or as a
subprocess where a closed reader matters) on a private GAPVIZ_HOME. Clean means: exit code 1 and one
line on stderr (one per problem for config errors), no traceback, no "unexpected error", not the
contents of the file it was given; for a closed pipe, a non-zero exit with nothing on stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

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
    """Exit code and stderr of `gapviz ARGV` run through the CLI's main; None: an exception escaped."""
    from gapviz.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
        except BaseException as error:  # noqa: BLE001 - an escaped exception is what we look for
            return None, f"Traceback: {type(error).__name__}: {error}"
    return code, err.getvalue()


def outcome(code: int | None, err: str, *, pipe: bool = False) -> str:
    """clean, traceback, leak, unexpected or wrong (exit 0 for a bad input)."""
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


LABELS = [label for _, label, _ in cases(defaultdict(Path))]  # the labels name no path


@pytest.fixture(scope="module")
def argv_of(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every case's argv by label, pointing at bad files written once for the module."""
    return {label: argv for _, label, argv in cases(files(tmp_path_factory.mktemp("bad")))}


@pytest.fixture(autouse=True)
def _private_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh GAPVIZ_HOME, offline, no queue."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.mark.parametrize("label", LABELS)
def test_a_bad_input_ends_in_a_clean_one_line_error(label: str, argv_of: dict[str, list[str]]) -> None:
    code, err = run_in_process(argv_of[label])
    assert outcome(code, err) == "clean", f"exit {code}: {err.strip()[:300]}"


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("argv", PIPED, ids=" ".join)
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gapviz.cli.main", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.close()  # as `| head` does when it exits
    _, err = process.communicate(timeout=120)
    assert outcome(process.returncode, err.decode(errors="replace"), pipe=True) == "clean", err
