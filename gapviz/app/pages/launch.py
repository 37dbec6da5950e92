"""Launch page: a form over every RunConfig setting, presets, sweeps; submits through gapviz.queue.client.

Validation is RunConfig.validate() (and the queue's sweep expansion): each problem appears under
its own field. On submit the page links to the live view of each new run. No torch here.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz.app import common, form

from gapviz.app import frames as views
from gapviz.config import PRESETS, ConfigError, Problem, preset
from gapviz.queue import DEFAULT_QUEUE

COLUMNS = 3
SWEEP_NONE = "(no sweep)"


def _widget(spec: form.FieldSpec, default: Any, key: str) -> Any:
    label, help_text = spec.label, spec.help or None
    if spec.kind == "choice":
        options = list(spec.options)
        return st.selectbox(label, options, index=options.index(default) if default in options else 0, key=key, help=help_text)
    if spec.kind == "multi":
        return tuple(st.multiselect(label, list(spec.options), default=list(default), key=key, help=help_text))
    if spec.kind == "bool":
        return st.checkbox(label, value=bool(default), key=key, help=help_text)
    if spec.kind == "int":
        return int(st.number_input(label, value=int(default), step=1, key=key, help=help_text))
    if spec.kind == "float":
        return float(st.number_input(label, value=float(default), step=form.float_step(float(default)), format="%g", key=key, help=help_text))
    return st.text_input(label, value=str(default), key=key, help=help_text)


def _sweeps(field: str, values: str, seeds: str) -> tuple[list[str], list[Problem]]:
    """The queue's ``key=v1,v2`` sweep strings from the sweep fields, or the problems with them."""
    sweeps, problems = [], []
    if field != SWEEP_NONE:
        items = views.parse_list(values)
        if len(items) < 1:
            problems.append(Problem("sweep.values", f"give the values of {field}, e.g. 0.01, 0.03, 0.1"))
        else:
            sweeps.append(f"{field}={','.join(items)}")
    if seeds.strip():
        try:
            seed_list = views.parse_seeds(seeds)
        except ValueError as error:
            problems.append(Problem("sweep.seeds", f"{error} — e.g. 0, 1, 2 or 0-4"))
        else:
            if len(seed_list) > 1 or field != SWEEP_NONE:
                sweeps.append("seed=" + ",".join(str(s) for s in seed_list))
    return sweeps, problems


def _submit(cfg: Any, sweeps: list[str], queue_name: str, tags: tuple[str, ...]) -> None:
    from gapviz.queue import client as queue

    conn = common.connection()
    if conn is None:
        st.error(f"Not queued: {common.QUEUE_UNAVAILABLE}")
        return
    store = common.store()
    with st.status("Queueing…", expanded=False) as status:
        if sweeps:
            group, submissions = queue.submit_sweep(conn, store, cfg, sweeps, queue_name=queue_name, tags=tags)
        else:
            group, submissions = "", [queue.submit(conn, store, cfg, queue_name=queue_name, tags=tags)]
        status.update(label=f"Queued {len(submissions)} run(s)" + (f" in group {group}" if group else ""), state="complete")
    st.session_state["launch_submitted"] = {"group": group, "runs": [s.run_id for s in submissions]}


def _show_submitted() -> None:
    done = st.session_state.get("launch_submitted")
    if not done:
        return
    runs = done["runs"]
    st.success(f"Queued {len(runs)} run(s)" + (f" as sweep group {common.md_escape(done['group'])}" if done["group"] else "") + ".")
    for run_id in runs[:20]:
        st.page_link(common.PAGES["live"], label=f"Watch {run_id} live", query_params={"run": run_id}, icon=":material/monitoring:")
    if len(runs) > 1:
        st.page_link(common.PAGES["compare"], label=f"Compare all {len(runs)} runs", query_params={"runs": runs}, icon=":material/compare_arrows:")


def render() -> None:
    st.title("Launch a run")
    conn = common.connection()
    common.show_queue_status(conn)

    names = list(PRESETS)
    chosen = st.selectbox("Preset", names, index=names.index("demo"), key="launch_preset", format_func=form.preset_label,
                          help="fills the form; every field can still be changed")
    base = preset(chosen)
    prefix = f"launch:{chosen}:"
    slots: dict[str, Any] = {}
    values: dict[str, Any] = {}

    with st.form("launch_form"):
        for title, specs in form.grouped_specs():
            st.markdown(f"**{title}**")
            columns = st.columns(COLUMNS)
            for position, spec in enumerate(specs):
                with columns[position % COLUMNS]:
                    values[spec.path] = _widget(spec, form.value_at(base, spec.path), prefix + spec.path)
                    slots[spec.path] = st.empty()
        st.markdown("**Sweep and queue**")
        c1, c2, c3 = st.columns(COLUMNS)
        with c1:
            sweep_field = st.selectbox("sweep setting", [SWEEP_NONE, *form.sweepable_paths()], key=prefix + "sweep.field",
                                       help="one run per value of this setting (combined with every seed below)")
            slots["sweep.field"] = st.empty()
        with c2:
            sweep_values = st.text_input("sweep values", key=prefix + "sweep.values", placeholder="e.g. 0.01, 0.03, 0.1")
            slots["sweep.values"] = st.empty()
        with c3:
            seeds = st.text_input("seeds", key=prefix + "sweep.seeds", placeholder="e.g. 0, 1, 2 or 0-4",
                                  help="several seeds: one run per seed (empty: the seed field above)")
            slots["sweep.seeds"] = st.empty()
        c1, c2, _ = st.columns(COLUMNS)
        queue_name = c1.text_input("queue", value=DEFAULT_QUEUE, key=prefix + "queue", help="the RQ queue whose workers take the run")
        tags = c2.text_input("tags", key=prefix + "tags", placeholder="comma separated")
        summary = st.empty()
        submitted = st.form_submit_button("Queue run(s)", type="primary")

    if not submitted:
        _show_submitted()
        return
    st.session_state.pop("launch_submitted", None)
    problems: list[Problem] = []
    cfg = None
    try:
        cfg = form.build_config(values)
        problems.extend(cfg.validate())
    except ConfigError as error:
        problems.extend(error.problems)
    sweeps, sweep_problems = _sweeps(sweep_field, sweep_values, seeds)
    problems.extend(sweep_problems)
    if cfg is not None and not problems and sweeps:
        from gapviz.queue.client import QueueError, sweep_configs

        try:
            combos = sweep_configs(cfg, sweeps)
        except ConfigError as error:
            problems.extend(error.problems)
        except QueueError as error:
            problems.append(Problem("sweep.values", str(error)))
        else:
            st.caption(f"{len(combos)} runs: " + "; ".join(common.md_escape(label) for label, _ in combos[:12]) + (" …" if len(combos) > 12 else ""))
    if problems:
        for problem in problems:
            slot = slots.get(problem.path)
            if slot is not None:
                slot.error(common.md_escape(problem.message))
        summary.error("Not queued — fix these settings:\n\n" + "\n".join(f"- `{p.path.replace('`', '')}`: {common.md_escape(p.message)}" for p in problems))
        return
    with common.guard("could not queue the run"):
        _submit(cfg, sweeps, queue_name.strip() or DEFAULT_QUEUE, tuple(t.strip() for t in tags.split(",") if t.strip()))
    _show_submitted()


if __name__ == "__main__":
    render()
