"""Live page: follow one run (``?run=ID`` reopens it) while it trains, or replay a finished one.

A fragment polls the run's event stream (gapviz.queue.events.RunFollower: the RunStore first, then
Redis, the store alone when Redis is away) every LIVE_REFRESH_S and redraws only itself:
progress, the embedding scatter of the chosen epoch (stable axes, epoch slider, play), and the
per-epoch curves. Cancel and resume go through gapviz.queue.client. No torch in this process.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from gapviz import charts, setting_catalog
from gapviz.app.shared import common, frames, measures, settings_plot
from gapviz.queue.events import EventKind
from gapviz.runs.records import RunState, RunStatus
from gapviz.science import catalog

# Seconds between polls of an active run: an epoch reaches the page within about this long.
LIVE_REFRESH_S = 0.75
PLAY_STEP_S = 0.8


def _ongoing(state: str | None) -> bool:
    """Created, queued or running: the page keeps polling it and offers Cancel."""
    return state in RunState.ACTIVE or state == RunState.CREATED


def current_state(live_state: str | None, stored_state: str | None) -> str:
    """The run's state now: the store's once it says the run ended (the record; a missed stream event
    must not leave a finished run "running"), else the newest the stream delivered."""
    if stored_state and not _ongoing(stored_state):
        return stored_state
    return live_state or stored_state or "unknown"


@dataclass
class LiveRun:
    """What one browser session knows of one run: the follower and what it has delivered."""

    run_id: str
    follower: Any
    with_redis: bool
    epochs: dict[int, dict[str, Any]] = field(default_factory=dict)
    step: dict[str, Any] | None = None
    state: str | None = None
    received_at: dict[int, float] = field(default_factory=dict)
    charts: dict[tuple, Any] = field(default_factory=dict)
    speed: tuple[int, float] | None = None
    """frames.smoothed_speed's EMA of the steps seen so far (what samples/s and the ETA show)."""
    wait: tuple[int, float] | None = None
    """frames.smoothed_data_wait's EMA of the same steps (what "waiting for data" shows)."""

    def memo(self, key: tuple, build: Any) -> Any:
        """Charts are rebuilt only when what they show changed (every poll redraws the fragment)."""
        if key not in self.charts:
            if len(self.charts) > 16:
                self.charts.clear()
            self.charts[key] = build()
        return self.charts[key]

    def absorb(self, events: list[Any]) -> bool:
        changed = False
        for event in events:
            if event.kind == EventKind.EPOCH and event.epoch is not None:
                self.epochs[event.epoch] = {**event.data, "ts": event.ts}  # events.epoch_payload's keys
                self.received_at[event.epoch] = time.time()
                changed = True
            elif event.kind == EventKind.STEP:
                self.step = dict(event.data)
                self.speed = frames.smoothed_speed(self.speed, self.step)
                self.wait = frames.smoothed_data_wait(self.wait, self.step)
                changed = True
            elif event.kind == EventKind.STATE:
                self.state = event.state
                changed = True
        return changed


def live_run(run_id: str, conn: Any) -> LiveRun:
    """This session's LiveRun of ``run_id``; rebuilt when Redis comes (back)."""
    from gapviz.queue.events import RunFollower

    key = f"live_run_state:{run_id}"
    current: LiveRun | None = st.session_state.get(key)
    if current is None or (conn is not None and not current.with_redis):
        follower = RunFollower(common.store(), run_id, conn)
        current = LiveRun(
            run_id=run_id, follower=follower, with_redis=conn is not None, epochs=current.epochs if current else {}
        )
        st.session_state[key] = current
    return current


def _cancel(run_id: str) -> None:
    from gapviz.queue import client as queue

    conn = common.connection()
    if conn is None:
        st.session_state["live_message"] = ("warning", common.QUEUE_UNAVAILABLE)
        return
    try:
        outcome = queue.cancel(conn, common.store(), run_id)
        st.session_state["live_message"] = ("info", f"run {run_id}: {outcome}")
    except Exception as error:  # noqa: BLE001
        st.session_state["live_message"] = ("error", f"could not cancel: {error}")


def _resume(run_id: str) -> None:
    from gapviz.queue import client as queue

    conn = common.connection()
    if conn is None:
        st.session_state["live_message"] = ("warning", common.QUEUE_UNAVAILABLE)
        return
    try:
        queue.resume(conn, common.store(), run_id)
        st.session_state.pop(f"live_run_state:{run_id}", None)
        st.session_state["live_message"] = ("info", f"run {run_id} queued to resume from its last checkpoint")
    except Exception as error:  # noqa: BLE001
        st.session_state["live_message"] = ("error", f"could not resume: {error}")


def _toggle_play(key: str) -> None:
    st.session_state[key] = not st.session_state.get(key, False)


def _speed(live: LiveRun, step: dict[str, Any] | None) -> float | None:
    """Samples per second, smoothed over the steps seen (the one step known when the page opened late)."""
    return frames.samples_per_second(live.speed or (frames.smoothed_speed(None, step) if step else None))


def progress_block(live: LiveRun, status: RunStatus, samples_per_step: int, epochs_total: int) -> None:
    step = live.step or status.progress
    state = current_state(live.state, status.state.value)
    done = max(live.epochs) if live.epochs else None
    if step:
        total = int(step.get("total_steps") or 0)
        global_step = int(step.get("global_step") or 0)
        fraction = min(1.0, global_step / total) if total else 0.0
        sps = _speed(live, step) or 0.0
        eta = frames.eta_seconds(global_step, total, sps, samples_per_step) if state == RunState.RUNNING else None
        text = (
            f"epoch {step.get('epoch')}/{epochs_total} · step {step.get('step')}/{step.get('steps_per_epoch')} "
            f"· {sps:,.0f} samples/s · ETA {frames.format_duration(eta)}"
        )
        if state == RunState.FINISHED:
            fraction, text = 1.0, f"finished {epochs_total} epochs"
    else:
        fraction = (done or 0) / epochs_total if epochs_total and done is not None else 0.0
        text = f"{state} · {done if done is not None else 0}/{epochs_total} epochs evaluated"
    st.progress(min(1.0, max(0.0, fraction)), text=text)
    metrics_row(live, step, samples_per_step)


def _data_wait(live: LiveRun, step: dict[str, Any] | None, samples_per_step: int, metrics: dict[str, Any]) -> str:
    """The smoothed share of step time spent waiting for data, as a percentage (the last epoch's when no step)."""
    wait = live.wait or (frames.smoothed_data_wait(None, step) if step else None)
    speed = live.speed or (frames.smoothed_speed(None, step) if step else None)
    share = frames.data_wait_share(wait, speed, samples_per_step, metrics)
    return "—" if share is None else f"{100 * share:.1f}%"


def metrics_row(live: LiveRun, step: dict[str, Any] | None, samples_per_step: int) -> None:
    """The last step's training figures next to the last epoch's evaluation loss (two different numbers);
    a finished run shows its last values (the stored last step, else the last epoch's), not dashes."""
    if not step and not live.epochs:
        return
    last = max(live.epochs) if live.epochs else None
    metrics = live.epochs[last]["metrics"] if last is not None else {}
    values = frames.last_values(step, metrics)
    speed = _speed(live, step) or values["samples_per_s"]
    cols = st.columns(6)
    cols[0].metric("train loss (last step)", _number(values["loss"], ".4f"), help="on the last training batch")
    cols[1].metric(
        f"eval loss (epoch {last})" if last is not None else "eval loss",
        _number(metrics.get("loss"), ".4f"),
        help="on the fixed evaluation set, after the last evaluated epoch",
    )
    cols[2].metric("τ (last step)", _number(values["tau"], ".4f"))
    cols[3].metric(
        "samples/s",
        _number(speed, ",.0f"),
        help=f"smoothed over steps (half-life {frames.SPEED_HALF_LIFE_STEPS:g} steps), evaluation pauses left out",
    )
    cols[4].metric(
        catalog.short("data_wait_share"),
        _data_wait(live, step, samples_per_step, metrics),
        help="share of step time the training thread waited for its batch, smoothed like samples/s; "
        "near 0 while the prefetcher keeps ahead",
    )
    cols[5].metric("learning rate", _number(values["lr"], ".2e"))


def _number(value: Any, fmt: str) -> str:
    return format(float(value), fmt) if isinstance(value, (int, float)) else "—"


def _advance(epochs: list[int], slider_key: str, play_key: str, follow_key: str) -> bool:
    """Move the epoch slider: one epoch on while playing, to the newest while following; returns playing."""
    playing = st.session_state.get(play_key, False)
    if playing:
        current = st.session_state.get(slider_key, epochs[0])
        later = [e for e in epochs if e > current]
        if later:
            st.session_state[slider_key] = later[0]
        else:
            st.session_state[play_key] = playing = False
    elif st.session_state.get(follow_key, True) or st.session_state.get(slider_key) not in epochs:
        st.session_state[slider_key] = epochs[-1]
    return bool(playing)


def epoch_view(live: LiveRun, run_id: str, active: bool) -> None:
    epochs = sorted(live.epochs)
    if not epochs:
        st.info("No epoch evaluated yet — the first scatter appears when epoch 0 (the untrained model) is evaluated.")
        return
    slider_key, play_key, follow_key = f"live_epoch:{run_id}", f"live_play:{run_id}", f"live_follow:{run_id}"
    latest = epochs[-1]
    playing = _advance(epochs, slider_key, play_key, follow_key)

    methods = sorted({m for e in epochs for m in live.epochs[e]["projections"]})
    controls = st.columns([6, 1, 1, 2], vertical_alignment="bottom")
    if len(epochs) > 1:
        epoch = controls[0].select_slider("Epoch", options=epochs, key=slider_key)
    else:
        epoch = epochs[0]
        controls[0].caption(f"epoch {epoch}")
    controls[1].button(
        "⏸ Pause" if playing else "▶ Play",
        key=f"play_button:{run_id}",
        on_click=_toggle_play,
        args=(play_key,),
        disabled=len(epochs) < 2,
    )
    controls[2].toggle("follow", value=True, key=follow_key, help="jump to each new epoch as it arrives")
    method = (
        controls[3].selectbox("Projection", methods or ["pca"], key=f"live_method:{run_id}")
        if len(methods) > 1
        else (methods[0] if methods else "pca")
    )

    left, right = st.columns([5, 6])
    record = live.epochs[epoch]
    with left:
        scatter, note = live.memo(
            ("scatter", epoch, method, tuple(epochs)), lambda: scatter_chart(live, run_id, epoch, method, epochs)
        )
        if scatter is None:
            st.caption(f"no {method} projection for epoch {epoch}")
        else:
            common.show_chart(scatter, key=f"live_scatter:{run_id}")
            if note:
                st.caption(note)
        latency = live.received_at.get(epoch, 0) - record["ts"] if record.get("ts") else None
        shown = f"showing epoch {epoch} of {latest}"
        if latency is not None and latency >= 0 and active:
            shown += f" · arrived {latency:.2f} s after the epoch ended"
        st.caption(shown)
    with right:
        measures.epoch_row(record["metrics"])
        curves = live.memo(("curves", epoch, tuple(epochs)), lambda: curves_chart(live, run_id, epoch, epochs))
        if curves is not None:
            common.show_chart(curves, key=f"live_curves:{run_id}")


def scatter_chart(live: LiveRun, run_id: str, epoch: int, method: str, epochs: list[int]) -> tuple[Any, str]:
    """The scatter of one epoch on axes that cover every epoch so far (None when not projected)."""
    record = live.epochs[epoch]
    coords = record["projections"].get(method)
    if coords is None:
        return None, ""
    n_image = record["n_image"] or len(coords) // 2
    x_dom, y_dom = frames.axis_domains([live.epochs[e]["projections"].get(method) for e in epochs])
    caps = common.captions(run_id) or None
    if caps is not None and len(caps) != len(coords) - n_image:
        caps = None
    index = None
    if len(coords) - n_image != n_image:
        try:
            index = common.epoch_member(run_id, epoch, "text_image_index")
        except Exception:  # noqa: BLE001 - not on disk: draw without pair lines
            index = None
    points, lines, arrow, note = frames.scatter_frames(coords, n_image, index, caps)
    gap = record["metrics"].get(catalog.DEFAULT_GAP_KEY)
    gap_name = catalog.short(catalog.DEFAULT_GAP_KEY)
    title = f"epoch {epoch}" + (f" · {gap_name} {gap:.3f}" if isinstance(gap, (int, float)) else "")
    chart = charts.embedding_scatter(
        points, pair_lines=lines, arrow=arrow, x_domain=x_dom, y_domain=y_dom, title=title, width=440, height=440
    )
    return chart, note


def curves_chart(live: LiveRun, run_id: str, epoch: int, epochs: list[int]) -> Any:
    rows = [{"epoch": e, **live.epochs[e]["metrics"]} for e in epochs]
    frame = frames.curves_frame(rows, series=run_id)
    if frame.empty:
        return None
    return charts.metric_curves(frame, columns=3, width=170, height=120, current=epoch)


def header(run_id: str, name: str, state: str, conn: Any) -> None:
    """Name, id and state; Cancel and Resume; re-run links."""
    head = st.columns([4, 1, 1], vertical_alignment="center")
    head[0].markdown(f"**{common.md_escape(name)}** · `{run_id}` · state **{state}**")
    away = None if conn is not None else common.QUEUE_UNAVAILABLE
    head[1].button(
        "Cancel",
        key=f"cancel:{run_id}",
        on_click=_cancel,
        args=(run_id,),
        disabled=not _ongoing(state) or conn is None,
        help=away,
    )
    head[2].button(
        "Resume",
        key=f"resume:{run_id}",
        on_click=_resume,
        args=(run_id,),
        disabled=state not in RunState.RESUMABLE or conn is None,
        help=away or "continue from the last checkpoint",
    )


def state_notes(run_id: str, state: str, status: RunStatus, conn: Any) -> None:
    """A failed run's error (and traceback, as text); a queued run's place in the queue."""
    if state == RunState.FAILED:
        st.error(f"run failed: {common.md_escape(status.error or 'no error message recorded')}")
        if status.traceback:
            with st.expander("traceback"):
                st.code(status.traceback, language=None)
    elif state == RunState.QUEUED and conn is not None:
        try:
            from gapviz.queue import client as queue

            position = queue.position(conn, common.store(), run_id)
            st.info(f"waiting in the queue{'' if position is None else f' (position {position + 1})'}")
            common.show_queue_status(conn)
        except Exception:  # noqa: BLE001 - the queue's own status line says what is wrong
            pass


def panel_body(run_id: str, name: str, conn: Any, shown_state: str, refresh: float | None) -> None:
    """One poll: absorb new events, redraw progress, scatter, curves and the gap against β."""
    live = live_run(run_id, conn)
    with common.guard("live update failed"):
        live.absorb(live.follower.poll())
    status = common.store().status(run_id)
    now_state = current_state(live.state, status.state.value)
    if refresh is not None and now_state != shown_state and not st.session_state.get(f"live_play:{run_id}", False):
        st.rerun()  # the state moved on: redraw the whole page once (picker label, polling or not)
    message = st.session_state.pop("live_message", None)
    if message:
        getattr(st, message[0])(message[1])
    header(run_id, name, now_state, conn)
    state_notes(run_id, now_state, status, conn)
    cfg = common.store().config(run_id)
    progress_block(live, status, cfg.train.pairs_per_step, cfg.train.epochs)
    epoch_view(live, run_id, _ongoing(now_state))
    if st.toggle(
        "Gap against β = 1/τ",
        key=f"live_gap_beta:{run_id}",
        help="the gap at regular steps against "
        "β = 1/τ, with the fitted slope of gap = a + slope · ln β (drawn on request: it costs each poll)",
    ):
        found = live.memo(("gap_beta", len(live.epochs)), lambda: settings_plot.gap_beta_data([run_id], {run_id: name}))
        trace, fits, note = found
        settings_plot.show_gap_beta(trace, fits, note, key="live")


def _picked(box: str) -> None:
    """The run box changed: that run is the page's run (and the URL's)."""
    st.session_state["live_run"] = st.session_state[box]
    st.query_params["run"] = st.session_state[box]


def swept_names(summaries: dict[str, Any]) -> dict[str, str]:
    """Each grouped run's swept values ("τ = 0.1 · seed 1"), built once per version of the run index."""
    return common.per_listing(_swept_names, summaries)


def _swept_names(summaries: dict[str, Any]) -> dict[str, str]:
    """The settings that vary within each run's group, read from the summaries' settings (the summary index
    holds them, so no config is opened)."""
    groups: dict[str, list[str]] = {}
    for run, summary in summaries.items():
        if summary.group and summary.state != RunState.UNREADABLE:
            groups.setdefault(summary.group, []).append(run)
    names: dict[str, str] = {}
    for runs in groups.values():
        flats = {run: summaries[run].settings for run in runs}
        paths = setting_catalog.varying_paths(list(flats.values()))
        if paths:
            names.update({run: setting_catalog.swept_label(flat, paths) for run, flat in flats.items()})
    return names


def picker(summaries: dict[str, Any]) -> str:
    """The run box (``?run=`` opens a run); each label shows the run's state now.

    The box's key carries a digest of its labels: Streamlit keeps a keyed box's shown label when only the
    labels change, so a run that finished would still read "running". The chosen run lives in
    ``st.session_state["live_run"]``, and the URL wins when it names another run (a link was followed).
    """
    wanted = st.query_params.get("run")
    if wanted in summaries and wanted != st.session_state.get("live_run"):
        st.session_state["live_run"] = wanted
    if st.session_state.get("live_run") not in summaries:
        running = next((r for r, s in summaries.items() if _ongoing(s.state)), None)
        st.session_state["live_run"] = running or next(iter(summaries))
    chosen = st.session_state["live_run"]
    swept = swept_names(summaries)
    search = st.container()

    def label(run: str) -> str:
        known = st.session_state.get(f"live_run_state:{run}")
        state = current_state(known.state if known else None, summaries[run].state)
        if swept.get(run):
            return f"{swept[run]} · {summaries[run].group} · {state} · {run}"
        return common.run_label(run, summaries, state)

    options = common.listed_runs(list(summaries), summaries, [chosen], "live_find", search)
    labels = {run: label(run) for run in options}
    box = f"live_run_box:{zlib.crc32(chr(31).join(labels.values()).encode()):08x}"
    st.selectbox(
        "Run",
        options,
        index=options.index(chosen),
        key=box,
        format_func=labels.__getitem__,
        on_change=_picked,
        args=(box,),
    )
    common.sync_to_url("run", chosen)
    return chosen


def render() -> None:
    st.title("Live")
    summaries = common.summaries()
    if not summaries:
        st.info("No runs yet — launch one on the Launch page.")
        return
    run_id = picker(summaries)
    if not run_id or common.unreadable(run_id, summaries):
        return
    conn = common.connection()
    if conn is None:
        st.caption(f"{common.QUEUE_UNAVAILABLE}; showing what the RunStore has (refreshes while the run is active).")
    with common.guard(f"could not read run {run_id}"):
        known = st.session_state.get(f"live_run_state:{run_id}")
        state = current_state(known.state if known is not None else None, summaries[run_id].state)
        playing = st.session_state.get(f"live_play:{run_id}", False)
        refresh = LIVE_REFRESH_S if _ongoing(state) else (PLAY_STEP_S if playing else None)
        relaunch = st.container(horizontal=True)
        relaunch.page_link(
            common.PAGES["launch"], label="Open in Launch", query_params={"from": run_id}, icon=":material/edit:"
        )
        relaunch.page_link(
            common.PAGES["launch"],
            label="Fine-tune from this run",
            query_params={"finetune": run_id},
            icon=":material/model_training:",
        )

        @st.fragment(run_every=refresh)
        def panel() -> None:
            with common.guard("live view failed"):  # st.rerun passes through (not an Exception)
                panel_body(run_id, summaries[run_id].name, conn, state, refresh)

        panel()


if __name__ == "__main__":
    render()
