"""The `gapviz` command as a user runs it: one-line errors, JSON output, run management."""

import json
import subprocess
import sys

import numpy as np
import pytest
from train_fixtures import TINY_OVERRIDES

from gapviz.cli.main import main
from gapviz.runs.store import RunStore

ANALYZE_KEYS = {
    "gap_distance",
    "pair_cosine",
    "mean_pair_distance",
    "cone_image",
    "cone_text",
    "relative_gap",
    "alignment",
    "uniformity_image",
    "uniformity_text",
    "modality_probe_accuracy",
    "i2t_r1",
    "i2t_r5",
    "i2t_r10",
    "t2i_r1",
    "t2i_r5",
    "t2i_r10",
}


def tiny_args():
    return [item for key, value in TINY_OVERRIDES.items() for item in ("--set", f"{key}={_text(value)}")]


def _text(value):
    return ",".join(value) if isinstance(value, list) else str(value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    assert main(["--home", str(home), "train", "--preset", "tiny-test", *tiny_args()]) == 0
    store = RunStore(home)
    return home, store.run_ids()[0]


def test_train_prints_run_id_and_runs_show_json(trained, capsys):
    home, run_id = trained
    assert main(["--home", str(home), "runs", "show", run_id, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["state"] == "finished"
    assert info["config"]["train"]["epochs"] == 2
    assert [row["epoch"] for row in info["epochs"]] == [0, 1, 2]
    assert ANALYZE_KEYS <= set(info["epochs"][-1])


def test_runs_list_export_delete(trained, tmp_path, capsys):
    home, run_id = trained
    assert main(["--home", str(home), "runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["run_id"] for item in listed] == [run_id]
    assert main(["--home", str(home), "runs", "list"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["--home", str(home), "runs", "export", run_id, "--dest", str(tmp_path)]) == 0
    assert (tmp_path / f"{run_id}_metrics.csv").read_text().startswith("epoch,")
    other = RunStore(home).create(RunStore(home).config(run_id))
    assert main(["--home", str(home), "runs", "delete", other, "--yes"]) == 0
    assert RunStore(home).run_ids() == [run_id]


def write_embeddings(path, n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, d)) + 3.0
    text = image + rng.normal(scale=0.1, size=(n, d)) - 6.0
    np.save(path, np.stack([image, text]))
    return image, text


def test_analyze_json_has_exactly_the_documented_keys(tmp_path, capsys):
    from gapviz.science.metrics import gap_distance

    image, text = write_embeddings(tmp_path / "emb.npy")
    assert main(["analyze", str(tmp_path / "emb.npy"), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert ANALYZE_KEYS <= set(values)
    assert values["gap_distance"] == pytest.approx(gap_distance(image, text), rel=1e-5)
    assert values["modality_probe_accuracy"] == pytest.approx(1.0)


def test_analyze_npz_with_several_captions_per_image(tmp_path, capsys):
    rng = np.random.default_rng(1)
    image = rng.normal(size=(10, 6))
    index = np.repeat(np.arange(10), 3)
    text = image[index] + rng.normal(scale=0.01, size=(30, 6))
    np.savez(tmp_path / "emb.npz", image=image, text=text, text_image_index=index)
    assert main(["analyze", str(tmp_path / "emb.npz"), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["i2t_r1"] == pytest.approx(1.0) and values["t2i_r1"] == pytest.approx(1.0)


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--set", "train.epochs=-2"], "train.epochs"),
        (["train", "--set", "train.epoch=2"], "unknown setting"),
        (["train", "--config", "/no/such/file.toml"], "not found"),
        (["train", "--set", "data.source=coco", "--set", "data.path=/no/such/captions.json"], "captions.json"),
        (["analyze", "/no/such/emb.npy"], "emb.npy"),
        (["runs", "show", "missing-run"], "no run"),
        (["runs", "show", "../../etc"], "invalid run id"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, argv, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "gapviz.cli.main", "--home", str(tmp_path), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr
    assert result.stderr.startswith("gapviz: ")


def _long_train_command(home) -> list[str]:
    """`gapviz train` of a tiny run long enough (50 epochs) to be stopped or killed mid-way."""
    return [
        sys.executable,
        "-m",
        "gapviz.cli.main",
        "--home",
        str(home),
        "train",
        "--preset",
        "tiny-test",
        *tiny_args(),
        "--set",
        "train.epochs=50",
    ]


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_ctrl_c_stops_training_cleanly_keeping_finished_epochs(tmp_path):
    import os
    import signal
    import time

    command = _long_train_command(tmp_path)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    store = RunStore(tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ids = store.run_ids()
        if ids and len(store.epochs(ids[0])) >= 2:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    run_id = store.run_ids()[0]
    assert store.state(run_id).value == "interrupted"
    epochs = store.epochs(run_id)
    assert len(epochs) >= 2 and epochs == list(range(len(epochs)))
    assert store.resume_checkpoint(run_id) is not None
    assert f"run {run_id} interrupted" in out


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_a_sigkilled_foreground_train_shows_as_abandoned_and_stale_temp_files_go_on_resume(tmp_path):
    """Issue 10 items 15 and 17: a `gapviz train` killed mid-run is no longer "running" forever."""
    import os
    import signal
    import time

    from gapviz.training.runner import execute_run

    command = _long_train_command(tmp_path)
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    store = RunStore(tmp_path)
    deadline = time.monotonic() + 240
    while not (store.run_ids() and store.epochs(store.run_ids()[0])):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    run_id = store.run_ids()[0]
    assert store.state(run_id).value == "running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftover = store.checkpoint_dir(run_id) / ".epoch_002.pt.killed.tmp"  # what a kill mid-write leaves
    leftover.write_bytes(b"partial")
    listing = subprocess.run(
        [sys.executable, "-m", "gapviz.cli.main", "--home", str(tmp_path), "runs", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    words = listing.stdout.split()
    assert words[words.index(run_id) + 1] == "failed"
    status = store.status(run_id)
    assert status.abandoned and f"gapviz resume {run_id}" in status.error
    stopper = {"after": max(store.epochs(run_id)) + 1}
    execute_run(store, run_id, resume=True, should_stop=lambda: max(store.epochs(run_id)) >= stopper["after"])
    assert not leftover.exists() and store.status(run_id).abandoned is False
