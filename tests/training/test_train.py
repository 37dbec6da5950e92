import math
import os
import time

import pytest
import torch
from train_fixtures import tiny_config

from gapviz.config import ModelConfig
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore, StoreError
from gapviz.science.metrics import ALL_KEYS
from gapviz.training import runner
from gapviz.training.loop import NonFiniteLoss, lr_at
from gapviz.training.model import ModelError, build_model
from gapviz.training.runner import execute_run


class StopAfterEpoch:
    """A sink + stop flag that asks the loop to stop once ``epoch`` has been recorded."""

    def __init__(self, epoch):
        self.epoch, self.stop = epoch, False

    def on_step(self, progress):
        pass

    def on_epoch(self, record):
        self.stop = self.stop or record.epoch >= self.epoch


def weights(store, run_id):
    state = torch.load(store.resume_checkpoint(run_id), weights_only=True)
    return state["state_dict"], state["temperature"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("home"))
    run_id = store.create(tiny_config())
    assert execute_run(store, run_id) == RunState.FINISHED
    return store, run_id


def test_run_directory_is_complete(finished):
    store, run_id = finished
    folder = store.run_dir(run_id)
    for name in (
        "config.json",
        "status.json",
        "meta.json",
        "metrics.jsonl",
        "captions.json",
        "epochs/000.npz",
        "epochs/002.npz",
        "checkpoints/last.pt",
        "checkpoints/epoch_002.pt",
    ):
        assert (folder / name).is_file(), name
    rows = store.metrics(run_id)
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    for name in (*ALL_KEYS, "loss", "tau", "zero_shot", "eval_time_s"):
        assert name in rows[-1], name
    assert "train_loss" in rows[-1] and "train_loss" not in rows[0]
    lo, hi = rows[-1]["gap_distance_ci95"]
    assert lo <= rows[-1]["gap_distance"] <= hi and isinstance(rows[-1]["collapsed_image"], bool)
    arrays = store.epoch_arrays(run_id, 2)
    assert arrays["image"].shape == (48, 64) and arrays["proj_pca"].shape == (96, 2)
    assert store.status(run_id).state == RunState.FINISHED


def test_loss_fell(finished):
    store, run_id = finished
    rows = store.metrics(run_id)
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["train_loss"] < rows[0]["loss"]


def test_same_seed_same_result(finished, tmp_path):
    store, run_id = finished
    again = store.create(store.config(run_id))
    execute_run(store, again)
    assert store.metrics(again)[-1]["loss"] == pytest.approx(store.metrics(run_id)[-1]["loss"], rel=1e-6)


def test_resume_after_stop_matches_uninterrupted_run(finished):
    store, reference = finished
    run_id = store.create(store.config(reference))
    stopper = StopAfterEpoch(1)
    state = execute_run(store, run_id, stopper, lambda: stopper.stop)
    assert state == RunState.CANCELLED
    assert store.epochs(run_id) == [0, 1]
    assert execute_run(store, run_id, resume=True) == RunState.FINISHED
    assert store.epochs(run_id) == [0, 1, 2]
    (model_a, temp_a), (model_b, temp_b) = weights(store, reference), weights(store, run_id)
    for key in model_a:
        torch.testing.assert_close(model_a[key], model_b[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(temp_a["nu"], temp_b["nu"])
    assert store.metrics(run_id)[-1]["gap_distance"] == pytest.approx(
        store.metrics(reference)[-1]["gap_distance"], abs=1e-5
    )


def test_fine_tune_from_an_earlier_run_starts_where_it_ended(finished):
    store, pretrained = finished
    cfg = tiny_config(model__init_run=pretrained, train__epochs=1, temperature__mode="fixed", temperature__tau=0.01)
    run_id = store.create(cfg)
    execute_run(store, run_id)
    start, end = store.metrics(run_id)[0], store.metrics(pretrained)[-1]
    assert start["gap_distance"] == pytest.approx(end["gap_distance"], abs=1e-4)
    assert store.metrics(run_id)[-1]["tau"] == pytest.approx(0.01)


def test_failed_run_records_error_and_traceback(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(model__init_run="no-such-run"))
    with pytest.raises(StoreError, match="no-such-run"):
        execute_run(store, run_id)
    status = store.status(run_id)
    assert status.state == RunState.FAILED and "no-such-run" in status.error and "Traceback" in status.traceback


def test_procrustes_init_shrinks_the_initial_gap(tmp_path):
    store = RunStore(tmp_path)
    plain, aligned = (store.create(tiny_config(train__epochs=0, model__procrustes_init=flag)) for flag in (False, True))
    for run_id in (plain, aligned):
        execute_run(store, run_id)
    assert store.metrics(aligned)[0]["gap_distance"] < 0.5 * store.metrics(plain)[0]["gap_distance"]
    assert store.metrics(aligned)[0]["pair_cosine"] > store.metrics(plain)[0]["pair_cosine"]


@pytest.mark.parametrize("mode", ["fixed", "scheduled", "softplus"])
def test_temperature_modes_in_training(tmp_path, mode):
    store = RunStore(tmp_path)
    run_id = store.create(
        tiny_config(temperature__mode=mode, temperature__tau=0.02, temperature__tau_end=0.1, train__epochs=1)
    )
    execute_run(store, run_id)
    taus = [row["tau"] for row in store.metrics(run_id)]
    if mode == "fixed":
        assert taus == pytest.approx([0.02, 0.02])
    elif mode == "scheduled":
        assert taus[0] == pytest.approx(0.02) and taus[-1] == pytest.approx(0.1)
    else:
        assert taus[-1] != pytest.approx(0.02, abs=1e-7)


def test_swap_and_mismatch_runs_train(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(swap__mode="soft", swap__fraction=0.5, data__mismatch=0.3, train__epochs=1))
    assert execute_run(store, run_id) == RunState.FINISHED
    assert math.isfinite(store.metrics(run_id)[-1]["loss"])


def test_lr_schedule_warms_up_then_decays():
    values = [lr_at(step, 100, 10, 1.0) for step in range(101)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(values[10:], values[11:], strict=False))


def test_model_errors_are_clear(tmp_path):
    with pytest.raises(ModelError, match="unknown model"):
        build_model(ModelConfig(name="NoSuchNet"))
    with pytest.raises(ModelError, match="not in the local cache"):
        build_model(ModelConfig(name="RN50", pretrained="openai"))
    with pytest.raises(ModelError, match="unknown pretrained tag"):
        build_model(ModelConfig(name="RN50", pretrained="nonsense"))
    with pytest.raises(ModelError, match="not found"):
        build_model(ModelConfig(name="gapviz-tiny", pretrained=str(tmp_path / "missing.pt")))


def test_local_checkpoint_file_loads(finished):
    store, run_id = finished
    path = store.epoch_checkpoint(run_id)
    bundle = build_model(ModelConfig(pretrained=str(path)))
    saved = torch.load(path, weights_only=True)["state_dict"]
    key = next(iter(saved))
    torch.testing.assert_close(bundle.model.state_dict()[key], saved[key])


def test_bf16_autocast_and_grad_accumulation_run_on_cpu(tmp_path):
    """The GPU precision path (bf16 autocast) and gradient accumulation, exercised on CPU."""
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(train__precision="bf16", train__grad_accum=2, train__epochs=1))
    assert execute_run(store, run_id) == RunState.FINISHED
    rows = store.metrics(run_id)
    assert math.isfinite(rows[-1]["train_loss"]) and rows[-1]["step"] == 2


def test_a_diverging_run_fails_at_the_first_non_finite_loss_keeping_its_epochs(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(train__lr=1e30))
    with pytest.raises(NonFiniteLoss, match=r"loss became non-finite at step \d+ \(lr 1e\+30\)"):
        execute_run(store, run_id)
    status = store.status(run_id)
    assert status.state == RunState.FAILED and status.error.startswith("loss became non-finite at step ")
    assert store.epochs(run_id) == [0] and store.resume_checkpoint(run_id) is not None


def test_every_run_records_beta_and_the_gap_every_few_steps(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(eval__trace_every_steps=2))
    execute_run(store, run_id)
    trace, rows = store.gap_trace(run_id), store.metrics(run_id)
    per_epoch, last = rows[1]["step"], rows[-1]
    assert [point["step"] for point in trace] == list(range(0, last["step"] + 1, 2))
    for point in trace:
        assert set(point) == {"step", "epoch", "tau", "beta", "gap_distance"}
        assert point["epoch"] == -(-point["step"] // per_epoch) and point["beta"] == pytest.approx(1 / point["tau"])
    # 48 eval pairs < TRACE_PAIRS: at the last step the trace measures what the last epoch's evaluation measured
    assert trace[-1]["step"] == last["step"]
    assert trace[-1]["tau"] == pytest.approx(last["tau"]) and trace[-1]["gap_distance"] == pytest.approx(
        last["gap_distance"]
    )
    assert trace[0]["gap_distance"] == pytest.approx(rows[0]["gap_distance"])


def test_trace_every_steps_zero_records_no_trace(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(eval__trace_every_steps=0, train__epochs=1))
    execute_run(store, run_id)
    assert store.gap_trace(run_id) == [] and store.epochs(run_id) == [0, 1]


def test_a_resumed_run_cleans_up_after_a_killed_writer_and_clears_abandoned(finished):
    store, reference = finished
    run_id = store.create(store.config(reference).with_overrides({"eval.trace_every_steps": 2}))
    stopper = StopAfterEpoch(1)
    execute_run(store, run_id, stopper, lambda: stopper.stop)
    store.running(run_id)
    store.abandoned(run_id, "process 1 on elsewhere stopped responding")  # as a SIGKILL mid-write leaves it
    stale = store.checkpoint_dir(run_id) / ".epoch_002.pt.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert execute_run(store, run_id, resume=True) == RunState.FINISHED
    status = store.status(run_id)
    assert not stale.exists() and status.abandoned is False and status.error is None
    assert [point["step"] for point in store.gap_trace(run_id)] == [0, 2, 4, 6, 8]  # no step traced twice


def test_a_foreground_run_stops_when_status_json_asks(tmp_path, monkeypatch):
    """`gapviz cancel` of a `gapviz train` run: the runner's heartbeat thread reads the request."""
    monkeypatch.setattr(runner, "CANCEL_POLL_S", 0.02)
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(train__epochs=50))

    class CancelAfterEpoch1(StopAfterEpoch):
        def on_epoch(self, record):
            if record.epoch == 1:
                store.request_cancel(run_id)

        def on_step(self, progress):
            time.sleep(0.01)  # give the heartbeat thread its turn on a busy machine

    assert execute_run(store, run_id, CancelAfterEpoch1(1)) == RunState.CANCELLED
    assert 1 <= max(store.epochs(run_id)) < 50 and store.state(run_id) == RunState.CANCELLED


def test_the_heartbeat_renews_while_a_run_trains(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config())
    store.running(run_id)
    beat = store.run_dir(run_id) / "heartbeat"
    os.utime(beat, (0, 0))
    with runner.Heartbeat(store, run_id, interval_s=0.05):
        deadline = time.monotonic() + 10
        while beat.stat().st_mtime == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert beat.stat().st_mtime > time.time() - 60


def test_read_only_image_batches_raise_no_torch_warning():
    """Issue 20.5: slices of the read-only image cache made torch print a UserWarning on every CSV/COCO run."""
    import warnings

    import numpy as np

    from gapviz.training.loop import images_to_tensor
    from gapviz.training.model import ModelBundle

    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    images.flags.writeable = False
    bundle = ModelBundle(torch.nn.Identity(), str, 4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = images_to_tensor(images[:1], bundle, torch.device("cpu"))
    expected = (torch.from_numpy(images[:1].copy()).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25
    assert torch.equal(batch, expected) and not images.flags.writeable
