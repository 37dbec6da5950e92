"""Live page (AppTest): ?run= reopens a run, progress, scatter and curves, epoch slider and play,
stream events, cancel and resume through a real Redis, failed runs show their error, the picker shows
each run's state now, train loss next to eval loss, re-run links."""

from __future__ import annotations

import math

import pytest
from app_fixtures import make_run, open_page, plain, synthetic_epoch, texts
from queue_fixtures import tiny_config

from gapviz.queue import client as queue
from gapviz.queue import events
from gapviz.runs.records import RunState, StepProgress
from gapviz.runs.store import RunStore


def _charts(at) -> int:
    return len(at.get("vega_lite_chart"))


def _picker(at):
    [box] = [s for s in at.selectbox if s.label == "Run"]
    return box


def metric(at, label: str) -> str:
    [value] = [m.value for m in at.metric if m.label == label]
    return value


def test_url_reopens_a_finished_run(home):
    store = RunStore()
    first = make_run(store, "first", epochs=3)
    make_run(store, "second", epochs=1)
    at = open_page("live", {"run": first})
    assert not at.exception
    assert _picker(at).value == first
    page = texts(at)
    assert "state **finished**" in page
    assert "showing epoch 3 of 3" in page
    assert "queue unavailable" in page
    assert _charts(at) == 2  # scatter + curves
    assert at.select_slider(key=f"live_epoch:{first}").options == ["0", "1", "2", "3"]
    buttons = {b.label: b for b in at.button}
    assert buttons["Cancel"].disabled and buttons["Resume"].disabled
    assert at.progress[0].value == 100  # AppTest reports st.progress(1.0) in percent
    assert metric(at, "eval loss (epoch 3)") == f"{store.metrics(first)[-1]['loss']:.4f}"
    assert metric(at, "train loss (last step)") == "—"  # a replayed run has no step events
    links = {link.proto.label: link.proto.query_string for link in at.get("page_link")}
    assert links["Open in Launch"] == f"from={first}" and links["Fine-tune from this run"] == f"finetune={first}"


def test_names_are_shown_as_typed_not_as_markup(home):
    store = RunStore()
    run_id = make_run(store, "*bold* <b>html</b> [link](http://example.com)", epochs=1)
    at = open_page("live", {"run": run_id})
    header = [m.value for m in at.markdown if run_id in m.value][0]
    assert "\\*bold\\* \\<b\\>html\\<\\/b\\> \\[link\\]\\(http\\:\u2060\\/\\/example\\.com\\)" in header


def test_epoch_slider_and_play(home):
    store = RunStore()
    run_id = make_run(store, "slider", epochs=3)
    at = open_page("live", {"run": run_id})
    at.toggle(key=f"live_follow:{run_id}").set_value(False)
    at.select_slider(key=f"live_epoch:{run_id}").set_value(0).run()
    assert "showing epoch 0 of 3" in texts(at)
    [play] = [b for b in at.button if "Play" in b.label]
    play.click().run()
    assert "showing epoch 1 of 3" in texts(at)
    at.run()
    assert "showing epoch 2 of 3" in texts(at)


def test_a_failed_run_shows_its_error(home):
    store = RunStore()
    run_id = make_run(store, "broken", epochs=1, state=RunState.FAILED, error="DataError: images.csv: no such file")
    at = open_page("live", {"run": run_id})
    assert not at.exception
    assert any("run failed: DataError: images.csv: no such file" in plain(e.value) for e in at.error)
    assert any("Traceback" in c.value for c in at.code)


def test_events_from_the_stream_show_without_the_store(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    store = RunStore()
    run_id = make_run(store, "live one", epochs=0, state=RunState.RUNNING)
    store.running(run_id)
    record = synthetic_epoch(1)
    conn.xadd(events.stream_key(run_id), events.epoch_fields(run_id, record))
    step = StepProgress(
        epoch=2,
        step=2,
        steps_per_epoch=4,
        global_step=6,
        total_steps=12,
        loss=3.5,
        tau=0.07,
        lr=1e-3,
        samples_per_s=640.0,
    )
    conn.xadd(events.stream_key(run_id), events.step_fields(run_id, step))
    at = open_page("live", {"run": run_id})
    assert not at.exception
    page = texts(at)
    assert "showing epoch 1 of 1" in page  # epoch 1 came only through Redis
    progress = at.progress[0].proto.text
    assert "epoch 2/0 · step 2/4 · 640 samples/s · ETA" in progress
    assert metric(at, "train loss (last step)") == "3.5000"
    assert metric(at, "eval loss (epoch 1)") == f"{record.metrics['loss']:.4f}"
    cancel = [b for b in at.button if b.label == "Cancel"][0]
    assert not cancel.disabled


def test_cancel_and_resume_go_through_the_queue(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    store = RunStore()
    submission = queue.submit(conn, store, tiny_config(name="waiting"))
    run_id = submission.run_id
    at = open_page("live", {"run": run_id})
    assert "waiting in the queue (position 1)" in texts(at)
    [b for b in at.button if b.label == "Cancel"][0].click().run()
    assert store.state(run_id) == RunState.CANCELLED
    assert any("cancelled" in i.value for i in at.info)
    at.run()
    resume = [b for b in at.button if b.label == "Resume"][0]
    assert not resume.disabled
    resume.click().run()
    assert store.state(run_id) == RunState.QUEUED
    assert store.status(run_id).resume is True


def test_the_picker_shows_the_state_now(home):
    store = RunStore()
    run_id = make_run(store, "moving", epochs=1, state=RunState.RUNNING)
    at = open_page("live", {"run": run_id})
    assert _picker(at).format_func(run_id).startswith("moving · running")
    store.finished(run_id, 1)
    at.run()
    assert _picker(at).format_func(run_id).startswith("moving · finished")
    assert "state **finished**" in texts(at)


def test_a_missed_final_event_does_not_keep_a_finished_run_running(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    store = RunStore()
    run_id = make_run(store, "done", epochs=1, state=RunState.FINISHED)
    conn.xadd(events.stream_key(run_id), events.state_fields(run_id, RunState.RUNNING))  # its last event in Redis
    at = open_page("live", {"run": run_id})
    assert not at.exception
    assert "state **finished**" in texts(at)
    assert _picker(at).format_func(run_id).startswith("done · finished")
    assert [b for b in at.button if b.label == "Cancel"][0].disabled


def test_without_a_gap_trace_the_section_says_so(home):
    store = RunStore()
    run_id = make_run(store, "plain", epochs=1)
    at = open_page("live", {"run": run_id})
    assert "No step-level trace" not in texts(at)  # drawn on request only
    at.toggle(key=f"live_gap_beta:{run_id}").set_value(True).run()
    assert "No step-level trace of β and the gap was recorded for these runs." in texts(at)


def test_gap_against_beta_of_the_run(home):
    store = RunStore()
    run_id = make_run(store, "traced", epochs=1)
    betas = [10.0, 14.0, 20.0, 28.0, 40.0]
    store.append_gap_trace(
        run_id,
        [
            {"step": 10 * i, "epoch": 0, "tau": 1 / b, "beta": b, "gap_distance": 0.9 - 0.1 * math.log(b)}
            for i, b in enumerate(betas)
        ],
    )
    at = open_page("live", {"run": run_id})
    at.toggle(key=f"live_gap_beta:{run_id}").set_value(True).run()
    [fits] = [d.value for d in at.dataframe if "slope" in d.value.columns]
    assert fits["slope"].tolist() == pytest.approx([-0.1]) and fits["n"].tolist() == [5]


def test_the_box_switches_runs_and_the_url_follows(home):
    store = RunStore()
    first = make_run(store, "first", epochs=1)
    second = make_run(store, "second", epochs=1, state=RunState.FAILED, error="boom")
    at = open_page("live", {"run": first})
    _picker(at).set_value(second).run()
    assert at.query_params["run"] == second and _picker(at).value == second
    assert "state **failed**" in texts(at) and "state **finished**" not in texts(at)
    store.cancelled(second)  # the labels change: a new box, the same run
    at.run()
    assert _picker(at).value == second and _picker(at).format_func(second).startswith("second · cancelled")


def _step(global_step: int, speed: float, step: int = 2) -> dict:
    return {"global_step": global_step, "step": step, "samples_per_s": speed}


def test_speed_is_smoothed_over_steps_and_skips_the_step_after_an_evaluation():
    from gapviz.app.shared import frames

    state = frames.smoothed_speed(None, _step(10, 1000.0))
    assert frames.samples_per_second(state) == pytest.approx(1000.0)
    jumpy = [(20, 58.0), (30, 1570.0), (40, 58.0), (50, 1570.0)]
    seen = []
    for global_step, speed in jumpy:
        state = frames.smoothed_speed(state, _step(global_step, speed))
        seen.append(frames.samples_per_second(state))
    assert all(150 < s < 1000 for s in seen)  # the raw readings swing 27-fold; the smoothed ones do not
    assert max(seen) / min(seen) < 2
    after_eval = frames.smoothed_speed(state, _step(60, 5.0, step=1))
    assert after_eval == state  # the first step of an epoch pays for the evaluation: left out
    assert frames.smoothed_speed(state, _step(50, 5.0)) == state  # the same step again
    assert frames.smoothed_speed(state, _step(5, 200.0)) == (5, 1 / 200.0)  # a resume restarts it
    assert frames.smoothed_speed(state, _step(70, 0.0)) == state and frames.samples_per_second(None) is None
    eta = frames.eta_seconds(50, 1050, frames.samples_per_second(state) or 0, 64)
    assert eta == pytest.approx(1000 * 64 / frames.samples_per_second(state))


def test_last_values_fall_back_to_the_last_epoch():
    from gapviz.app.shared import frames

    step = {"loss": 2.5, "tau": 0.05, "samples_per_s": 900.0, "lr": 1e-4}
    assert frames.last_values(step, {"train_loss": 9.0}) == step
    epoch = {"train_loss": 2.0, "tau": 0.06, "samples_per_s": 800.0, "lr": 2e-4}
    assert frames.last_values(None, epoch) == {"loss": 2.0, "tau": 0.06, "samples_per_s": 800.0, "lr": 2e-4}
    assert frames.last_values({"loss": math.nan}, {}) == {"loss": None, "tau": None, "samples_per_s": None, "lr": None}


def test_a_finished_run_shows_its_last_values_not_dashes(home):
    store = RunStore()
    run_id = make_run(store, "done", epochs=2)
    last = StepProgress(2, 4, 4, 8, 8, loss=1.25, tau=0.06, lr=3e-4, samples_per_s=512.0)
    store.record_progress(run_id, last.to_dict())  # what the runner keeps of the last step
    at = open_page("live", {"run": run_id})
    assert not at.exception
    assert metric(at, "train loss (last step)") == "1.2500"
    assert metric(at, "τ (last step)") == "0.0600"
    assert metric(at, "samples/s") == "512"
    assert metric(at, "learning rate") == "3.00e-04"
    bare = make_run(store, "no steps kept", epochs=1)
    at = open_page("live", {"run": bare})
    assert metric(at, "τ (last step)") == "0.0650"  # the last epoch's τ when no step was kept


def test_live_shows_the_share_of_step_time_spent_waiting_for_data(home):
    store = RunStore()
    run_id = make_run(store, "fed", epochs=1, overrides={"train.batch_size": 64, "train.grad_accum": 2})
    step = StepProgress(2, 4, 4, 8, 8, loss=1.0, tau=0.06, lr=3e-4, samples_per_s=512.0, data_wait_s=0.025)
    store.record_progress(run_id, step.to_dict())
    at = open_page("live", {"run": run_id})
    assert not at.exception
    assert metric(at, "waiting for data") == "10.0%"  # 0.025 s of a 128 / 512 = 0.25 s step
    unfed = make_run(store, "no step, no wait recorded", epochs=1)
    assert metric(open_page("live", {"run": unfed}), "waiting for data") == "—"
    from gapviz.app.shared import frames

    wait = frames.smoothed_data_wait(None, {"global_step": 10, "step": 2, "data_wait_s": 0.2})
    wait = frames.smoothed_data_wait(wait, {"global_step": 60, "step": 5, "data_wait_s": 0.0})
    assert wait == (60, pytest.approx(0.1))  # one half-life later: half of the old reading
    assert frames.smoothed_data_wait(wait, {"global_step": 61, "step": 1, "data_wait_s": 9.0}) == wait
    assert frames.data_wait_share(None, None, 64, {"data_wait_share": 0.03}) == 0.03  # a finished run's epoch


def test_the_picker_names_a_sweeps_runs_by_their_swept_values(home):
    store = RunStore()
    runs = {
        (tau, seed): make_run(store, "tau-sweep", seed=seed, group="tau-sweep", overrides={"temperature.tau": tau})
        for tau in (0.1, 1.0)
        for seed in (0, 1)
    }
    alone = make_run(store, "alone")
    at = open_page("live", {"run": runs[(0.1, 1)]})
    assert not at.exception
    label = _picker(at).format_func
    assert label(runs[(0.1, 1)]) == f"τ = 0.1 · seed 1 · tau-sweep · finished · {runs[(0.1, 1)]}"
    assert label(runs[(1.0, 0)]).startswith("τ = 1 · seed 0 · tau-sweep")
    assert label(alone).startswith("alone · finished")
