"""Time chunked ``retrieval_recall`` against a bare ``image @ text.T`` of the same size.

Usage: python -m benchmarks.bench_retrieval [--images 5000] [--captions 25000] [--dim 512] [--record]
Prints a Markdown table with a row per device (CPU, and CUDA when available) and writes the results
file "retrieval". The ratio is retrieval throughput as a fraction of the bare matmul's (bare seconds /
retrieval seconds); retrieval computes the same similarity matrix once, in chunks, plus ranks for
both directions. No target was set for it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import torch

from benchmarks import report
from gapviz.science.metrics import retrieval_recall


def _best_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def bench(device: str, n_images: int, n_captions: int, dim: int, chunk_size: int, repeats: int) -> dict:
    """Best-of-``repeats`` seconds of the bare matmul and of retrieval_recall on one device."""
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(n_images, dim, generator=gen).to(device)
    text = torch.randn(n_captions, dim, generator=gen).to(device)
    caption_image = (torch.arange(n_captions) % n_images).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def bare() -> torch.Tensor:
        return image @ text.T

    def retrieval() -> dict:
        return retrieval_recall(image, text, caption_image, chunk_size=chunk_size, device=device)

    matmul_s = _best_time(bare, repeats, sync)
    retrieval_s = _best_time(retrieval, repeats, sync)
    return {"device": device, "matmul_s": matmul_s, "retrieval_s": retrieval_s}


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def device_measures(r: dict) -> list[dict]:
    """One device's seconds and ratio; keys prefixed by the device (cpu_, cuda_)."""
    device = r["device"]
    return [
        report.measure(f"{device}_matmul_s", f"bare `image @ text.T`, {device}", r["matmul_s"], "s", digits=3),
        report.measure(f"{device}_retrieval_s", f"retrieval_recall, {device}", r["retrieval_s"], "s", digits=3),
        report.measure(f"{device}_ratio", f"retrieval_recall throughput vs the bare matmul, {device}", r["ratio"], "×"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--captions", type=int, default=25000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("retrieval", argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"retrieval_recall, {args.images} images × {args.captions} captions × D={args.dim}, fp32, "
        f"chunk_size={args.chunk_size}, best of {args.repeats}; torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs\n"
    )
    measures, rows = [], []
    for device in devices:
        r = bench(device, args.images, args.captions, args.dim, args.chunk_size, args.repeats)
        r["ratio"] = r["matmul_s"] / r["retrieval_s"]
        name = f"{device} ({_device_name(device)})"
        measures += device_measures(r)
        rows.append([name, r["matmul_s"], r["retrieval_s"], r["ratio"]])
    columns = ["device", "bare matmul (s)", "retrieval_recall (s)", "throughput vs matmul"]
    tables = [report.table("devices", columns, rows, [None, 3, 3, 2])]
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("retrieval", args))


if __name__ == "__main__":
    main()
