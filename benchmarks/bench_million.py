"""`gapviz analyze` on a million pairs from a file (.npy and Parquet) in a subprocess, its time and memory.

Usage: python -m benchmarks.bench_million [--pairs 1000000] [--dim 512] [--resamples 1000] [--threads 2] [--record]

Issue 24's target: `gapviz analyze FILE` on 1,000,000 pairs × 512 dimensions completes within 4 GiB of memory on
.npy and on Parquet input, printing the subsample sizes. Synthetic pairs with a gap are written in chunks (the
benchmark never holds them) into a temporary folder, one format at a time, and deleted after. Each analyze runs
as `python -m gapviz.cli.main analyze FILE --json` while this process samples /proc/PID/status every
SAMPLE_S seconds. The 4 GiB criterion is the peak anonymous RSS (RssAnon): the mapped input's pages are clean
file-backed page cache that the kernel drops and re-reads under pressure, so they need no reserved memory;
the peak of all resident pages (VmHWM, which counts them) is recorded beside it. The baselines, measured in the
same run: one bare chunked pass reading the .npy (sum of every value) and one 10,000 × 10,000 × D matmul (the
size of the subsample retrieval runs on).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report

CHUNK = 1 << 16
SAMPLE_S = 0.02
TARGET_GIB = 4.0
STATUS_FIELDS = ("VmHWM", "RssAnon", "RssFile", "RssShmem")


def _chunks(pairs: int, dim: int):
    """Seeded (image, text) float32 chunks of synthetic pairs: caption noise and a gap between the modalities.

    Two CHUNK × D blocks of normal draws are made once; each chunk rolls them by its own seeded column shifts,
    so writing a million pairs costs the disk's time, not a billion random draws.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.standard_normal((CHUNK, dim), dtype=np.float32)
    noise = rng.standard_normal((CHUNK, dim), dtype=np.float32)
    for start in range(0, pairs, CHUNK):
        rows = min(CHUNK, pairs - start)
        shift_image, shift_noise = rng.integers(0, dim, size=2)
        image = np.roll(base[:rows], shift_image, axis=1) + np.float32(0.15)
        yield image, image + np.roll(noise[:rows], shift_noise, axis=1) - np.float32(0.3)


def write_npy(path: Path, pairs: int, dim: int) -> None:
    import numpy as np

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(2, pairs, dim))
    start = 0
    for image, text in _chunks(pairs, dim):
        out[0, start : start + len(image)], out[1, start : start + len(image)] = image, text
        start += len(image)
    out.flush()
    del out


def write_parquet(path: Path, pairs: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def column(a: Any) -> pa.Array:
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), dim)

    schema = pa.schema(
        [("image_embedding", pa.list_(pa.float32(), dim)), ("text_embedding", pa.list_(pa.float32(), dim))]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for image, text in _chunks(pairs, dim):
            writer.write_table(pa.table({"image_embedding": column(image), "text_embedding": column(text)}))


def _status(pid: int) -> dict[str, int]:
    """The memory fields of /proc/PID/status in KiB (empty once the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in lines) if k in STATUS_FIELDS}


def run_sampled(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, float], str]:
    """Run ``argv``, sampling its memory; (seconds, peak GiB of each STATUS_FIELDS, stdout)."""
    peaks = dict.fromkeys(STATUS_FIELDS, 0)
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        while proc.poll() is None:
            for key, value in _status(proc.pid).items():
                peaks[key] = max(peaks[key], value)
            time.sleep(SAMPLE_S)
        seconds = time.perf_counter() - start
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr.strip()[-2000:]}")
        out.seek(0)
        return seconds, {k: v / 2**20 for k, v in peaks.items()}, out.read()


def bare_read(path: Path) -> float:
    """Seconds of one chunked pass summing every value of the (2, N, D) .npy through a memory map."""
    import numpy as np

    arr = np.load(path, mmap_mode="r")
    start = time.perf_counter()
    total = 0.0
    for side in arr:
        for row in range(0, side.shape[0], CHUNK):
            total += float(np.asarray(side[row : row + CHUNK]).sum(dtype=np.float64))
    return time.perf_counter() - start


def matmul_10k(dim: int) -> float:
    """Best of two 10,000 × 10,000 × D float32 torch matmuls, in seconds."""
    import torch

    x, y = torch.randn(10_000, dim), torch.randn(10_000, dim)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        x @ y.T
        best = min(best, time.perf_counter() - start)
    return best


def measure_format(kind: str, folder: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Write one format, analyze it in a subprocess, delete it: the row of results for that format."""
    path = folder / f"pairs.{kind}"
    start = time.perf_counter()
    (write_npy if kind == "npy" else write_parquet)(path, args.pairs, args.dim)
    written = time.perf_counter() - start
    row: dict[str, Any] = {"kind": kind, "file_gib": path.stat().st_size / 2**30, "write_s": written}
    if kind == "npy":
        row["bare_read_s"] = bare_read(path)
    argv = [sys.executable, "-m", "gapviz.cli.main", "analyze", str(path), "--json", "--resamples", str(args.resamples)]
    row["seconds"], row["peaks"], stdout = run_sampled(argv, env)
    values = json.loads(stdout)
    row["sizes"] = {k: v for k, v in values.items() if k.endswith("_n")}
    row["gap"] = values["gap_distance"]
    path.unlink()
    print(f"{kind}: analyze {row['seconds']:.1f} s, peaks (GiB) {row['peaks']}, sizes {row['sizes']}", flush=True)
    return row


def measures(rows: dict[str, dict[str, Any]], matmul: float, args: argparse.Namespace) -> list[dict]:
    npy, parquet = rows["npy"], rows["parquet"]
    n = f"{args.pairs:,} × {args.dim}"
    out = [
        report.measure("npy_s", f"`gapviz analyze` of {n} pairs from .npy", npy["seconds"], "s", digits=0),
        report.measure("parquet_s", f"`gapviz analyze` of {n} pairs from Parquet", parquet["seconds"], "s", digits=0),
        report.measure("bare_read_s", "one bare chunked pass reading the .npy", npy["bare_read_s"], "s", digits=1),
        report.measure("matmul_s", "one 10,000 × 10,000 × D matmul (torch)", matmul, "s"),
        report.measure(
            "npy_ratio", "analyze of the .npy, × one bare read", npy["seconds"] / npy["bare_read_s"], "×", digits=1
        ),
        report.measure(
            "npy_matmul_ratio", "analyze of the .npy, × the 10k matmul", npy["seconds"] / matmul, "×", digits=0
        ),
    ]
    for kind, row in rows.items():
        label = ".npy" if kind == "npy" else "Parquet"
        out.append(
            report.measure(
                f"{kind}_anon", f"peak anonymous RSS, {label}", row["peaks"]["RssAnon"], "GiB", ("<=", TARGET_GIB)
            )
        )
        out.append(
            report.measure(f"{kind}_hwm", f"peak RSS with file pages (VmHWM), {label}", row["peaks"]["VmHWM"], "GiB")
        )
    out.append(
        report.measure(
            "retrieval_n",
            "pairs retrieval ran on (the seeded subsample)",
            npy["sizes"].get("retrieval_n", float("nan")),
            "",
            digits=0,
        )
    )
    return out


def tables(rows: dict[str, dict[str, Any]]) -> list[dict]:
    header = [
        "input",
        "file (GiB)",
        "write (s)",
        "analyze (s)",
        "RssAnon peak (GiB)",
        "RssFile peak (GiB)",
        "VmHWM (GiB)",
    ]
    runs = [
        [
            k,
            r["file_gib"],
            r["write_s"],
            r["seconds"],
            r["peaks"]["RssAnon"],
            r["peaks"]["RssFile"],
            r["peaks"]["VmHWM"],
        ]
        for k, r in rows.items()
    ]
    sizes = rows["npy"]["sizes"]
    return [
        report.table("runs", header, runs, [None, 2, 0, 0, 2, 2, 2]),
        report.table("sizes", ["size key", "pairs or rows used"], [[k, float(v)] for k, v in sizes.items()], [None, 0]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("million", argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads)}
    os.environ.update({k: env[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    with tempfile.TemporaryDirectory(prefix="gapviz-million-") as name:
        folder = Path(name)
        need = 3 * args.pairs * args.dim * 4 * 2
        free = shutil.disk_usage(folder).free
        if free < need:
            raise SystemExit(f"{folder}: {free / 2**30:.1f} GiB free, the benchmark needs {need / 2**30:.1f} GiB")
        env[("GAPVIZ_SCRATCH_DIR")] = str(folder)
        rows = {kind: measure_format(kind, folder, args, env) for kind in ("npy", "parquet")}
    import torch

    torch.set_num_threads(args.threads)
    matmul = matmul_10k(args.dim)
    result_measures, result_tables = measures(rows, matmul, args), tables(rows)
    report.show(result_measures, result_tables)
    session.save(result_measures, result_tables, report.output_path("million", args))


if __name__ == "__main__":
    main()
