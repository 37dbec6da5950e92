"""The GPU check (issue 23 item 5): its dry run lists every step with a status and writes its results file, so
the script a GPU will run cannot rot; a step that breaks or overruns is one failed row, not the end."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch

from benchmarks import gpu_check, report

STEPS = ["0", "1", "2a", "2b", "3", "4", "5", "all"]


@pytest.mark.slow
def test_the_dry_run_lists_every_step_with_a_status_and_writes_its_results(tmp_path):
    results = tmp_path / "gpu_check.json"
    script = report.ROOT / "benchmarks" / "gpu_check.sh"
    done = subprocess.run(["bash", str(script), "--dry-run", "--json", str(results)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(results.read_text())["tables"][0]["rows"]
    assert [row[0] for row in rows] == STEPS
    assert all(f"| {step} | {what} | " in done.stdout for step, what, *_ in rows)  # the printed table
    status = {row[0]: row[4] for row in rows}
    assert all(value == "pass" or value.startswith("skipped: ") for value in status.values()), status
    assert status["1"].startswith("skipped: dry run") and "collected" in rows[1][2]
    assert [status[step] for step in ("2a", "2b", "3", "5")] == ["pass"] * 4


def test_a_step_that_breaks_or_overruns_its_budget_is_a_failed_row():
    broken = gpu_check.run_step(gpu_check.Row("2b", "compile"), 5, lambda: (str(1 / 0), ""))
    assert broken.status == "failed: ZeroDivisionError: division by zero"
    slow = gpu_check.run_step(gpu_check.Row("5", "smoke"), 0.2, lambda: (str(time.sleep(5)), ""))
    assert slow.status == "failed: over its 0.2 s budget" and slow.seconds < 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="the full check runs where CUDA is")
def test_without_cuda_the_full_check_says_to_use_the_dry_run(capsys):
    assert gpu_check.main([]) == 2
    assert "--dry-run" in capsys.readouterr().err
