"""ExploreState (gapviz.app.explore.state): one owner of Explore's session keys and its URL round trip."""

from __future__ import annotations

import re
from pathlib import Path

from gapviz.app.explore import state

EXPLORE = Path(state.__file__).parent


def test_session_keys_are_named_only_in_state_py():
    literal = re.compile(r"""["']explore_[a-z_]*["']""")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(EXPLORE.glob("*.py"))
        if path.name != "state.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_keys_are_unique_and_the_url_names_five_of_them():
    keys = {name: value for name, value in vars(state).items() if name.isupper() and isinstance(value, str)}
    assert len(set(keys.values())) == len(keys)
    assert state.URL_KEYS == {
        "source": "explore_source",
        "run": "explore_run",
        "epoch": "explore_run_epoch",
        "method": "explore_method",
        "path": state.FILE_PATH,
    }
    assert state.run_key(state.MAIN) == state.RUN and state.epoch_key(state.CMP) == "explore_cmp_run_epoch"


def test_typed_properties_over_the_session():
    session: dict = {}
    view = state.ExploreState(session)
    assert view.source is None and view.last_key is None and not view.comparison_open
    view.default_source("tiny")
    view.default_source("run")
    view.last_key = "model:x"
    session[state.CMP_OPEN] = True
    assert (view.source, view.last_key, view.comparison_open) == ("tiny", "model:x", True)
    view.default_run(state.MAIN, "r1")
    view.keep_epoch(state.MAIN, [0, 1, 2])
    assert session[state.RUN] == "r1" and session[state.RUN_EPOCH] == 2
    session[state.RUN_EPOCH] = 1
    view.keep_epoch(state.MAIN, [0, 1, 2])
    assert session[state.RUN_EPOCH] == 1
