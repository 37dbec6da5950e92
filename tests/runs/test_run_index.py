"""The run-summary index (gapviz.runs.index): a warm listing re-reads only what changed, runs added or removed
behind the store's back still show, a corrupt run never breaks the list, and concurrent writers lose nothing."""

from __future__ import annotations

import json
import multiprocessing
import shutil

import pytest
from app_fixtures import make_run, set_state

from gapviz.config import RunConfig
from gapviz.runs import index
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore


class CountingStore(RunStore):
    """A RunStore that counts how many runs' files a listing reads."""

    def __init__(self, home):
        super().__init__(home)
        self.reads: list[str] = []

    def summary_or_unreadable(self, run_id):
        self.reads.append(run_id)
        return super().summary_or_unreadable(run_id)


def fresh(home) -> dict:
    """Every run's summary read from its folder, bypassing the index."""
    store = RunStore(home)
    return {run_id: store.summary_or_unreadable(run_id) for run_id in store.run_ids()}


def listed(store: RunStore) -> dict:
    return {s.run_id: s for s in store.summaries()}


def test_a_warm_listing_reads_only_changed_and_active_runs(home, monkeypatch):
    store = CountingStore(home)
    finished = [make_run(store, f"run {i}", epochs=1, seed=i, n=8) for i in range(6)]
    queued = store.create(RunConfig(name="waiting"))
    set_state(store, queued, RunState.QUEUED)
    assert listed(store) == fresh(home)
    store.reads.clear()
    assert listed(store) == fresh(home)
    assert store.reads == [queued]  # queued can turn abandoned with no write: always re-read
    store.update_meta(finished[2], name="renamed")
    for _ in range(2):  # a pending change is re-read from its folder until it is folded into the snapshot
        store.reads.clear()
        assert listed(store)[finished[2]].name == "renamed"
        assert sorted(store.reads) == sorted([finished[2], queued])
    monkeypatch.setattr(index, "FOLD_AFTER_S", 0.0)
    listed(store)  # folds
    store.reads.clear()
    assert listed(store)[finished[2]].name == "renamed"
    assert store.reads == [queued]


def test_many_changes_fold_at_once(home):
    store = CountingStore(home)
    run_id = make_run(store, "busy", epochs=1, n=8)
    listed(store)
    for i in range(index.FOLD_AT):
        store.update_meta(run_id, name=f"name {i}")
    listed(store)  # FOLD_AT pending changes: folded now, whatever the snapshot's age
    store.reads.clear()
    assert listed(store)[run_id].name == f"name {index.FOLD_AT - 1}" and store.reads == []


def test_runs_copied_in_or_deleted_behind_the_store_and_corrupt_ones_show_up_at_once(home, tmp_path):
    store = RunStore(home)
    kept = make_run(store, "kept", epochs=1, n=8)
    gone = make_run(store, "gone", epochs=1, seed=1, n=8)
    broken = make_run(store, "broken", epochs=1, seed=3, n=8)
    (store.run_dir(broken) / "config.json").write_text("{not json")
    listed(store)
    other = RunStore(tmp_path / "elsewhere")
    copied = make_run(other, "copied in", epochs=1, seed=2, n=8)
    shutil.copytree(other.run_dir(copied), store.run_dir(copied))  # no marker: found by the folder listing
    shutil.rmtree(store.run_dir(gone))
    runs = listed(store)
    assert set(runs) == {kept, copied, broken}
    assert runs[copied].name == "copied in" and runs[broken].state == RunState.UNREADABLE
    assert "config.json" in runs[broken].problem
    shutil.copy(store.run_dir(kept) / "config.json", store.run_dir(broken) / "config.json")  # repaired by hand
    assert listed(store)[broken].state == RunState.FINISHED
    assert listed(store) == fresh(home)


def test_a_lost_or_corrupt_index_is_rebuilt_and_reindex_matches_the_folders(home):
    store = RunStore(home)
    for i in range(3):
        make_run(store, f"run {i}", epochs=1, seed=i, n=8)
    listed(store)
    store.index.snapshot_file.write_text("garbage")
    assert listed(store) == fresh(home)
    store.index.snapshot_file.unlink()
    assert listed(store) == fresh(home)
    assert store.reindex() == 3
    assert not list(store.index.changed_dir.iterdir())


def test_a_snapshot_from_another_gapviz_version_is_rebuilt_with_the_settings_it_lacked(home):
    """An index written before a config field existed lists the runs with that setting after an upgrade."""
    store = RunStore(home)
    for i in range(2):
        make_run(store, f"run {i}", epochs=1, seed=i, n=8)
    store.reindex()
    snapshot = json.loads(store.index.snapshot_file.read_text())
    for row in snapshot["runs"].values():
        row["settings"].pop("train.devices")
    snapshot["schema"] = "an older gapviz"
    store.index.snapshot_file.write_text(json.dumps(snapshot))
    index._PARSED.clear()
    rows = listed(RunStore(home))
    assert rows == fresh(home) and all("train.devices" in row.settings for row in rows.values())


def test_a_fold_that_raced_another_lister_does_not_overwrite_its_snapshot(home, monkeypatch):
    """Lister A reads the snapshot, lister B folds a change and deletes its marker, then A must not write its
    older merge over B's: the change would be lost with its marker."""
    monkeypatch.setattr(index, "FOLD_AFTER_S", 0.0)
    store = RunStore(home)
    run_id = make_run(store, "raced", epochs=1, n=8)
    listed(store)
    stale_stamp = store.index._stamp()
    store.update_meta(run_id, name="after")
    listed(store)  # B folds "after" and deletes the marker
    store.index._fold({}, [], stale_stamp)  # A's older merge: refused
    assert listed(store)[run_id].name == "after"


def _rename_many(home: str, run_ids: list[str], rounds: int) -> None:
    store = RunStore(home)
    for round_ in range(rounds):
        for run_id in run_ids:
            store.update_meta(run_id, name=f"{run_id} round {round_}")


def _list_many(home: str, rounds: int) -> None:
    store = RunStore(home)
    for _ in range(rounds):
        list(store.summaries())


@pytest.mark.slow
def test_concurrent_writers_and_listers_end_with_the_folders_truth(home):
    store = RunStore(home)
    run_ids = [make_run(store, f"run {i}", epochs=1, seed=i, n=8) for i in range(8)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_rename_many, args=(str(home), run_ids[i::2], 25)) for i in range(2)]
    workers += [context.Process(target=_list_many, args=(str(home), 40)) for _ in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    assert listed(store) == fresh(home)
    assert all(s.name.endswith("round 24") for s in listed(store).values())
