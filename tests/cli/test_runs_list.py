"""`gapviz runs list` filters (state, group, tag, limit), newest first, "—" for a run with no metrics yet, and
`gapviz runs reindex`."""

from __future__ import annotations

import json

from app_fixtures import make_run, set_state

from gapviz.cli.main import main
from gapviz.config import RunConfig
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore


def run_cli(capsys, home, *argv: str) -> tuple[int, str]:
    code = main(["--home", str(home), *argv])
    return code, capsys.readouterr().out


def test_runs_list_filters_sorts_newest_first_and_shows_a_dash_for_a_queued_run(home, capsys):
    store = RunStore(home)
    old = make_run(store, "old", epochs=1, n=8, group="sweep", tags=("a", "b"))
    new = make_run(store, "new", epochs=1, seed=1, n=8, group="sweep", tags=("a",))
    failed = make_run(store, "broke", epochs=1, seed=2, n=8, state=RunState.FAILED, error="DataError: x")
    queued = store.create(RunConfig(name="waiting"))
    set_state(store, queued, RunState.QUEUED)

    code, out = run_cli(capsys, home, "runs", "list")
    rows = out.splitlines()[1:]
    assert code == 0 and [row.split()[0] for row in rows] == [queued, failed, new, old]
    waiting = next(row for row in rows if row.startswith(queued))
    assert "nan" not in out and waiting.split()[3:5] == ["—", "—"]

    def ids(*argv: str) -> list[str]:
        _, text = run_cli(capsys, home, "runs", "list", "--json", *argv)
        return [row["run_id"] for row in json.loads(text)]

    assert ids("--group", "sweep") == [new, old]
    assert ids("--tag", "a", "--tag", "b") == [old]
    assert ids("--state", "failed", "--state", "queued") == [queued, failed]
    assert ids("--limit", "2") == [queued, failed]
    _, text = run_cli(capsys, home, "runs", "list", "--group", "none-such")
    assert "match" in text


def test_runs_reindex_rebuilds_the_index_from_the_folders(home, capsys):
    store = RunStore(home)
    make_run(store, "one", epochs=1, n=8)
    store.index.snapshot_file.parent.mkdir(parents=True, exist_ok=True)
    store.index.snapshot_file.write_text("{}")
    code, out = run_cli(capsys, home, "runs", "reindex")
    assert code == 0 and "from 1 run folder" in out
    assert json.loads(store.index.snapshot_file.read_text())["version"] == 1
