"""Compare page: many saved runs side by side (``?group=<g>`` opens a sweep group, ``?runs=A&runs=B`` a set).

Filter by group, tag, state or any config value; the settings that differ; curves grouped by any
settings with the mean and a 95% band over seeds, optionally smoothed over the faint raw curve;
last / best / at-epoch values per run; a final metric against a setting; the gap against β;
scatters at one epoch; PNG / SVG / CSV export; rename, tag, re-run and delete. Reads the
RunStore only: works without Redis and without torch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from gapviz import charts, charts_compare, figures, setting_catalog
from gapviz.app.compare import run_picker
from gapviz.app.shared import common, frames, settings_plot
from gapviz.app.shared import compare_frames as cf
from gapviz.app.shared.settings_plot import export_buttons
from gapviz.runs.store import StoreError
from gapviz.science import catalog

MAX_SCATTER_COLUMNS = 3
DEFAULT_SCATTERS = 3
FINAL_COLUMNS = catalog.in_view("final")
"""Metrics of the values table, in the catalog's order, those that the selected runs record."""
DEFAULT_CURVES = catalog.in_view("first_curve")
"""Panels drawn at first (each costs the browser a facet); the Metrics box adds any other."""
WIDE_DIFF_UP_TO = 12
"""Up to this many runs the settings diff has a column per run; above, a row per setting with its values."""
CONFIRM_KEY = "compare_confirm_delete"


def _numeric_metrics(histories: dict[str, list[dict[str, Any]]]) -> list[str]:
    return sorted(
        {
            k
            for rows in histories.values()
            for row in rows
            for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "step")
        }
    )


def settings_diff(flat: dict[str, dict[str, Any]], names: dict[str, str]) -> None:
    st.subheader("Settings that differ")
    diff = frames.config_diff(flat)
    if diff.empty:
        st.caption(
            "All selected runs have the same settings" + (" (apart from their names)." if len(flat) > 1 else ".")
        )
        return
    diff = diff.rename(index=setting_catalog.label)
    if len(flat) > WIDE_DIFF_UP_TO:  # a column per run stops being readable: one row per setting instead
        st.dataframe(cf.diff_summary(diff), width="stretch", hide_index=True)
        return
    diff.columns = [f"{names[r]} ({r})" if names[r] != r else r for r in diff.columns]
    st.dataframe(diff, width="stretch")


def group_by_series(flat: dict[str, dict[str, Any]], names: dict[str, str]) -> tuple[dict[str, str], bool]:
    """Group by any settings (default: every one that differs, seed aside); runs of one group are its seeds."""
    varying = cf.varying_settings(flat)
    settings = sorted({k for cfg in flat.values() for k in cfg} - {"name"})
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    default = [k for k in varying if k != "seed"]
    group_by = c1.multiselect(
        "Group by",
        settings,
        default=default,
        key="compare_group_by",
        format_func=setting_catalog.label,
        help="runs with equal values of these settings form one series (the rest are its seeds)",
    )
    average = c2.toggle(
        "mean and band",
        value=True,
        key="compare_average",
        help="over the runs of each series: a t-interval over seeds (one run: its own interval)",
    )
    if not average:
        return {r: f"{names[r]} ({r})" for r in flat}, False
    return cf.group_labels(flat, group_by) if group_by else {r: "all runs" for r in flat}, True


def curves(
    histories: dict[str, list[dict[str, Any]]], labels: dict[str, str], average: bool, band: str = figures.BAND_CI
) -> None:
    st.subheader("Curves")
    available = _numeric_metrics(histories)
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    default = [m for m in DEFAULT_CURVES if m in available]
    chosen = c1.multiselect(
        "Metrics", available, default=default, key="compare_metrics", format_func=charts.metric_title
    )
    weight = c2.slider(
        "smoothing",
        0.0,
        0.95,
        0.0,
        0.05,
        key="compare_smoothing",
        help="exponential moving average over epochs; the raw curve stays faint beneath",
    )
    long = cf.long_curves(histories, labels, chosen)
    if long.empty or not chosen:
        st.caption("No per-epoch metrics yet.")
        return
    if average:
        data = cf.smooth(cf.seed_bands(long, method=band), weight, by=("series", "metric"))
        caption = figures.band_caption(band, data["n"])
    else:
        data = cf.smooth(long.rename(columns={"ci_lo": "lo", "ci_hi": "hi"}), weight)
        caption = "one line per run; band: each run's own 95% interval where its record has one, n = 1 per point"
    if weight <= 0:
        data = data.drop(columns=["raw"])
    chart = charts_compare.compare_curves(data, metrics=chosen)
    common.show_chart(chart, key="compare_curves")
    st.caption(common.md_escape(caption))
    export_buttons(chart, "gapviz-curves", "curves", table=figures.clip_bands(data), caption=caption)


def values_section(
    histories: dict[str, list[dict[str, Any]]], names: dict[str, str], labels: dict[str, str]
) -> tuple[pd.DataFrame, str]:
    """Last, best or at-epoch values of every run; the table the settings plot draws from."""
    st.subheader("Values per run")
    last_epoch = max((int(r["epoch"]) for rows in histories.values() for r in rows), default=0)
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    mode = c1.radio(
        "Value",
        cf.VALUE_MODES,
        horizontal=True,
        key="compare_value_mode",
        help="best: lowest gap, loss and separability; highest recall and accuracy",
    )
    epoch = (
        c2.slider("epoch", 0, last_epoch, last_epoch, key="compare_value_epoch")
        if mode == "at epoch" and last_epoch
        else 0
    )
    metrics = [m for m in FINAL_COLUMNS if any(m in row for rows in histories.values() for row in rows)]
    table = cf.values_table(histories, names, metrics, mode, epoch)
    table.insert(2, "series", table["run"].map(labels))
    st.dataframe(cf.display_columns(table), width="stretch", hide_index=True)
    st.download_button(
        "Download CSV",
        table.to_csv(index=False),
        file_name=f"gapviz-values-{mode.replace(' ', '-')}.csv",
        mime="text/csv",
        key="final_csv",
        on_click="ignore",
    )
    return table, mode if mode != "at epoch" else f"at epoch {epoch}"


def render() -> None:
    st.title("Compare runs")
    summaries = common.summaries()
    if not summaries:
        st.info(
            f"No saved runs in {common.md_escape(common.store().runs_dir)} yet — "
            "start one on the Launch page or with `gapviz train`."
        )
        return
    run_ids = readable_runs(run_picker.pick(summaries), summaries)
    if not run_ids:
        st.info("Choose runs, a group or a filter above. The page URL keeps the selection.")
        return
    with common.guard("could not read the runs"):
        flat = {r: summaries[r].settings for r in run_ids}
        names = {r: summaries[r].name for r in run_ids}
        histories = {r: common.metrics(r) for r in run_ids}
        settings_diff(flat, names)
        labels, average = group_by_series(flat, names)
        band = settings_plot.band_choice() if average else figures.BAND_CI
        curves(histories, labels, average, band)
        values, value_mode = values_section(histories, names, labels)
        settings_plot.results_against_setting(flat, values, value_mode, band)
        settings_plot.gap_against_beta(run_ids, labels)
        scatters(run_ids, names, {r: [int(row["epoch"]) for row in histories[r]] for r in run_ids})
        manage(run_ids, summaries)


def readable_runs(run_ids: list[str], summaries: dict[str, Any]) -> list[str]:
    """The chosen runs whose config and metrics can be read; each other one is named, with its problem, in one
    error line, so one broken run never breaks the page for the rest."""
    readable = []
    for run_id in run_ids:
        if common.unreadable(run_id, summaries):
            continue
        try:
            common.metrics(run_id)
        except Exception as error:  # noqa: BLE001 - any unreadable file: name the run, keep the others
            common.show_error(f"run {run_id} is unreadable and left out", error)
            continue
        readable.append(run_id)
    return readable


def _methods(run_id: str, epoch: int) -> list[str]:
    """The projections saved at a run's epoch; none for an unreadable file (its scatter then says which run)."""
    try:
        return common.projection_methods(run_id, epoch)
    except StoreError:
        return []


def scatters(run_ids: list[str], names: dict[str, str], epochs: dict[str, list[int]]) -> None:
    st.subheader("Embeddings")
    with_epochs = [r for r in run_ids if epochs[r]]
    if not with_epochs:
        st.caption("No saved epochs yet.")
        return
    c1, c2, c3 = st.columns([3, 3, 1])
    shown_runs = c1.multiselect(
        "Runs to draw",
        with_epochs,
        default=with_epochs[:DEFAULT_SCATTERS],
        key="compare_scatter_runs",
        format_func=lambda r: f"{names[r]} ({r})",
    )
    last = max(max(epochs[r]) for r in with_epochs)
    epoch = c2.slider("Epoch (all runs)", 0, last, last, key="compare_epoch") if last > 0 else 0
    methods = sorted({m for r in shown_runs or with_epochs[:1] for m in _methods(r, epochs[r][-1])})
    method = c3.selectbox("Projection", methods or ["pca"], key="compare_method")
    if not shown_runs:
        return
    columns = st.columns(min(MAX_SCATTER_COLUMNS, len(shown_runs)))
    for position, run_id in enumerate(shown_runs):
        with columns[position % len(columns)], common.guard(f"could not draw run {run_id}"):
            scatter(run_id, names[run_id], epochs[run_id], epoch, method, legend=position == 0)


def scatter(run_id: str, name: str, epochs: list[int], epoch: int, method: str, legend: bool) -> None:
    """One run's scatter at the last saved epoch up to ``epoch``, on axes that cover all its epochs."""
    shown = max([e for e in epochs if e <= epoch], default=None)
    if shown is None:
        st.caption(f"{common.md_escape(name)}: no epoch ≤ {epoch}")
        return
    coords = common.projection(run_id, shown, method)
    if coords is None:
        st.caption(f"{common.md_escape(name)}: no {method} projection saved")
        return
    index = common.epoch_member(run_id, shown, "text_image_index")
    x_dom, y_dom = common.projection_domain(run_id, method)
    points, lines, arrow, note = frames.scatter_frames(
        coords, len(coords) - len(index), index, common.captions(run_id) or None, max_lines=150
    )
    title = f"{name} · epoch {shown}" + ("" if shown == epoch else f" (last saved ≤ {epoch})")
    chart = charts.embedding_scatter(
        points,
        pair_lines=lines,
        arrow=arrow,
        x_domain=x_dom,
        y_domain=y_dom,
        title=title,
        width=300,
        height=300,
        legend=legend,
    )
    common.show_chart(chart, key=f"compare_scatter_{run_id}")
    if note:
        st.caption(note)
    export_buttons(chart, f"gapviz-{run_id}-epoch{shown}", f"scatter_{run_id}")


def _forget_delete() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


@st.dialog("Delete runs", on_dismiss=_forget_delete)
def confirm_delete(run_ids: list[str]) -> None:
    st.markdown(f"Delete {len(run_ids)} run(s) and all their files? This cannot be undone.")
    st.text("\n".join(run_ids))
    left, right = st.columns(2)
    if left.button("Delete for good", type="primary", key="confirm_delete_button"):
        with common.guard("could not delete"):
            for run_id in run_ids:
                common.store().delete(run_id)
        _forget_delete()
        st.rerun()
    if right.button("Keep them", key="keep_runs_button"):
        _forget_delete()
        st.rerun()


def edit_run(run_id: str) -> None:
    """Rename, tag or regroup one run, and open it in Launch (as a copy or to fine-tune from)."""
    store = common.store()
    meta = store.meta(run_id)
    with st.form(f"meta_{run_id}", border=False):
        c1, c2, c3, c4 = st.columns([3, 3, 2, 1], vertical_alignment="bottom")
        name = c1.text_input("name", value=meta.get("name", run_id), key=f"name_{run_id}")
        tags = c2.text_input("tags (comma separated)", value=", ".join(meta.get("tags", [])), key=f"tags_{run_id}")
        group = c3.text_input("group", value=meta.get("group", ""), key=f"group_{run_id}")
        if c4.form_submit_button("Save"):
            with common.guard("could not save"):
                store.update_meta(
                    run_id,
                    name=name.strip() or run_id,
                    group=group.strip(),
                    tags=[t.strip() for t in tags.split(",") if t.strip()],
                )
                st.toast(f"saved {run_id}")
                st.rerun()
    relaunch_links(run_id)


def relaunch_links(run_id: str) -> None:
    """Open in Launch (this run's exact config) and Fine-tune from this run (its checkpoint as the start)."""
    row = st.container(horizontal=True)
    row.page_link(common.PAGES["launch"], label="Open in Launch", query_params={"from": run_id}, icon=":material/edit:")
    row.page_link(
        common.PAGES["launch"],
        label="Fine-tune from this run",
        query_params={"finetune": run_id},
        icon=":material/model_training:",
    )


def manage(run_ids: list[str], summaries: dict) -> None:
    with st.expander("Rename, tag, re-run or delete"):
        run_id = st.selectbox(
            "Run", run_ids, key="compare_edit_run", format_func=lambda r: common.run_label(r, summaries)
        )
        if run_id:
            edit_run(run_id)
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        tag = c1.text_input(f"Add a tag to all {len(run_ids)} selected runs", key="compare_bulk_tag")
        if c2.button("Add tag", key="compare_bulk_tag_button", disabled=not tag.strip()):
            with common.guard("could not tag"):
                for r in run_ids:
                    have = list(common.store().meta(r).get("tags", []))
                    common.store().update_meta(r, tags=have + ([tag.strip()] if tag.strip() not in have else []))
                st.rerun()
        if st.button(f"Delete {len(run_ids)} selected run(s)…", key="delete_runs"):
            st.session_state[CONFIRM_KEY] = list(run_ids)
    if st.session_state.get(CONFIRM_KEY):
        confirm_delete(st.session_state[CONFIRM_KEY])


if __name__ == "__main__":
    render()
