"""Compare page: several saved runs side by side (the URL holds the selection: ?runs=A&runs=B).

Config diff, overlaid curves (mean ± std over seeds), scatters at one epoch, the final-metrics
table with CSV export, PNG/SVG export of each chart, and rename / tag / delete.
Reads the RunStore only: works without Redis and without torch.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gapviz import charts
from gapviz.app import common
from gapviz.app import format as fmt
from gapviz.app import frames as views

MAX_SCATTER_COLUMNS = 3
FINAL_COLUMNS = ("gap_distance", "relative_gap", "tau", "loss", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "zero_shot", "pair_cosine", "modality_probe_accuracy")


def _select_group(groups: dict[str, list[str]]) -> None:
    group = st.session_state.get("compare_group")
    if group:
        st.session_state["runs"] = list(groups[group])


def export_buttons(chart, name: str, key: str) -> None:
    """PNG and SVG downloads of ``chart``; rendered by vl-convert only when clicked."""
    row = st.container(horizontal=True)
    row.download_button("PNG", data=lambda: charts.chart_png(chart), file_name=f"{name}.png", mime="image/png", key=f"{key}_png", on_click="ignore")
    row.download_button("SVG", data=lambda: charts.chart_svg(chart), file_name=f"{name}.svg", mime="image/svg+xml", key=f"{key}_svg", on_click="ignore")


def final_metrics_table(run_ids: list[str], labels: dict[str, str]) -> pd.DataFrame:
    rows = []
    for run_id in run_ids:
        history = common.metrics(run_id)
        last = history[-1] if history else {}
        rows.append({"run": run_id, "name": labels.get(run_id, run_id), "epoch": last.get("epoch"), **{k: last.get(k) for k in FINAL_COLUMNS if k in last}})
        if "gap_distance_ci95" in last:  # the interval, and "≈ 0" when the gap is under its null floor
            rows[-1]["gap [95% CI]"] = fmt.metric_text(last, "gap_distance", 3)
    return pd.DataFrame(rows)


CONFIRM_KEY = "compare_confirm_delete"


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


def manage(run_ids: list[str], summaries: dict) -> None:
    with st.expander("Rename, tag, group or delete"):
        store = common.store()
        for run_id in run_ids:
            meta = store.meta(run_id)
            with st.form(f"meta_{run_id}", border=False):
                st.caption(run_id)
                c1, c2, c3, c4 = st.columns([3, 3, 2, 1], vertical_alignment="bottom")
                name = c1.text_input("name", value=meta.get("name", run_id), key=f"name_{run_id}")
                tags = c2.text_input("tags (comma separated)", value=", ".join(meta.get("tags", [])), key=f"tags_{run_id}")
                group = c3.text_input("group", value=meta.get("group", ""), key=f"group_{run_id}")
                if c4.form_submit_button("Save"):
                    with common.guard("could not save"):
                        store.update_meta(run_id, name=name.strip() or run_id, tags=[t.strip() for t in tags.split(",") if t.strip()], group=group.strip())
                        st.toast(f"saved {run_id}")
                        st.rerun()
        if st.button(f"Delete {len(run_ids)} selected run(s)…", key="delete_runs"):
            st.session_state[CONFIRM_KEY] = list(run_ids)
    if st.session_state.get(CONFIRM_KEY):
        confirm_delete(st.session_state[CONFIRM_KEY])


def render() -> None:
    st.title("Compare runs")
    summaries = common.summaries()
    if not summaries:
        st.info(f"No saved runs in {common.md_escape(common.store().runs_dir)} yet — start one on the Launch page or with `gapviz train`.")
        return
    groups: dict[str, list[str]] = {}
    for run_id, summary in summaries.items():
        if summary.group:
            groups.setdefault(summary.group, []).append(run_id)
    top = st.columns([3, 1]) if groups else [st.container()]
    if groups:
        top[1].selectbox(
            "Sweep group", sorted(groups), index=None, key="compare_group", on_change=_select_group, args=(groups,),
            placeholder="select a group", help="selects every run of a sweep",
        )
    if "runs" in st.session_state:  # runs deleted meanwhile (here or elsewhere) leave the selection
        st.session_state["runs"] = [r for r in st.session_state["runs"] if r in summaries]
    common.init_from_url("runs", "runs", list(summaries), multi=True)
    run_ids = top[0].multiselect(
        "Runs", list(summaries), key="runs", format_func=lambda r: common.run_label(r, summaries),
        placeholder="choose runs to compare",
    )
    common.sync_to_url("runs", run_ids)
    if not run_ids:
        st.info("Choose one or more runs (or a sweep group). The page URL keeps the selection.")
        return

    with common.guard("could not read the runs"):
        configs = {r: common.store().config(r).to_dict() for r in run_ids}
        names = {r: summaries[r].name for r in run_ids}

        st.subheader("Settings that differ")
        diff = views.config_diff(configs)
        if diff.empty:
            st.caption("All selected runs have the same settings" + (" (apart from their names)." if len(run_ids) > 1 else "."))
        else:
            diff.columns = [f"{names[r]} ({r})" if names[r] != r else r for r in diff.columns]
            st.dataframe(diff, width="stretch")

        st.subheader("Curves")
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        available = sorted({k for r in run_ids for row in common.metrics(r) for k, v in row.items() if isinstance(v, (int, float)) and k not in ("epoch", "step")})
        default = [m for m in views.CURVE_METRICS if m in available]
        chosen = c1.multiselect("Metrics", available, default=default, key="compare_metrics", format_func=charts.metric_title)
        average = c2.toggle("mean ± std over seeds", value=True, key="compare_average", help="runs whose settings differ only in the seed form one series")
        labels = views.series_labels(configs) if average else {r: f"{names[r]} ({r})" for r in run_ids}
        frames = [views.curves_frame(common.metrics(r), labels[r], chosen) for r in run_ids]
        long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if long.empty or not chosen:
            st.caption("No per-epoch metrics yet.")
        else:
            data = views.mean_std_frame(long) if average else long
            curves = charts.metric_curves(data, metrics=chosen)
            common.show_chart(curves, key="compare_curves")
            export_buttons(curves, "gapviz-curves", "curves")

        scatters(run_ids, names)

        st.subheader("Final metrics")
        table = final_metrics_table(run_ids, names)
        st.dataframe(table, width="stretch", hide_index=True)
        st.download_button("Download CSV", table.to_csv(index=False), file_name="gapviz-final-metrics.csv", mime="text/csv", key="final_csv", on_click="ignore")

        manage(run_ids, summaries)


def scatters(run_ids: list[str], names: dict[str, str]) -> None:
    st.subheader("Embeddings")
    epochs = {r: [e for e in common.store().epochs(r)] for r in run_ids}
    with_epochs = [r for r in run_ids if epochs[r]]
    if not with_epochs:
        st.caption("No saved epochs yet.")
        return
    last = max(max(epochs[r]) for r in with_epochs)
    methods = sorted({m for r in with_epochs for m in common.projection_methods(r, epochs[r][-1])})
    c1, c2 = st.columns([4, 1])
    epoch = c1.slider("Epoch (all runs)", 0, last, last, key="compare_epoch") if last > 0 else 0
    method = c2.selectbox("Projection", methods or ["pca"], key="compare_method")
    columns = st.columns(min(MAX_SCATTER_COLUMNS, len(with_epochs)))
    for position, run_id in enumerate(with_epochs):
        box = columns[position % len(columns)]
        shown = max([e for e in epochs[run_id] if e <= epoch], default=None)
        if shown is None:
            box.caption(f"{common.md_escape(names[run_id])}: no epoch ≤ {epoch}")
            continue
        coords = common.projection(run_id, shown, method)
        if coords is None:
            box.caption(f"{common.md_escape(names[run_id])}: no {method} projection saved")
            continue
        index = common.epoch_member(run_id, shown, "text_image_index")
        n_image = len(coords) - len(index)
        x_dom, y_dom = common.projection_domain(run_id, method)
        points, lines, arrow, note = views.scatter_frames(
            coords, n_image, index, common.captions(run_id) or None, max_lines=150
        )
        title = f"{names[run_id]} · epoch {shown}" + ("" if shown == epoch else f" (last saved ≤ {epoch})")
        chart = charts.embedding_scatter(points, pair_lines=lines, arrow=arrow, x_domain=x_dom, y_domain=y_dom, title=title, width=300, height=300, legend=position == 0)
        with box:
            common.show_chart(chart, key=f"compare_scatter_{run_id}")
            if note:
                st.caption(note)
            export_buttons(chart, f"gapviz-{run_id}-epoch{shown}", f"scatter_{run_id}")


if __name__ == "__main__":
    render()
