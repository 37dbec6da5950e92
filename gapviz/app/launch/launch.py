"""Launch page: the experiment's knobs first, the rest collapsed; typed grid sweeps; queue through the client.

The base config is a preset, or a saved run's exact config (``?from=<run id>``, "Open in Launch")
or that run as a fine-tune start (``?finetune=<run id>``). Fields follow gapviz.app.shared.form (what
applies when, sentinels as words, help with units). On queue: RunConfig.validate() and
config.sweep() check every run first, each problem shows under its field and nothing is queued;
then gapviz.queue.client.submit_many queues them as one group. No torch here.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz import setting_catalog
from gapviz.app.launch.launch_form import FormState, draw, section, seeds_field, show_problems, sweep_section
from gapviz.app.shared import common, form
from gapviz.config import PRESETS, ConfigError, Problem, RunConfig, flatten, preset, sweep
from gapviz.queue import DEFAULT_QUEUE


def _base() -> tuple[RunConfig, str]:
    """The config the form starts from and its widget-key prefix: a run from the URL, else a preset."""
    for param, kind in (("from", "run"), ("finetune", "ft")):
        run_id = st.query_params.get(param)
        if not run_id:
            continue
        with common.guard(f"could not open run {run_id}"):
            cfg, name = common.store().config(run_id), common.store().meta(run_id).get("name", run_id)
            left, right = st.columns([5, 1], vertical_alignment="center")
            what = "fine-tune from" if kind == "ft" else "a copy of"
            left.info(
                f"The form holds {what} run {common.md_escape(run_id)} ({common.md_escape(name)}); "
                "change what you need and queue it."
            )
            if right.button("Start from a preset", key="launch_clear_run"):
                del st.query_params[param]
                st.rerun()
            base = form.finetune_config(cfg, run_id, name) if kind == "ft" else cfg
            return base, f"launch:{kind}-{run_id}:"
    names = list(PRESETS)
    chosen = st.selectbox(
        "Preset",
        names,
        index=names.index("demo"),
        key="launch_preset",
        format_func=form.preset_label,
        help="fills the form; every field can still be changed",
    )
    return preset(chosen), f"launch:{chosen}:"


def _top(state: FormState) -> tuple[str, str, Any]:
    """Name, tags, group, epochs and seeds: what every run needs first."""
    c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 1, 1])
    with c1:
        draw(state, "name")
    tags = c2.text_input(
        "tags",
        key=state.key("tags"),
        placeholder="comma separated",
        help="Labels to find the runs by on Compare (comma separated text).",
    )
    group = c3.text_input(
        "group",
        key=state.key("group"),
        placeholder="e.g. tau-sweep",
        help="The group Compare opens the runs by (text). Empty: a sweep or several seeds are grouped under "
        "the run name you typed, else a new sweep-<id>; a single run is not grouped.",
    )
    with c4:
        draw(state, "train.epochs")
    with c5:
        seeds = seeds_field(state)
    return tags, group, seeds


def _configs(state: FormState, seeds: Any, axes: dict[str, list[Any]]) -> tuple[list[RunConfig], list[Problem]]:
    """Every run the form describes, checked; or the problems that stop them."""
    problems = [seeds] if isinstance(seeds, Problem) else []
    values = form.apply_model_source(state.values, state.values[form.MODEL_SOURCE])
    try:
        cfg = form.build_config(values)
    except ConfigError as error:
        return [], problems + error.problems
    if not isinstance(seeds, Problem):
        cfg = cfg.replace(seed=seeds[0])
        if len(seeds) > 1:
            axes = {**axes, "seed": seeds}
    problems += [p for p in cfg.validate() if p.path not in axes]
    if problems:
        return [], problems
    try:
        return (sweep(cfg, axes) if axes else [cfg]), []
    except ConfigError as error:
        return [], error.problems


def _data_problems(configs: list[RunConfig]) -> list[Problem]:
    """A missing data file, image folder or shard of the runs, under its field (checked on queueing only: a
    shard pattern may name many files)."""
    from gapviz.data import DataError
    from gapviz.data.loader import check_paths

    problems: list[Problem] = []
    for data in {cfg.data for cfg in configs}:
        try:
            check_paths(data)
        except DataError as error:
            field, _, message = str(error).partition(": ")
            named = field in ("data.path", "data.eval_shards", "data.image_root")
            problems.append(Problem(field, message) if named else Problem("data.path", str(error)))
    return problems


def _queue(configs: list[RunConfig], group: str | None, queue_name: str, tags: str, swept: list[str]) -> None:
    """Queue the runs as one group and remember them, with their swept values, for the links below."""
    from gapviz.queue import client as queue

    conn = common.connection()
    if conn is None:
        st.error(f"Not queued: {common.QUEUE_UNAVAILABLE}")
        return
    labels = tuple(t.strip() for t in tags.split(",") if t.strip())
    with st.status("Queueing…", expanded=False) as status:
        group, subs = queue.submit_many(conn, common.store(), configs, queue_name=queue_name, group=group, tags=labels)
        status.update(label=f"Queued {len(subs)} run(s)" + (f" in group {group}" if group else ""), state="complete")
    names = [setting_catalog.swept_label(flatten(cfg.to_dict()), swept) for cfg in configs]
    st.session_state["launch_submitted"] = {"group": group, "runs": [s.run_id for s in subs], "labels": names}


def _show_submitted() -> None:
    done = st.session_state.get("launch_submitted")
    if not done:
        return
    runs, group, names = done["runs"], done["group"], done["labels"]
    st.success(f"Queued {len(runs)} run(s)" + (f" as sweep group {common.md_escape(group)}" if group else "") + ".")
    for run_id, name in list(zip(runs, names, strict=True))[:20]:
        st.page_link(
            common.PAGES["live"],
            label=f"Watch {common.md_escape(name)} live ({run_id})" if name else f"Watch {run_id} live",
            query_params={"run": run_id},
            icon=":material/monitoring:",
        )
    if group:
        st.page_link(
            common.PAGES["compare"],
            label=f"Compare the {len(runs)} runs of {common.md_escape(group)}",
            query_params={"group": group},
            icon=":material/compare_arrows:",
        )


def _sections(state: FormState) -> str:
    """The experiment's sections, then the collapsed ones (the queue name is in Advanced); returns the queue."""
    for title, paths in form.EXPERIMENT:
        st.markdown(f"**{title}**")
        section(state, paths, columns=min(4, len(paths)))
    queue_name = DEFAULT_QUEUE
    for title, paths in form.collapsed_sections():
        with st.expander(title):
            section(state, paths)
            if title == "Advanced":
                queue_name = st.text_input(
                    "queue",
                    value=DEFAULT_QUEUE,
                    key=state.key("queue"),
                    help="The RQ queue whose workers take the runs (text).",
                )
    return queue_name.strip() or DEFAULT_QUEUE


def _count_line(axes: dict[str, list[Any]], seeds: Any, state: FormState) -> bool:
    """How many runs the form queues (settings × values × seeds); above the maximum it asks to confirm."""
    n_seeds = len(seeds) if isinstance(seeds, list) else 1
    count = form.run_count(axes, n_seeds)
    parts = [f"{len(v)} {setting_catalog.label(p)}" for p, v in axes.items()] + (
        [f"{n_seeds} seeds"] if n_seeds > 1 else []
    )
    st.markdown(f"**{count} run{'s' if count != 1 else ''}**" + (f" = {' × '.join(parts)}" if parts else ""))
    if count <= form.MAX_RUNS:
        return True
    return st.checkbox(f"Yes, queue {count} runs (more than {form.MAX_RUNS})", key=state.key("sweep.confirm"))


def render() -> None:
    st.title("Launch a run")
    common.show_queue_status(common.connection())
    base, prefix = _base()
    state = FormState(base, prefix)
    tags, group, seeds = _top(state)
    queue_name = _sections(state)
    with st.expander("Sweep (grid)", expanded=bool(st.session_state.get(state.key("sweep.settings")))):
        axes, sweep_problems = sweep_section(state)
    configs, problems = _configs(state, seeds, axes)
    confirmed = _count_line(axes, seeds, state)
    summary = st.empty()
    if not st.button("Queue run(s)", type="primary", key=state.key("submit")):
        _show_submitted()
        return
    st.session_state.pop("launch_submitted", None)
    problems = sweep_problems + (problems or _data_problems(configs))
    if problems or not confirmed:
        confirm = Problem("sweep", f"confirm the number of runs (over {form.MAX_RUNS})")
        show_problems(state, problems or [confirm], summary)
        return
    with common.guard("could not queue the run"):
        name = str(state.values["name"])
        chosen = form.group_for(group, name, state.base.name, len(configs))
        _queue(configs, chosen, queue_name, tags, form.swept_paths(axes, seeds))
    _show_submitted()


if __name__ == "__main__":
    render()
