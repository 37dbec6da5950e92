"""Terminal escape injection (issue 20): run text printed by the CLI has no raw control characters and a length
limit; names and tags with control characters or over 200 characters are refused where they enter."""

from __future__ import annotations

import pytest
from app_fixtures import make_run

from gapviz.cli.common import SHOWN_CHARS, term_safe
from gapviz.cli.main import main
from gapviz.config import MAX_LABEL, preset
from gapviz.fsio import atomic_write_json
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore, StoreError

HOSTILE = "ok\x1b]0;pwned\x07\r\nfake-run  finished  9/9\x1b[2J\x9b31m"
RAW_BYTES = ("\x1b", "\x07", "\r", "\x9b")


@pytest.fixture
def hostile_run(tmp_path) -> tuple[str, str]:
    """A failed run whose meta.json (written by an older gapviz or by hand) holds a hostile, very long name."""
    store = RunStore(tmp_path)
    run_id = make_run(store, "plain", epochs=1, state=RunState.FAILED, error="boom " + HOSTILE)
    meta = store.meta(run_id)
    atomic_write_json(store.run_dir(run_id) / "meta.json", {**meta, "name": HOSTILE + "x" * 5000})
    return str(tmp_path), run_id


def _assert_clean(out: str, lines: int) -> None:
    for raw in RAW_BYTES:
        assert raw not in out, repr(raw)
    assert len(out.splitlines()) == lines, out
    assert "pwned" in out and "\\x1b" in out  # shown, visibly escaped
    assert "x" * (SHOWN_CHARS + 1) not in out and "(+" in out  # truncated


def test_runs_list_prints_a_hostile_name_escaped_on_one_row(hostile_run, capsys):
    home, run_id = hostile_run
    assert main(["--home", home, "runs", "list"]) == 0
    out = capsys.readouterr().out
    _assert_clean(out, 2)  # the header and one row: no forged row
    assert out.splitlines()[1].startswith(run_id)


def test_runs_show_prints_a_hostile_name_and_error_escaped(hostile_run, capsys):
    home, run_id = hostile_run
    assert main(["--home", home, "runs", "show", run_id]) == 0
    out = capsys.readouterr().out
    _assert_clean(out, 2 + 2)  # the run line, the error line, two epochs
    assert "error: boom ok\\x1b]0;pwned\\x07\\x0d\\x0a" in out


def test_term_safe_escapes_every_control_character_and_keeps_the_rest():
    assert term_safe("naïve — ok [x](y)") == "naïve — ok [x](y)"
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        assert term_safe(f"a{chr(code)}b") == f"a\\x{code:02x}b"
    assert term_safe("a\u202eb\u2028c") == "a?b?c"  # bidi override, line separator
    assert term_safe("y" * 250, limit=10) == "y" * 10 + "…(+240 chars)"


@pytest.mark.parametrize("name", ["n" * (MAX_LABEL + 1), "two\nlines", "bell\x07", "title\x1b]0;x\x07", "cr\r"])
def test_a_long_or_control_character_name_is_refused_with_one_line(tmp_path, name):
    problems = preset("demo").replace(name=name).validate()
    assert [p.path for p in problems] == ["name"]
    assert "\n" not in str(problems[0])
    with pytest.raises(StoreError, match="run name: must"):
        RunStore(tmp_path).create(preset("demo").replace(name=name))


def test_a_200_character_name_and_plain_tags_are_accepted(tmp_path):
    store = RunStore(tmp_path)
    cfg = preset("demo").replace(name="n" * MAX_LABEL)
    assert cfg.validate() == []
    run_id = store.create(cfg, tags=("ok", "also ok"))
    with pytest.raises(StoreError, match="run tag: must not contain control"):
        store.update_meta(run_id, tags=["ok", "bad\nrow"])
    with pytest.raises(StoreError, match=f"at most {MAX_LABEL}"):
        store.update_meta(run_id, name="n" * (MAX_LABEL + 1))
    assert store.meta(run_id)["tags"] == ["ok", "also ok"]


def test_submit_refuses_a_name_with_a_newline(tmp_path, capsys):
    argv = ["--home", str(tmp_path), "submit", "--preset", "demo", "--set", "name=a\nb"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "config error: name: must not contain control characters" in err and len(err.splitlines()) == 1
