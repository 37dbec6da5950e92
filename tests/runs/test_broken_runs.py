"""A broken run is shown as broken: every run folder is listed (state `unreadable`, with the file and the reason),
one broken run never breaks a page for the others, and a corrupt file is gapviz's one-line error."""

from __future__ import annotations

import json

import pytest
from app_fixtures import APP_SCRIPT, make_run, texts
from streamlit.testing.v1 import AppTest

from gapviz.cli.main import main
from gapviz.runs.store import UNREADABLE, RunStore, StoreError

CORRUPTIONS = {
    "truncated config": ("config.json", lambda b: b[: len(b) // 2]),
    "binary config": ("config.json", lambda b: b"\xff\xfe\x00binary"),
    "truncated status": ("status.json", lambda b: b[:10]),
    "binary meta": ("meta.json", lambda b: b"\x80\x81\x82"),
    "torn middle metrics line": ("metrics.jsonl", lambda b: b.replace(b"\n", b"\n{oops\n", 1)),
    "metrics row not an object": ("metrics.jsonl", lambda b: b"[1, 2]\n" + b),
    "missing config": ("config.json", None),
}


def _corrupt(store: RunStore, run_id: str, name: str, change) -> None:
    path = store.run_dir(run_id) / name
    if change is None:
        path.unlink()
    else:
        path.write_bytes(change(path.read_bytes()))


@pytest.fixture
def broken_home(home):
    store = RunStore()
    healthy = make_run(store, "healthy one", epochs=1)
    broken = {}
    for label, (name, change) in CORRUPTIONS.items():
        run_id = make_run(store, label, epochs=1, seed=len(broken) + 1)
        _corrupt(store, run_id, name, change)
        broken[run_id] = name
    npz = make_run(store, "truncated epoch", epochs=1, seed=99)
    path = store.epoch_file(npz, 1)
    path.write_bytes(path.read_bytes()[:200])
    caps = make_run(store, "binary captions", epochs=1, seed=98)
    (store.run_dir(caps) / "captions.json").write_bytes(b"\xff\x00\x01")
    return store, healthy, broken, npz, caps


def test_runs_list_shows_every_run_folder_with_its_problem(broken_home, capsys):
    store, healthy, broken, npz, caps = broken_home
    summaries = {s.run_id: s for s in store.summaries()}
    assert set(summaries) == {healthy, npz, caps, *broken}
    for run_id, name in broken.items():
        assert summaries[run_id].state == UNREADABLE and name in summaries[run_id].problem, run_id
    assert summaries[healthy].state == "finished" and not summaries[healthy].problem
    assert main(["--home", str(store.home), "runs", "list"]) == 0
    out = capsys.readouterr().out
    for run_id, name in broken.items():
        line = next(row for row in out.splitlines() if row.startswith(run_id))
        assert UNREADABLE in line and name in line
    assert main(["--home", str(store.home), "runs", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in rows if r["state"] == UNREADABLE} == set(broken)


@pytest.mark.parametrize("command", [["runs", "show"], ["runs", "export"]])
def test_a_corrupt_file_is_one_line_naming_it(broken_home, capsys, tmp_path, command):
    store, _, broken, npz, caps = broken_home
    exporting = command[-1] == "export"
    read_by_export = [r for r, name in broken.items() if name in ("config.json", "metrics.jsonl")]
    targets = [*read_by_export, npz] if exporting else list(broken)
    for run_id in targets:
        args = [*command, run_id] + (["--dest", str(tmp_path / run_id)] if exporting else [])
        assert main(["--home", str(store.home), *args]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "unexpected error" not in err, err
        assert run_id in err or "cannot read" in err


def test_store_readers_raise_store_errors(broken_home):
    store, _, _, npz, caps = broken_home
    with pytest.raises(StoreError, match="001.npz|cannot read"):
        store.epoch_arrays(npz, 1)
    with pytest.raises(StoreError, match="captions.json"):
        store.captions(caps)


def test_one_broken_run_does_not_break_compare_for_the_others(broken_home):
    store, healthy, broken, npz, caps = broken_home
    at = AppTest.from_file(APP_SCRIPT, default_timeout=120)
    at.switch_page("gapviz/app/compare/compare.py")
    at.query_params["runs"] = [healthy, npz, caps, *list(broken)[:2]]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "Values per run" in shown and "Embeddings" in shown  # the sections drew for the readable runs
    errors = [e.value.replace("\\", "") for e in at.error]  # the Markdown escapes removed
    for run_id in [*list(broken)[:2], caps]:
        assert any(run_id in e for e in errors), (run_id, errors)
    assert all(any(r in e for r in (npz, caps, *broken)) for e in errors), errors  # each error names its run
    assert not any("unexpected" in e for e in errors)


def test_live_names_an_unreadable_run(broken_home):
    store, _, broken, _, _ = broken_home
    run_id = next(iter(broken))
    at = AppTest.from_file(APP_SCRIPT, default_timeout=120)
    at.switch_page("gapviz/app/live/live.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    assert any(run_id in e.value.replace("\\", "") and "unreadable" in e.value for e in at.error), [
        e.value for e in at.error
    ]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x80\x04not a pickle"])
def test_a_corrupt_checkpoint_is_gapviz_own_one_line(home, content):
    from gapviz.training.checkpoint import checkpoint_epoch

    store = RunStore()
    run_id = make_run(store, "with a checkpoint", epochs=1)
    files = store.checkpoint_files(run_id)
    files.last.parent.mkdir(parents=True, exist_ok=True)
    files.last.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        checkpoint_epoch(files)
    message = str(caught.value)
    assert "last.pt" in message and "weights_only" not in message and len(message.splitlines()) == 1
