"""Pickers at a lab's scale (AppTest): Compare and Live list the newest runs (common.LISTED, lowered here) and a
search box finds an older one; the listing is cached per version of the run index and follows every change."""

from __future__ import annotations

import shutil

import pytest
from app_fixtures import make_run, open_page, texts

from gapviz.app.shared import common
from gapviz.runs.store import RunStore

RUNS = 300
LISTED = 20


def _store_of(runs: int) -> tuple[RunStore, str]:
    """``runs`` runs (copies of one real run folder under new ids); the oldest is renamed "needle"."""
    store = RunStore()
    source = make_run(store, "hay", epochs=1, group="stack")
    for index in range(runs - 1):
        shutil.copytree(store.run_dir(source), store.runs_dir / f"{source}-{index:05d}")
    store.update_meta(source, name="needle")
    return store, source


@pytest.fixture
def few_listed(monkeypatch):
    monkeypatch.setattr(common, "LISTED", LISTED)


@pytest.mark.slow
def test_compare_lists_the_newest_and_finds_an_older_run(home, few_listed):
    store, needle = _store_of(RUNS)
    at = open_page("compare")
    assert not at.exception
    box = at.multiselect(key="runs")
    assert len(box.options) == LISTED and needle not in box.options
    assert f"The newest {LISTED} of {RUNS} runs are listed" in texts(at)
    at.text_input(key="compare_find").set_value("needle").run()
    assert at.multiselect(key="runs").options == [common.run_label(needle, common.summaries())]
    at.multiselect(key="runs").set_value([needle]).run()
    assert at.query_params["runs"] == needle and not at.exception
    at.text_input(key="compare_find").set_value("").run()  # the chosen run stays offered, ahead of the newest
    assert len(at.multiselect(key="runs").options) == LISTED + 1
    assert at.multiselect(key="runs").value == [needle]


@pytest.mark.slow
def test_a_group_of_more_runs_than_listed_opens_whole_from_the_url(home, few_listed):
    store, _ = _store_of(RUNS)
    at = open_page("compare", {"group": "stack"})
    assert not at.exception
    assert len(at.multiselect(key="runs").value) == RUNS
    assert at.query_params["group"] == "stack"


@pytest.mark.slow
def test_live_lists_the_newest_and_finds_an_older_run(home, few_listed):
    store, needle = _store_of(RUNS)
    at = open_page("live")
    [box] = [s for s in at.selectbox if s.label == "Run"]
    assert len(box.options) == LISTED
    at.text_input(key="live_find").set_value("needle").run()
    [box] = [s for s in at.selectbox if s.label == "Run"]
    assert needle in [o.rsplit(" · ", 1)[-1] for o in box.options]
    box.set_value(needle).run()
    assert at.query_params["run"] == needle and not at.exception


@pytest.mark.slow
def test_a_small_store_lists_every_run_without_a_search_box(home):
    store = RunStore()
    runs = [make_run(store, f"run {i}", epochs=1) for i in range(3)]
    at = open_page("compare")
    assert sorted(at.multiselect(key="runs").options) == sorted(common.run_label(r, common.summaries()) for r in runs)
    assert not [t for t in at.text_input if t.key == "compare_find"]


@pytest.mark.slow
def test_the_listing_follows_every_change_of_the_store(home):
    store = RunStore()
    first = make_run(store, "first", epochs=1)
    store.summaries_version()  # the first listing builds the index
    version = store.summaries_version()
    assert store.summaries_version() == version  # nothing changed: the cached listing is reused
    at = open_page("compare")
    second = make_run(store, "second", epochs=1)
    assert store.summaries_version() != version
    at.run()
    assert len(at.multiselect(key="runs").options) == 2
    shutil.copytree(store.run_dir(first), store.runs_dir / f"{first}-copy")  # a folder copied in by hand
    at.run()
    assert len(at.multiselect(key="runs").options) == 3
    store.update_meta(second, name="renamed")
    at.run()
    assert any(o.startswith("renamed · ") for o in at.multiselect(key="runs").options)
    shutil.rmtree(store.run_dir(first))  # a folder deleted by hand
    at.run()
    assert len(at.multiselect(key="runs").options) == 2 and not at.exception


@pytest.mark.slow
def test_launch_fine_tunes_from_an_older_run_than_listed(home, few_listed):
    store, needle = _store_of(RUNS)
    store.checkpoint_files(needle).epoch(1).parent.mkdir(parents=True, exist_ok=True)
    store.checkpoint_files(needle).epoch(1).write_bytes(b"weights")
    at = open_page("launch", {"finetune": needle})
    box = at.selectbox(key=f"launch:ft-{needle}:model.init_run")
    assert box.value == needle and len(box.options) == LISTED + 1
    [find] = [t for t in at.text_input if t.key == f"launch:ft-{needle}:model.init_run:find"]
    find.set_value("needle").run()
    assert at.selectbox(key=f"launch:ft-{needle}:model.init_run").value == needle and not at.exception
