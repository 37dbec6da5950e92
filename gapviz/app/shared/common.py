"""Shared helpers of the pages: the RunStore, the queue connection, cached reads, error display.

Nothing here imports torch: Launch, Live and Compare run in the web process without it. The
queue is reached through gapviz.queue.client (imported lazily); when Redis is away every helper says
so and returns None, so pages that only need saved data keep working.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, TypeVar

import streamlit as st

from gapviz.runs.store import UNREADABLE, RunStore, StoreError, gapviz_home, npz_keys, npz_member

T = TypeVar("T")
QUEUE_UNAVAILABLE = "queue unavailable — start it with `gapviz up`"
NO_WORKER = "no worker is running — start one with `gapviz worker` (or `gapviz up`, which starts the queue and workers)"
APP_DIR = Path(__file__).resolve().parents[1]
FAVICON = APP_DIR / "static" / "favicon.png"
"""Shipped with the package: a material-icon favicon would be fetched from fonts.gstatic.com."""
PAGE_TABLE = (
    ("explore", "Explore", ":material/scatter_plot:"),
    ("launch", "Launch", ":material/rocket_launch:"),
    ("live", "Live", ":material/monitoring:"),
    ("compare", "Compare", ":material/compare_arrows:"),
    ("theory", "Theory", ":material/functions:"),
)
"""The pages, in menu order: (url path = feature package = page file name, title, icon); the first is the default."""
PAGES = {name: str(APP_DIR / name / f"{name}.py") for name, _, _ in PAGE_TABLE}
"""url path -> page file, for st.page_link and st.switch_page."""


# ---- user text and errors ----------------------------------------------------------------------
WORD_JOINER = "\u2060"
"""Invisible, and not part of a URL: breaks GFM autolink literals, which Streamlit finds in the rendered text."""
_AUTOLINK_PARTS = re.compile(r"(?i)(?<=www)(?=\.)|(?<=:)(?=//)|(?=@)")


def md_escape(text: object) -> str:
    """User text (run name, tag, model name, path, caption, error) made inert inside Markdown: shown as typed.

    Every ASCII punctuation character gets a backslash (CommonMark allows escaping any of them), so no
    link, image, HTML tag, emphasis, heading, list, table, math, Streamlit directive (``:red[...]``) or
    entity can form from it. Autolinks (``https://``, ``www.``, e-mail) are found after escapes are
    resolved, so a word joiner (invisible) goes before ``//`` after a colon, between ``www`` and ``.``,
    and before ``@``. Newlines become spaces.
    """
    flat = _AUTOLINK_PARTS.sub(WORD_JOINER, " ".join(str(text).splitlines()))
    return "".join(
        "\\" + ch if ch.isascii() and not ch.isalnum() and ch.isprintable() and ch != " " else ch for ch in flat
    )


def error_text(action: str, error: BaseException) -> str:
    """``"<action>: <one-line message>"``, both escaped (an action may name a run id from the URL)."""
    from gapviz.errors import describe

    return f"{md_escape(action)}: {md_escape(describe(error))}"


def show_error(action: str, error: BaseException, where: Any = None) -> None:
    """The one way a page reports an error: one escaped line in an st.error box, never a traceback."""
    (where or st).error(error_text(action, error))


@contextlib.contextmanager
def guard(action: str, where: Any = None) -> Iterator[None]:
    """Show any error raised inside as ``st.error("<action>: <message>")`` instead of a traceback.

    Streamlit's own control flow (st.stop, st.rerun) derives from BaseException and passes through.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the page must not show a traceback
        show_error(action, error, where)


# ---- the store ---------------------------------------------------------------------------------
def home() -> Path:
    return gapviz_home()


@st.cache_resource(show_spinner=False)
def _store(home_path: str) -> RunStore:
    return RunStore(home_path)


def store() -> RunStore:
    """The RunStore of $GAPVIZ_HOME (one object per home, shared by sessions: it holds no state)."""
    return _store(str(home()))


def run_version(run_id: str) -> float:
    """Changes whenever the run's metrics or status change: the key of cached reads."""
    stamps = []
    for path in store().record_files(run_id):
        try:
            stamps.append(path.stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return float(sum(stamps))


@st.cache_data(show_spinner=False, max_entries=256)
def _metrics(home_path: str, run_id: str, version: float) -> list[dict[str, Any]]:
    return RunStore(home_path).metrics(run_id)


def metrics(run_id: str) -> list[dict[str, Any]]:
    return _metrics(str(home()), run_id, run_version(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _epoch_arrays(home_path: str, run_id: str, epoch: int, version: float) -> dict[str, Any]:
    return RunStore(home_path).epoch_arrays(run_id, epoch)


def epoch_arrays(run_id: str, epoch: int) -> dict[str, Any]:
    """Arrays saved for one epoch (cached; an epoch file is written once)."""
    path = store().epoch_file(run_id, epoch)
    try:
        version = float(path.stat().st_mtime_ns)
    except OSError:
        version = 0.0
    return _epoch_arrays(str(home()), run_id, int(epoch), version)


@st.cache_data(show_spinner=False, max_entries=64)
def _captions(home_path: str, run_id: str) -> list[str]:
    return RunStore(home_path).captions(run_id)


def captions(run_id: str) -> list[str]:
    return _captions(str(home()), run_id)


@st.cache_data(show_spinner=False, max_entries=4096)
def _npz_member(path: str, key: str, version: int) -> Any:
    return npz_member(path, key)


@st.cache_data(show_spinner=False, max_entries=1024)
def _npz_keys(path: str, version: int) -> list[str]:
    return npz_keys(path)


def _epoch_file(run_id: str, epoch: int) -> tuple[str, int]:
    path = store().epoch_file(run_id, epoch)
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        raise StoreError(f"run {run_id} has no saved epoch {epoch}") from None


def epoch_member(run_id: str, epoch: int, key: str) -> Any:
    """One array of an epoch file (read alone: projections without the embeddings)."""
    path, version = _epoch_file(run_id, epoch)
    return _npz_member(path, key, version)


def projection_methods(run_id: str, epoch: int) -> list[str]:
    path, version = _epoch_file(run_id, epoch)
    return list(RunStore.projections(_npz_keys(path, version)))


def projection(run_id: str, epoch: int, method: str) -> Any:
    """(N + M, 2) coordinates of ``method`` at ``epoch``, or None."""
    return epoch_member(run_id, epoch, RunStore.projection_key(method))


def projection_domain(run_id: str, method: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges covering every saved epoch of ``method``: axes that stay still across epochs."""
    from gapviz.app.shared import frames

    coords = []
    for epoch in store().epochs(run_id):
        try:
            coords.append(projection(run_id, epoch, method))
        except StoreError:
            continue
    return frames.axis_domains(coords)


def run_label(run_id: str, summaries: dict[str, Any] | None = None, state: str | None = None) -> str:
    """``name · state · run_id`` for pickers (``state`` overrides the stored one, e.g. a live one)."""
    summary = (summaries or {}).get(run_id)
    if summary is None:
        return run_id
    name = summary.name if summary.name and summary.name != run_id else ""
    return f"{name + ' · ' if name else ''}{state or summary.state} · {run_id}"


def unreadable(run_id: str, summaries: dict[str, Any], where: Any = None) -> bool:
    """True (after one escaped error line naming the file and the reason) when the run's files cannot be read."""
    summary = summaries.get(run_id)
    if summary is None or summary.state != UNREADABLE:
        return False
    (where or st).error(f"Run {md_escape(run_id)} is unreadable: {md_escape(summary.problem)}")
    return True


LISTED = 200
"""Runs a picker lists at most (the newest that match its search): every option of a box is sent to the
browser, and ten thousand of them would make each page slow to draw."""


class Listing(dict):
    """run id -> RunSummary, with the version of the run index it was built from (RunStore.versioned_summaries)."""

    version = ""


@st.cache_resource(show_spinner=False, max_entries=4)
def _summaries(home_path: str, version: str, _listed: Iterator[Any]) -> Listing:
    listing = Listing((s.run_id, s) for s in _listed)
    listing.version = version
    return listing


def summaries() -> Listing:
    """run id -> RunSummary, newest first, unreadable runs included (state UNREADABLE); built once per version
    of the index (which is read once per call) and shared by every session, so callers must not change it."""
    listed, version = store().versioned_summaries()
    return _summaries(str(home()), version, listed)


def per_listing(build: Callable[[dict[str, Any]], T], summaries: dict[str, Any]) -> T:
    """``build(summaries)``, computed once per version of the run index when ``summaries`` is a Listing (then
    shared by every session, read-only), else each time."""
    if not isinstance(summaries, Listing):
        return build(summaries)
    return _per_listing(str(home()), summaries.version, f"{build.__module__}.{build.__qualname__}", build, summaries)


@st.cache_resource(show_spinner=False, max_entries=16)
def _per_listing(home_path: str, version: str, name: str, _build: Callable, _summaries: dict[str, Any]) -> Any:
    return _build(_summaries)


def search_text(run_id: str, summaries: dict[str, Any]) -> str:
    """What a picker's search matches (lower case): the run's label, group and tags."""
    summary = summaries.get(run_id)
    if summary is None:
        return run_id.lower()
    return " ".join([run_label(run_id, summaries), summary.group, *summary.tags]).lower()


def listed_runs(candidates: list[str], summaries: dict[str, Any], keep: list[str], key: str, where: Any = None) -> list:
    """The runs a picker offers, in ``candidates``' order (newest first): the newest ``LISTED`` candidates, and
    ``keep`` (its current choice) ahead of them where it is not among them. With more candidates than that, a
    search box (``key``) keeps those whose search text holds every word typed, and a caption says how many
    match without being listed."""
    found = candidates
    if len(candidates) > LISTED:
        box = where or st
        query = str(box.text_input("Find a run", key=key, placeholder="words of its name, id, state, group or tag"))
        words = query.lower().split()
        found = [r for r in candidates if all(w in search_text(r, summaries) for w in words)] if words else found
        if len(found) > LISTED:
            box.caption(f"The newest {LISTED:,} of {len(found):,} runs are listed: type words of a run to find it.")
    listed = found[:LISTED]
    shown = set(listed)
    return [*dict.fromkeys(r for r in keep if r not in shown), *listed]


# ---- shared results ------------------------------------------------------------------------------
RESULTS_KEPT = {"analysis": 6, "derived": 48, "point": 256}
"""Newest results kept per kind: big analyses, derived tables, single slider points."""


@st.cache_resource(show_spinner=False)
def _results() -> tuple[dict[str, "OrderedDict[str, Any]"], threading.Lock]:
    """Results shared by every session: a second tab (or user) reuses the first one's work."""
    return {kind: OrderedDict() for kind in RESULTS_KEPT}, threading.Lock()


def shared_has(key: str, kind: str = "analysis") -> bool:
    results, lock = _results()
    with lock:
        return key in results[kind]


def shared_compute(
    key: str, label: str, compute: Callable[[Callable[[str, float], None]], Any], kind: str = "analysis"
) -> Any:
    """The result under ``key``, computed once under an st.status with a progress bar.

    ``compute(progress)`` gets ``progress(stage, fraction)``. The status disappears once done;
    a failure leaves the status in its error state and re-raises. ``kind`` picks the LRU
    (see RESULTS_KEPT) so many small results do not push out a big one.
    """
    everything, lock = _results()
    results = everything[kind]
    with lock:
        if key in results:
            results.move_to_end(key)
            return results[key]
    slot = st.empty()
    with slot.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(stage: str, fraction: float) -> None:
            bar.progress(min(1.0, max(0.0, fraction)), text=stage)
            status.update(label=f"{label}: {stage}")

        try:
            value = compute(progress)
        except Exception:
            status.update(label=f"{label}: failed", state="error", expanded=False)
            raise
        status.update(label=f"{label}: done", state="complete", expanded=False)
    slot.empty()
    with lock:
        results[key] = value
        while len(results) > RESULTS_KEPT[kind]:
            results.popitem(last=False)
    return value


# ---- the URL ----------------------------------------------------------------------------------
def init_from_url(key: str, param: str, valid: Collection[str], *, multi: bool) -> None:
    """Seed widget ``key`` from ``?param=...`` the first time the page draws it (URL -> widget).

    Widgets keep raw run ids as values (labels come from format_func), so the URL stays stable.
    """
    if key in st.session_state:
        return
    if multi:
        wanted = [v for v in st.query_params.get_all(param) if v in valid]
        if wanted:
            st.session_state[key] = list(dict.fromkeys(wanted))
    else:
        value = st.query_params.get(param)
        if value in valid:
            st.session_state[key] = value


def sync_to_url(param: str, value: str | list[str] | None) -> None:
    """Widget -> URL, so the address reopens the same view."""
    if not value:
        if param in st.query_params:
            del st.query_params[param]
    elif isinstance(value, list):
        if st.query_params.get_all(param) != value:
            st.query_params[param] = value
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


# ---- the queue ----------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, ttl=600)
def _connection(home_path: str, url: str) -> Any:
    from gapviz.queue import client as queue

    return queue.connect(home=home_path)


def connection() -> Any | None:
    """A live Redis connection, or None when the queue is not running (or not installed)."""
    url = os.environ.get("REDIS_URL", "")
    try:
        conn = _connection(str(home()), url)
    except Exception:  # noqa: BLE001 - no server, no record, no redis module: no queue
        return None
    try:
        conn.ping()
    except Exception:  # noqa: BLE001 - it went away: forget it, try again next time
        _connection.clear()
        return None
    return conn


def queue_status(conn: Any) -> dict[str, Any] | None:
    """Queue length and workers, as gapviz.queue.client reports them; None when it cannot say."""
    try:
        from gapviz.queue import client as queue

        return queue.queue_status(conn)
    except Exception:  # noqa: BLE001
        return None


def show_queue_status(conn: Any | None, *, where: Any = None) -> None:
    """One line about the queue and its workers; says how to start what is missing."""
    box = where or st
    if conn is None:
        box.warning(QUEUE_UNAVAILABLE)
        return
    status = queue_status(conn)
    if status is None:
        box.info("queue connected")
        return
    workers = int(status.get("workers", 0) or 0)
    queued = int(status.get("queued", 0) or 0)
    running = int(status.get("running", 0) or 0)
    text = f"queue: {queued} waiting · {running} running · {workers} worker{'s' if workers != 1 else ''}"
    if workers == 0:
        box.warning(f"{text} — {NO_WORKER}")
    else:
        box.success(text)


def show_chart(chart: Any, key: str | None = None) -> None:
    """An Altair chart with its own colours (Streamlit's theme would recolour the series)."""
    st.altair_chart(chart, theme=None, key=key)
