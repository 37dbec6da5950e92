"""Compare's run picker for research scale: filter by group, tag, state and any config value; the URL keeps it.

``?group=<g>`` (repeatable) opens every run of a sweep group; ``?runs=<id>&runs=<id>`` a hand-picked set.
Changing a filter selects every run that matches it; the Runs box can then drop or add single runs. The
table the filters read is built once per version of the run index; the Runs box lists the selected runs and
the newest matching ones (common.LISTED), with a search box for the rest, so ten thousand runs stay quick.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz.app.shared import common
from gapviz.app.shared import compare_frames as cf
from gapviz.runs.store import UNREADABLE

EXPANDED_UP_TO = 12
"""The Runs box is open while it holds at most this many runs (100 chips would push the page down)."""
FILTER_KEYS = ("compare_groups", "compare_tags", "compare_states", "compare_filter_key", "compare_filter_values")


def _matching(table: Any) -> list[str]:
    state = st.session_state
    return cf.filter_runs(
        table,
        groups=state.get("compare_groups") or (),
        tags=state.get("compare_tags") or (),
        states=state.get("compare_states") or (),
        setting=state.get("compare_filter_key") or "",
        values=state.get("compare_filter_values") or (),
    )


def _select_matching(table: Any) -> None:
    """A filter changed: select every run that matches all filters."""
    if any(st.session_state.get(k) for k in FILTER_KEYS if k != "compare_filter_key"):
        st.session_state["runs"] = _matching(table)


def _init_from_url(summaries: dict[str, Any]) -> None:
    """``?group=`` seeds the group filter and selects its runs, the first time the page draws."""
    if "compare_groups" in st.session_state:
        return
    known = {s.group for s in summaries.values() if s.group}
    wanted = [g for g in st.query_params.get_all("group") if g in known]
    if wanted:
        st.session_state["compare_groups"] = wanted
        st.session_state["runs"] = [r for r, s in summaries.items() if s.group in wanted]


def _frame(summaries: dict[str, Any]) -> tuple[Any, dict[str, list[str]]]:
    """The run table, and the groups, tags and states it holds (built once per version of the run index)."""
    readable = [r for r, summary in summaries.items() if summary.state != UNREADABLE]
    table = cf.run_table(summaries, {r: summaries[r].settings for r in readable})
    choices = {
        "groups": sorted({s.group for s in summaries.values() if s.group}),
        "tags": sorted({t for s in summaries.values() for t in s.tags}),
        "states": sorted({s.state for s in summaries.values()}),
    }
    return table, choices


def filters(choices: dict[str, list[str]], table: Any) -> None:
    """The filter row: groups, tags, states, and one setting with the values to keep."""
    c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 3, 3])
    groups, tags, states = choices["groups"], choices["tags"], choices["states"]
    args = (table,)
    c1.multiselect(
        "Groups",
        groups,
        key="compare_groups",
        on_change=_select_matching,
        args=args,
        placeholder="any group",
        help="sweep groups (a sweep queued from Launch is one group)",
    )
    c2.multiselect("Tags", tags, key="compare_tags", on_change=_select_matching, args=args, placeholder="any tag")
    c3.multiselect(
        "States", states, key="compare_states", on_change=_select_matching, args=args, placeholder="any state"
    )
    settings = [c[len("cfg:") :] for c in table.columns if c.startswith("cfg:")]
    key = c4.selectbox(
        "Setting",
        settings,
        index=None,
        key="compare_filter_key",
        placeholder="any setting",
        help="keep runs whose setting has one of the values on the right",
    )
    values = sorted({str(v) for v in table[f"cfg:{key}"]}, key=cf.natural_key) if key else []
    c5.multiselect(
        "Values",
        values,
        key="compare_filter_values",
        on_change=_select_matching,
        args=args,
        placeholder="pick a setting first" if not key else "any value",
        disabled=not key,
    )


def pick(summaries: dict[str, Any]) -> list[str]:
    """The filter row and the Runs box; returns the selected run ids (and keeps them in the URL)."""
    table, choices = common.per_listing(_frame, summaries)
    _init_from_url(summaries)
    filters(choices, table)
    if "runs" in st.session_state:  # runs deleted meanwhile (here or elsewhere) leave the selection
        st.session_state["runs"] = [r for r in st.session_state["runs"] if r in summaries]
    common.init_from_url("runs", "runs", summaries, multi=True)
    matching = _matching(table)
    chosen = list(st.session_state.get("runs", []))
    with st.expander(
        f"Runs: {len(chosen)} selected, {len(matching)} match the filters", expanded=len(chosen) <= EXPANDED_UP_TO
    ):
        options = common.listed_runs(matching, summaries, chosen, "compare_find")
        run_ids = st.multiselect(
            "Runs",
            options,
            key="runs",
            format_func=lambda r: common.run_label(r, summaries),
            placeholder="choose runs to compare",
        )
    groups = st.session_state.get("compare_groups") or []
    by_group = bool(groups) and sorted(run_ids) == sorted(r for r, s in summaries.items() if s.group in groups)
    common.sync_to_url("group", list(groups) if by_group else None)
    common.sync_to_url("runs", None if by_group else run_ids)
    return run_ids
