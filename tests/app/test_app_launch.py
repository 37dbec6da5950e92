"""Launch page (AppTest): experiment-first form, fields that apply, sentinels as words, help on every field,
presets, Open in Launch / Fine-tune from a run, typed grid sweeps with a run count and a confirmed maximum,
inline validation, and queueing into a real Redis."""

from __future__ import annotations

import pytest
from app_fixtures import make_run, open_page, plain, texts

from gapviz.app.shared import form
from gapviz.queue.client import get_queue
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore


def _submit(at):
    [button for button in at.button if button.label == "Queue run(s)"][0].click()
    return at.run()


def _widget_keys(at) -> set[str]:
    kinds = ("selectbox", "multiselect", "number_input", "text_input", "checkbox", "toggle", "radio")
    return {w.key for kind in kinds for w in getattr(at, kind) if w.key}


def _chosen(prefix: str, at) -> dict:
    """The mode values the page shows, for form.applies()."""
    chosen = {form.MODEL_SOURCE: at.selectbox(key=prefix + form.MODEL_SOURCE).value}
    for path in ("data.source", "temperature.mode", "swap.mode"):
        chosen[path] = at.selectbox(key=prefix + path).value
    chosen["eval.projections"] = at.multiselect(key=prefix + "eval.projections").value
    return chosen


def test_the_experiment_leads_and_the_rest_is_collapsed(home):
    at = open_page("launch")
    assert not at.exception
    expanders = {e.label: e for e in at.expander}
    assert set(expanders) >= {"Training", "Evaluation", "Advanced", "Sweep (grid)"}
    assert not any(expanders[t].proto.expanded for t in ("Training", "Evaluation", "Advanced"))
    keys = _widget_keys(at)
    chosen = _chosen("launch:demo:", at)
    for path in form.all_paths():
        if path == "seed":
            assert "launch:demo:seeds" in keys
        elif form.applies(path, chosen):
            word = form.SENTINELS[path][1] if form.sentinel_allowed(path, chosen) else ""
            assert (f"launch:demo:{path}:{word}" if word else f"launch:demo:{path}") in keys, path
        else:
            assert f"launch:demo:{path}" not in keys, f"{path} is drawn but does not apply"
    top = [m.value for m in at.markdown if m.value.startswith("**")]
    assert top[:4] == ["**Model**", "**Data**", "**Temperature**", "**Modality swap**"]
    assert "queue unavailable — start it with `gapviz up`" in texts(at)


def test_every_field_has_help_with_what_it_does(home):
    at = open_page("launch")
    widgets = [
        w
        for kind in ("selectbox", "number_input", "text_input", "checkbox", "toggle", "multiselect")
        for w in getattr(at, kind)
        if (w.key or "").startswith("launch:demo:") and ":sweep" not in w.key
    ]
    assert len(widgets) > 20
    missing = [w.key for w in widgets if not (w.help or "").strip()]
    assert missing == []
    assert "unitless" in at.number_input(key="launch:demo:temperature.tau").help
    assert "count" in at.number_input(key="launch:demo:data.eval_size").help


def test_fields_appear_when_their_mode_needs_them(home):
    at = open_page("launch")
    assert "launch:demo:temperature.tau_end" not in _widget_keys(at)
    assert not any(k.startswith("launch:demo:swap.fraction") for k in _widget_keys(at))
    assert "launch:demo:model.name" not in _widget_keys(at)  # the tiny model has no choice of architecture
    at.selectbox(key="launch:demo:temperature.mode").set_value("scheduled")
    at.selectbox(key="launch:demo:swap.mode").set_value("soft").run()
    keys = _widget_keys(at)
    assert {"launch:demo:temperature.tau_end", "launch:demo:temperature.schedule"} <= keys
    assert at.number_input(key="launch:demo:swap.fraction:soft").value == pytest.approx(0.05)  # Yaras et al.'s
    assert "launch:demo:temperature.max_logit_scale" not in keys  # a scheduled τ is not learned
    at.selectbox(key="launch:demo:swap.mode").set_value("hard").run()
    assert at.number_input(key="launch:demo:swap.fraction:hard").value == pytest.approx(1e-3)
    at.selectbox(key="launch:demo:model.source").set_value("open_clip").run()
    assert {"launch:demo:model.name", "launch:demo:model.pretrained"} <= _widget_keys(at)


def test_sentinels_are_words(home):
    at = open_page("launch")
    assert at.toggle(key="launch:demo:data.image_size:auto").value is True
    assert "launch:demo:data.image_size" not in _widget_keys(at)  # no number while "auto" is on
    assert at.toggle(key="launch:demo:train.max_steps_per_epoch:all").value is True
    assert "launch:demo:data.train_size:all" not in _widget_keys(at)  # synthetic data has no "all"
    at.selectbox(key="launch:demo:data.source").set_value("coco").run()
    assert at.toggle(key="launch:demo:data.train_size:all").value is False
    at.toggle(key="launch:demo:data.image_size:auto").set_value(False).run()
    assert at.number_input(key="launch:demo:data.image_size").value == 224


def test_presets_fill_the_form(home):
    at = open_page("launch")
    at.selectbox(key="launch_preset").set_value("yaras-soft-swap").run()
    assert at.selectbox(key="launch:yaras-soft-swap:swap.mode").value == "soft"
    assert at.number_input(key="launch:yaras-soft-swap:swap.fraction:soft").value == pytest.approx(0.05)
    assert at.selectbox(key="launch:yaras-soft-swap:model.source").value == "open_clip"
    assert at.text_input(key="launch:yaras-soft-swap:model.name").value == "RN50"
    options = at.selectbox(key="launch_preset").options
    assert any(o.startswith("liang-finetune") for o in options) and any(o.startswith("yaras-fixed") for o in options)


def test_bad_values_get_messages_under_their_fields(home):
    at = open_page("launch")
    at.number_input(key="launch:demo:temperature.tau").set_value(0.001)
    at.number_input(key="launch:demo:train.batch_size").set_value(1)
    at.selectbox(key="launch:demo:swap.mode").set_value("hard").run()
    at.number_input(key="launch:demo:swap.fraction:hard").set_value(0.0)
    at.text_input(key="launch:demo:seeds").set_value("4-2")
    at = _submit(at)
    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert "1/tau must not exceed temperature.max_logit_scale (100.0)" in errors
    assert "must be at least 2 (contrastive loss needs negatives)" in errors
    assert "must be > 0 when swap.mode is hard or soft" in errors
    assert any("runs backwards" in e for e in errors)
    [summary] = [e for e in errors if e.startswith("Not queued")]
    assert "- temperature.tau: 1/tau" in summary and "- swap.fraction:" in summary
    assert RunStore().run_ids() == []


def test_submit_without_a_queue_says_so(home):
    at = _submit(open_page("launch"))
    assert any(e.value.startswith("Not queued: queue unavailable") for e in at.error)
    assert RunStore().run_ids() == []


def test_submit_enqueues_a_run_into_redis(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    assert "no worker is running" in texts(at)
    at.selectbox(key="launch_preset").set_value("tiny-test").run()
    at.text_input(key="launch:tiny-test:name").set_value("from the form")
    at.number_input(key="launch:tiny-test:train.epochs").set_value(3)
    at = _submit(at)
    assert not at.exception, at.exception
    store = RunStore()
    [run_id] = store.run_ids()
    assert store.state(run_id) == RunState.QUEUED and store.meta(run_id)["group"] == ""
    cfg = store.config(run_id)
    assert cfg.name == "from the form" and cfg.train.epochs == 3 and cfg.data.train_size == 256
    assert [list(job.args) for job in get_queue(conn).jobs] == [[run_id]]
    assert any("Queued 1 run(s)" in s.value for s in at.success)
    links = at.get("page_link")
    assert any(run_id in link.proto.label and "run=" + run_id in link.proto.query_string for link in links)


def test_open_in_launch_fills_the_exact_config_and_queues_an_edit(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    store = RunStore()
    source = make_run(store, "original", epochs=2, overrides={"temperature.mode": "fixed", "data.mismatch": 0.2})
    at = open_page("launch", {"from": source})
    prefix = f"launch:run-{source}:"
    assert at.selectbox(key=prefix + "temperature.mode").value == "fixed"
    assert at.number_input(key=prefix + "data.mismatch").value == pytest.approx(0.2)
    at.number_input(key=prefix + "temperature.tau").set_value(0.03)
    at = _submit(at)
    assert not at.exception
    [new] = [r for r in store.run_ids() if r != source]
    before, after = store.config(source).to_dict(), store.config(new).to_dict()
    assert after["temperature"].pop("tau") == pytest.approx(0.03) and before["temperature"].pop("tau") == 0.07
    assert after == before  # everything else is the run's exact config


def test_fine_tune_from_a_run_fills_model_init_run(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    store = RunStore()
    source = make_run(store, "parent", epochs=1)
    store.checkpoint_files(source).epoch(1).parent.mkdir(parents=True, exist_ok=True)
    store.checkpoint_files(source).epoch(1).write_bytes(b"weights")  # a finished run without one is refused
    at = open_page("launch", {"finetune": source})
    prefix = f"launch:ft-{source}:"
    assert at.selectbox(key=prefix + "model.source").value == "run"
    assert at.selectbox(key=prefix + "model.init_run").value == source
    assert at.toggle(key=prefix + "model.init_epoch:latest").value is True
    at = _submit(at)
    [new] = [r for r in store.run_ids() if r != source]
    cfg = store.config(new)
    assert (cfg.model.init_run, cfg.model.init_epoch, cfg.name) == (source, -1, "parent fine-tune")


def test_a_typed_grid_with_seeds_shows_its_count_and_queues_one_group(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    at.selectbox(key="launch_preset").set_value("tiny-test").run()
    p = "launch:tiny-test:"
    at.multiselect(key=p + "sweep.settings").set_value(["temperature.tau", "swap.mode"]).run()
    assert at.radio(key=p + "sweep:temperature.tau:mode").value == "log-spaced"  # τ spans orders of magnitude
    at.number_input(key=p + "sweep:temperature.tau:start").set_value(0.01)
    at.number_input(key=p + "sweep:temperature.tau:stop").set_value(0.1)
    at.number_input(key=p + "sweep:temperature.tau:count").set_value(2)
    at.multiselect(key=p + "sweep:swap.mode:pick").set_value(["none", "soft"])
    at.number_input(key=p + "train.epochs").set_value(1)
    at.text_input(key=p + "seeds").set_value("0-1").run()
    assert "**8 runs** = 2 τ × 2 swap mode × 2 seeds" in [m.value for m in at.markdown]
    assert at.number_input(key=p + "swap.fraction:none").value == pytest.approx(0.05)  # soft's, as swap is swept
    at.number_input(key=p + "swap.fraction:none").set_value(0.0)
    at = _submit(at)
    errors = [plain(e.value) for e in at.error]
    assert errors[0] == "must be > 0 when swap.mode is hard or soft"  # under the fraction: swap.mode is swept
    message = "swap.fraction: must be > 0 when swap.mode is hard or soft"
    assert errors[1:] == [f"Not queued — fix these settings:\n\n- {message}"]
    at.number_input(key=p + "swap.fraction:none").set_value(0.05)
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = RunStore()
    runs = store.run_ids()
    assert len(runs) == 8 and len(get_queue(conn).jobs) == 8
    [group] = {store.meta(r)["group"] for r in runs}
    grid = sorted((store.config(r).temperature.tau, store.config(r).swap.mode, store.config(r).seed) for r in runs)
    assert grid == sorted((t, m, s) for t in (0.01, 0.1) for m in ("none", "soft") for s in (0, 1))
    link = [lk for lk in at.get("page_link") if "Compare" in lk.proto.label][0]
    assert link.proto.query_string == f"group={group}"


def test_more_runs_than_the_maximum_need_a_confirmation(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    p = "launch:demo:"
    at.multiselect(key=p + "sweep.settings").set_value(["data.mismatch"]).run()
    at.radio(key=p + "sweep:data.mismatch:mode").set_value("evenly spaced").run()
    at.number_input(key=p + "sweep:data.mismatch:start").set_value(0.0)
    at.number_input(key=p + "sweep:data.mismatch:stop").set_value(0.5)
    at.number_input(key=p + "sweep:data.mismatch:count").set_value(form.MAX_RUNS)
    at.text_input(key=p + "seeds").set_value("0-1").run()
    assert f"**{2 * form.MAX_RUNS} runs** = {form.MAX_RUNS} mismatched fraction × 2 seeds" in [
        m.value for m in at.markdown
    ]
    at = _submit(at)
    assert any("confirm the number of runs" in plain(e.value) for e in at.error)
    assert RunStore().run_ids() == []
    at.checkbox(key=p + "sweep.confirm").check().run()
    label = f"Yes, queue {2 * form.MAX_RUNS} runs (more than {form.MAX_RUNS})"
    assert at.checkbox(key=p + "sweep.confirm").label == label
    at = _submit(at)
    assert not at.error and len(RunStore().run_ids()) == 2 * form.MAX_RUNS == len(get_queue(conn).jobs)


def test_a_bad_sweep_value_is_reported_and_nothing_queued(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    at.multiselect(key="launch:demo:sweep.settings").set_value(["temperature.tau"]).run()
    at.radio(key="launch:demo:sweep:temperature.tau:mode").set_value("list").run()
    at.text_input(key="launch:demo:sweep:temperature.tau:list").set_value("0.05, -2")
    at = _submit(at)
    errors = [plain(e.value) for e in at.error]
    assert "must be in (0, 10]; CLIP starts at 0.07 (sweep value -2)" in errors
    at.text_input(key="launch:demo:sweep:temperature.tau:list").set_value("0.05, warm")
    at = _submit(at)
    assert "cannot read 'warm' as a number" in [plain(e.value) for e in at.error]
    assert RunStore().run_ids() == [] and len(get_queue(conn).jobs) == 0


def test_a_run_name_is_shown_as_typed_when_opened(home):
    store = RunStore()
    source = make_run(store, "*bold* [link](http://example.com)", epochs=1)
    at = open_page("launch", {"from": source})
    [note] = [i.value for i in at.info if source in plain(i.value)]
    assert "*bold* [link](http://example.com)" in plain(note) and "\\*bold\\*" in note


def test_the_sweep_picker_finds_tau_by_words_and_has_no_select_all(home):
    at = open_page("launch")
    box = at.multiselect(key="launch:demo:sweep.settings")
    assert box.proto.select_all == 0  # Streamlit's "Select all" is off
    assert box.proto.options[0] == "temperature · τ (softmax temperature)"
    assert not any(o.split(" · ")[1].startswith(("temperature.", "train.")) for o in box.proto.options)
    box.set_value(["temperature.tau"]).run()
    assert at.number_input(key="launch:demo:sweep:temperature.tau:stop").value == 0.7  # 0.07 × 10, no float noise
    assert "**τ**" in [m.value for m in at.markdown]  # the swept setting by its name, not its path
    mode = at.selectbox(key="launch:demo:temperature.mode")
    assert mode.format_func("scaled_exp") == "scaled exponential (Yaras TR)" and "$s = e^{\\nu}$" in mode.help


def test_the_group_typed_is_kept_and_the_links_name_the_swept_values(home, conn, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    at.selectbox(key="launch_preset").set_value("tiny-test").run()
    p = "launch:tiny-test:"
    at.text_input(key=p + "group").set_value("tau-sweep")
    at.multiselect(key=p + "sweep.settings").set_value(["temperature.tau"]).run()
    at.radio(key=p + "sweep:temperature.tau:mode").set_value("list").run()
    at.text_input(key=p + "sweep:temperature.tau:list").set_value("0.1, 1")
    at.text_input(key=p + "seeds").set_value("0-1").run()
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = RunStore()
    assert {store.meta(r)["group"] for r in store.run_ids()} == {"tau-sweep"}
    by_values = {(store.config(r).temperature.tau, store.config(r).seed): r for r in store.run_ids()}
    labels = [plain(lk.proto.label) for lk in at.get("page_link") if lk.proto.label.startswith("Watch")]
    assert f"Watch τ = 0.1 · seed 1 live ({by_values[(0.1, 1)]})" in labels, labels
    link = [lk for lk in at.get("page_link") if "Compare" in lk.proto.label][0]
    assert link.proto.query_string == "group=tau-sweep"
    # the typed group is user text: escaped in the link's Markdown label, shown as typed
    assert "tau\\-sweep" in link.proto.label and plain(link.proto.label) == "Compare the 4 runs of tau-sweep"


def test_webdataset_shards_are_offered_and_their_paths_checked_on_queueing(home, conn, redis_server, monkeypatch):
    from gapviz.data import synthetic
    from gapviz.data.shards import write_shards

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    at = open_page("launch")
    assert "webdataset" in at.selectbox(key="launch:demo:data.source").options
    at.selectbox(key="launch:demo:data.source").set_value("webdataset").run()
    shards = home / "shards"
    at.text_input(key="launch:demo:data.path").set_value(f"{shards}/{{00000..00001}}.tar")
    at.text_input(key="launch:demo:data.eval_shards").set_value(str(shards))
    at = _submit(at)
    assert not at.exception, at.exception
    assert f"shard {shards}/00000.tar: not found (and 1 more)" in [plain(e.value) for e in at.error]
    assert RunStore().run_ids() == []
    write_shards(shards, synthetic.generate(8, "train", 8, 0), per_shard=4)
    at = _submit(at)
    [run_id] = RunStore().run_ids()
    assert RunStore().config(run_id).data.source == "webdataset" and len(get_queue(conn).jobs) == 1
