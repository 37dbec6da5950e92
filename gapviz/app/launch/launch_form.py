"""Widgets of the Launch form: one per RunConfig field, sentinel switches, the model source, typed sweeps.

Streamlit only: what the fields are, their help and which apply when comes from gapviz.app.shared.form.
Every widget key starts with the page's prefix (``launch:<preset or run>:``), so switching the
base config starts from fresh widgets. A field that does not apply is not drawn; its value is the
base config's.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz import setting_catalog
from gapviz.app.shared import common, form
from gapviz.config import Problem, RunConfig

COLUMNS = 3


class FormState:
    """What one draw of the form collected: values by path, error slots, and the base config."""

    def __init__(self, base: RunConfig, prefix: str):
        self.base, self.prefix = base, prefix
        self.values: dict[str, Any] = {p: form.value_at(base, p) for p in (*form.all_paths(), form.MODEL_SOURCE)}
        self.slots: dict[str, Any] = {}
        self.swept: list[str] = list(st.session_state.get(self.key("sweep.settings"), []))

    def applies(self, path: str) -> bool:
        """Drawn when used by the chosen modes, or by some value of a swept mode."""
        return form.applies_in_sweep(path, self.values, self.swept)

    def key(self, path: str) -> str:
        return self.prefix + path


def field(spec: form.FieldSpec, default: Any, key: str) -> Any:
    """One widget for one setting, of the setting's type, with its help text."""
    label, help_text = spec.label, spec.help or None
    if spec.kind == "choice":
        options = list(spec.options)
        index = options.index(default) if default in options else 0
        fmt = form.MODEL_SOURCES.get if spec.path == form.MODEL_SOURCE else _words(spec.path)
        return st.selectbox(label, options, index=index, key=key, help=help_text, format_func=fmt)
    if spec.kind == "multi":
        return tuple(st.multiselect(label, list(spec.options), default=list(default), key=key, help=help_text))
    if spec.kind == "bool":
        return st.checkbox(label, value=bool(default), key=key, help=help_text)
    if spec.kind == "int":
        return int(st.number_input(label, value=int(default), step=1, key=key, help=help_text))
    if spec.kind == "float":
        step = form.float_step(float(default))
        return float(st.number_input(label, value=float(default), step=step, format="%g", key=key, help=help_text))
    return st.text_input(label, value=str(default), key=key, help=help_text)


def _words(path: str) -> Any:
    """A format_func showing ``path``'s choices in words (the widget's value stays the code identifier)."""
    return lambda value: setting_catalog.choice_label(path, value)


def sentinel_field(spec: form.FieldSpec, default: int, key: str) -> int:
    """A number whose special value is a word: a switch ("from epoch: latest"), the number only without it."""
    sentinel, word, fallback = form.SENTINELS[spec.path]
    use_word = st.toggle(f"{spec.label}: {word}", value=default == sentinel, key=key + ":" + word, help=spec.help)
    if use_word:
        return sentinel
    start = fallback if default == sentinel else default
    return int(st.number_input(spec.label, value=int(start), step=1, key=key, help=spec.help))


def run_field(spec: form.FieldSpec, default: str, key: str) -> str:
    """The run a fine-tune starts from, picked from the saved runs."""
    summaries = common.summaries()
    keep = [r for r in (st.session_state.get(key), default) if r]
    options = common.listed_runs(list(summaries), summaries, keep, f"{key}:find")
    if not options:
        st.caption("no saved runs yet")
        return default
    index = options.index(default) if default in options else 0
    label = lambda r: common.run_label(r, summaries)  # noqa: E731 - one line
    return str(st.selectbox(spec.label, options, index=index, key=key, help=spec.help, format_func=label))


def draw(state: FormState, path: str) -> None:
    """The widget of ``path`` when it applies (else the base value stays), with a slot for its errors."""
    if not state.applies(path):
        return
    spec, default, key = form.spec_for(path), state.values[path], state.key(path)
    if path == "swap.fraction":  # each swap mode starts at its paper fraction when none is set
        mode = state.values["swap.mode"]
        default, key = form.swap_fraction_default(mode, float(default)), f"{key}:{mode}"
    if path == "model.init_run":
        state.values[path] = run_field(spec, default, key)
    elif form.sentinel_allowed(path, state.values):
        state.values[path] = sentinel_field(spec, default, key)
    else:
        if path in form.SENTINELS and default == form.SENTINELS[path][0]:
            default = form.SENTINELS[path][2]  # its word does not apply here: a number instead
        state.values[path] = field(spec, default, key)
    state.slots[path] = st.empty()


def section(state: FormState, paths: tuple[str, ...], columns: int = COLUMNS) -> None:
    """The applicable fields of ``paths`` in a grid, in order (modes first, so later fields see them)."""
    cells = st.columns(columns)
    shown = 0
    for path in paths:
        if state.applies(path):
            with cells[shown % columns]:
                draw(state, path)
            shown += 1


def seeds_field(state: FormState) -> list[int] | Problem:
    """The seeds field (``0, 1, 2`` or ``0-4``): one run per seed."""
    from gapviz.app.shared import frames

    raw = st.text_input(
        "seeds",
        value=str(state.base.seed),
        key=state.key("seeds"),
        help="Seeds to run (integers: 0, 1, 2 or a range 0-4); more than one queues a run per seed.",
    )
    state.slots["seeds"] = st.empty()
    try:
        seeds = frames.parse_seeds(raw)
    except ValueError as error:
        return Problem("seeds", f"{error} — e.g. 0, 1, 2 or 0-4")
    return seeds or Problem("seeds", "give at least one seed, e.g. 0 or 0-2")


def sweep_axis(state: FormState, path: str) -> list[Any] | Problem:
    """The values of one swept setting, with widgets that fit its type (a list, a range, or choices)."""
    spec = form.spec_for(path)
    key = state.key(f"sweep:{path}")
    current = state.values.get(path)
    left, right = st.columns([1, 4], vertical_alignment="top")
    left.markdown(f"**{common.md_escape(setting_catalog.label(path))}**")
    modes = form.sweep_modes(spec.kind)
    log_first = setting_catalog.is_log(path) and "log-spaced" in modes
    mode = right.radio(
        f"{spec.label} values as",
        modes,
        horizontal=True,
        key=key + ":mode",
        label_visibility="collapsed",
        index=modes.index("log-spaced") if log_first else 0,
    )
    if mode == "pick":
        options = list(spec.options) if spec.kind == "choice" else [False, True]
        default = [current] if current in options else []
        picked = right.multiselect(
            f"{spec.label} values",
            options,
            default=default,
            key=key + ":pick",
            format_func=_words(path),
            select_all=False,
        )
        return picked or Problem(f"sweep:{path}", "pick at least one value")
    if mode == "list":
        example = {"float": "e.g. 0.01, 0.03, 0.1", "int": "e.g. 1, 2, 4"}.get(spec.kind, "e.g. a, b")
        text = right.text_input(
            f"{spec.label} values", key=key + ":list", placeholder=example, help="comma or space separated"
        )
        try:
            values = form.parse_values(text, spec.kind)
        except ValueError as error:
            return Problem(f"sweep:{path}", str(error))
        return values or Problem(f"sweep:{path}", f"give the values of {spec.label}, {example}")
    return _range_axis(right, key, spec, current, log=mode == "log-spaced")


def _range_axis(box: Any, key: str, spec: form.FieldSpec, current: Any, *, log: bool) -> list[Any] | Problem:
    """start, stop and count: log-spaced or evenly spaced values (both ends included)."""
    c1, c2, c3 = box.columns(3)
    number = int if spec.kind == "int" else float
    first = number(form.tidy(current)) if current else number(1)
    stop_default = number(form.tidy(first * 10 if log else first * 2))
    fmt = "%g" if number is float else "%d"
    step = form.float_step(float(first)) if number is float else 1
    start = c1.number_input(f"{spec.label} from", value=first, step=step, key=key + ":start", format=fmt)
    stop = c2.number_input(f"{spec.label} to", value=stop_default, step=step, key=key + ":stop", format=fmt)
    count = int(
        c3.number_input(f"{spec.label} count", value=3, min_value=1, max_value=1000, step=1, key=key + ":count")
    )
    try:
        values = form.spaced_values(float(start), float(stop), count, log=log, kind=spec.kind)
    except ValueError as error:
        return Problem(f"sweep:{spec.path}", str(error))
    box.caption(", ".join(f"{v:g}" for v in values))
    return values


def sweep_section(state: FormState) -> tuple[dict[str, list[Any]], list[Problem]]:
    """Settings to sweep, each with its values: the grid's axes, and the problems with them."""
    chosen = st.multiselect(
        "Sweep settings",
        form.sweepable_paths(),
        key=state.key("sweep.settings"),
        format_func=setting_catalog.sweep_option,
        select_all=False,
        filter_mode="contains",
        placeholder="type to find a setting, e.g. temp, swap, rate (a grid: every combination)",
        help="Settings grouped as a study varies them (temperature, swap, data, model, optimisation). "
        "One run per combination of the values given below, times the seeds.",
    )
    axes: dict[str, list[Any]] = {}
    problems: list[Problem] = []
    for path in chosen:
        got = sweep_axis(state, path)
        state.slots[f"sweep:{path}"] = st.empty()
        if isinstance(got, Problem):
            problems.append(got)
        else:
            axes[path] = got
    return axes, problems


def show_problems(state: FormState, problems: list[Problem], summary: Any) -> None:
    """Each problem under its own field (or its sweep), and all of them in one summary (as text)."""
    for problem in problems:
        slot = state.slots.get(problem.path) or state.slots.get(f"sweep:{problem.path}")
        if slot is not None:
            slot.error(common.md_escape(problem.message))
    lines = "\n".join(f"- {common.md_escape(str(problem))}" for problem in problems)
    summary.error("Not queued — fix these settings:\n\n" + lines)
