"""Compare page (AppTest): URL selection, sweep groups, config diff, curves, scatters, final
table with CSV, rename / tag, delete with confirmation. Works on saved runs alone."""

from __future__ import annotations

from gapviz.runs.store import RunStore

from app_fixtures import make_run, open_page, texts


def _runs(store: RunStore):
    a = make_run(store, "tau07", seed=0, group="sweep-x")
    b = make_run(store, "tau07", seed=1, group="sweep-x")
    c = make_run(store, "tau05", seed=0, group="sweep-x", overrides={"temperature.tau": 0.05})
    return a, b, c


def test_url_selection_diff_curves_scatters_and_table(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare", {"runs": [a, c]})
    assert not at.exception
    assert at.multiselect(key="runs").value == [a, c]
    diff = at.dataframe[0].value
    assert list(diff.index) == ["temperature.tau"]  # seeds and names equal, so only tau differs
    final = at.dataframe[1].value
    assert final["run"].tolist() == [a, c] and final["epoch"].tolist() == [3, 3]
    assert "gap_distance" in final.columns
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # curves + one scatter per run
    assert at.slider(key="compare_epoch").value == 3
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download CSV" in labels and labels.count("PNG") == 3 and labels.count("SVG") == 3


def test_group_selects_every_run_and_seeds_are_averaged(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare")
    assert "Choose one or more runs" in texts(at)
    at.selectbox(key="compare_group").set_value("sweep-x").run()
    assert sorted(at.multiselect(key="runs").value) == sorted([a, b, c])
    diff = at.dataframe[0].value
    assert sorted(diff.index) == ["seed", "temperature.tau"]
    assert at.toggle(key="compare_average").value is True


def test_rename_tag_and_delete_with_confirmation(home):
    store = RunStore()
    a, b, _ = _runs(store)
    at = open_page("compare", {"runs": [a, b]})
    at.text_input(key=f"name_{a}").set_value("renamed run")
    at.text_input(key=f"tags_{a}").set_value("baseline, paper")
    [button for button in at.button if button.label == "Save"][0].click().run()
    assert store.meta(a)["name"] == "renamed run" and store.meta(a)["tags"] == ["baseline", "paper"]
    at.button(key="delete_runs").click().run()
    assert store.run_ids().count(a) == 1  # nothing deleted before confirming
    at.button(key="confirm_delete_button").click().run()
    assert a not in store.run_ids() and b not in store.run_ids()
    assert not at.exception and not at.error
    assert at.multiselect(key="runs").value == []


def test_no_runs_yet(home):
    at = open_page("compare")
    assert "No saved runs" in texts(at)
