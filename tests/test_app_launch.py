"""Launch page (AppTest): every RunConfig field, presets, inline validation, sweeps, real Redis."""

from __future__ import annotations

import pytest

from gapviz.app import form
from gapviz.queue.client import get_queue
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore

from app_fixtures import open_page, plain, texts
from queue_fixtures import conn, redis_server  # noqa: F401 - fixtures


def _submit(at):
    [button for button in at.button if button.label == "Queue run(s)"][0].click()
    return at.run()


def test_every_setting_has_a_widget_and_the_queue_status_shows(home):
    at = open_page("launch")
    assert not at.exception
    for path in form.all_paths():
        assert at.get_by_key(f"launch:demo:{path}"), path
    assert "queue unavailable — start it with `gapviz up`" in texts(at)
    assert at.selectbox(key="launch_preset").value == "demo"
    assert at.text_input(key="launch:demo:model.name").value == "gapviz-tiny"


def test_presets_fill_the_form(home):
    at = open_page("launch")
    at.selectbox(key="launch_preset").set_value("yaras-soft-swap").run()
    assert at.selectbox(key="launch:yaras-soft-swap:swap.mode").value == "soft"
    assert at.number_input(key="launch:yaras-soft-swap:swap.fraction").value == pytest.approx(0.05)
    assert at.text_input(key="launch:yaras-soft-swap:model.name").value == "RN50"
    options = at.selectbox(key="launch_preset").options
    assert any(o.startswith("liang-finetune") for o in options) and any(o.startswith("yaras-fixed") for o in options)


def test_bad_values_get_messages_under_their_fields(home):
    at = open_page("launch")
    at.number_input(key="launch:demo:temperature.tau").set_value(-1.0)
    at.number_input(key="launch:demo:train.batch_size").set_value(1)
    at.selectbox(key="launch:demo:swap.mode").set_value("hard")
    at.text_input(key="launch:demo:sweep.seeds").set_value("4-2")
    at = _submit(at)
    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert "must be in (0, 10]; CLIP starts at 0.07" in errors
    assert "must be at least 2 (contrastive loss needs negatives)" in errors
    assert "must be > 0 when swap.mode is hard or soft" in errors
    assert any("runs backwards" in e for e in errors)
    summary = [e for e in errors if e.startswith("Not queued")][0]
    assert "`temperature.tau`" in summary and "`swap.fraction`" in summary
    assert RunStore().run_ids() == []


def test_submit_without_a_queue_says_so(home):
    at = open_page("launch")
    at = _submit(at)
    assert any(e.value.startswith("Not queued: queue unavailable") for e in at.error)
    assert RunStore().run_ids() == []


def test_submit_enqueues_a_run_into_redis(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    assert "1 worker" not in texts(at) and "no worker is running" in texts(at)
    at.selectbox(key="launch_preset").set_value("tiny-test").run()
    at.text_input(key="launch:tiny-test:name").set_value("from the form")
    at.number_input(key="launch:tiny-test:train.epochs").set_value(3)
    at = _submit(at)
    assert not at.exception, at.exception
    store = RunStore()
    [run_id] = store.run_ids()
    assert store.state(run_id) == RunState.QUEUED
    cfg = store.config(run_id)
    assert cfg.name == "from the form" and cfg.train.epochs == 3 and cfg.data.train_size == 256
    jobs = get_queue(conn).jobs
    assert [job.args for job in jobs] == [[run_id]] or [tuple(job.args) for job in jobs] == [(run_id,)]
    assert any("Queued 1 run(s)" in s.value for s in at.success)
    links = [link for link in at.get("page_link")]
    assert any(run_id in link.proto.label and "run=" + run_id in link.proto.query_string for link in links)


def test_a_sweep_queues_one_run_per_value_and_seed(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    at.selectbox(key="launch_preset").set_value("tiny-test").run()
    at.selectbox(key="launch:tiny-test:sweep.field").set_value("temperature.tau")
    at.text_input(key="launch:tiny-test:sweep.values").set_value("0.03, 0.07")
    at.text_input(key="launch:tiny-test:sweep.seeds").set_value("0-1")
    at = _submit(at)
    assert not at.exception, at.exception
    store = RunStore()
    runs = store.run_ids()
    assert len(runs) == 4 and len(get_queue(conn).jobs) == 4
    groups = {store.meta(r)["group"] for r in runs}
    assert len(groups) == 1 and groups.pop().startswith("sweep-")
    assert sorted((store.config(r).temperature.tau, store.config(r).seed) for r in runs) == [(0.03, 0), (0.03, 1), (0.07, 0), (0.07, 1)]


def test_a_bad_sweep_value_is_reported_and_nothing_queued(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    at.selectbox(key="launch:demo:sweep.field").set_value("temperature.tau")
    at.text_input(key="launch:demo:sweep.values").set_value("0.05, -2")
    at = _submit(at)
    assert any("must be in (0, 10]" in plain(e.value) for e in at.error)
    assert RunStore().run_ids() == [] and len(get_queue(conn).jobs) == 0
