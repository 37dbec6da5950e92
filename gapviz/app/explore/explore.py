"""Explore page: the modality gap of one model on one data set, or of uploaded embeddings.

Opens on a plot without any click: the newest finished run's last stored evaluation, else the
built-in shapes through the tiny model at random init. Pick a source (a saved run's evaluation or
checkpoint, the tiny model, an open_clip architecture + pretrained tag, a local checkpoint, an
upload, a file on this machine by path) in the sidebar; the choice lives in the URL
(?source=&run=&epoch=&method=&path=: a path, never a file's bytes, and only files in the allowed folders open:
gapviz.data.embedding_access). The sections (WebGL scatter with selection and neighbours, metrics, comparison,
epochs, cone, shift) are in gapviz.app.explore.views. torch is imported only when a model must encode.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import streamlit as st

from gapviz.app.explore import compare, shift, state, views
from gapviz.app.shared import common

SOURCES = {
    "run": "Saved run · stored evaluation",
    "tiny": "Tiny random-init model (gapviz-tiny)",
    "upload": "Upload embeddings (.npy / .npz)",
    "file": "Embeddings file on this machine (by path)",
    "checkpoint": "Saved run · checkpoint on chosen data",
    "openclip": "open_clip architecture + pretrained tag",
    "local": "Local checkpoint file",
}
DEFAULT_DATA = {"source": "synthetic", "eval_size": 512, "seed": 0}  # the built-in view, computed without a click
Choice = tuple[str, Callable[[Callable[[str, float], None]], Any]]


def data_inputs(box: Any) -> dict[str, Any]:
    """Data settings (DataConfig fields) for model sources, stacked in the sidebar."""
    names = {"synthetic": "built-in synthetic shapes", "coco": "COCO captions", "csv": "CSV (filepath, caption)"}
    source = box.selectbox("Data", list(names), key=state.DATA_SOURCE, format_func=names.get)
    eval_size = box.number_input("pairs (evaluation images)", 2, 50_000, 512, 256, key=state.EVAL_SIZE)
    seed = box.number_input("data seed", min_value=0, value=0, step=1, key=state.DATA_SEED)
    data: dict[str, Any] = {"source": source, "eval_size": int(eval_size), "seed": int(seed)}
    if source != "synthetic":
        data["path"] = box.text_input("captions JSON / CSV file", key=state.DATA_PATH)
        data["image_root"] = box.text_input("image folder (default: next to the file)", key=state.IMAGE_ROOT)
    return data


def default_source() -> str:
    """ "run" when a finished run with an evaluation exists, else the tiny model."""
    return "run" if views.newest_finished_run() else "tiny"


def pick_source(box: Any) -> str:
    """The source radio, seeded from ?source= (else the default view) and mirrored to the URL."""
    view = state.ExploreState()
    view.from_url("source", list(SOURCES))
    view.default_source(default_source())
    source = box.radio("Source", list(SOURCES), format_func=SOURCES.get, key=state.SOURCE)
    view.to_url("source")
    return source


def upload_choice(box: Any) -> Choice | None:
    from gapviz.app.shared import analysis

    upload = box.file_uploader(
        "Embeddings: .npy (2, N, D), or .npz with image, text[, text_image_index, captions, images, more columns]",
        type=["npy", "npz"],
        key=state.UPLOAD,
    )
    if upload is None:
        box.caption("The same files `gapviz analyze` reads. Everything stays on this machine.")
        return None
    data, name = upload.getvalue(), upload.name
    return f"upload:{hashlib.sha1(data).hexdigest()}", lambda progress: analysis.from_upload(
        data, name, progress=progress
    )


def file_choice(box: Any) -> Choice | None:
    """A file on this machine by path (?path=), opened memory-mapped once it lies in an allowed folder."""
    from gapviz.app.shared import analysis
    from gapviz.data.embedding_access import allowed_roots, resolve_allowed

    view = state.ExploreState()
    view.from_url("path", [])
    text = box.text_input("Embeddings file (path on this machine)", key=state.FILE_PATH, max_chars=4096)
    view.to_url("path")
    if not text.strip():
        folders = ", ".join(str(root) for root in allowed_roots(common.home()))
        box.caption(f"Files in {folders} open here (or run `gapviz explore FILE`).")
        return None
    try:
        path = resolve_allowed(text, common.home())
    except Exception as error:  # noqa: BLE001 - an EmbeddingAccessError: one line, shown as text
        common.show_error("Cannot open this file", error, box)
        return None
    stat = path.stat()
    key = f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"
    return key, lambda progress: analysis.from_path(path, progress=progress)


def run_choice(box: Any) -> Choice | None:
    from gapviz.app.shared import analysis

    picked = views.pick_run_epoch(box, state.MAIN, url=True)
    if picked is None:
        return None
    run_id, epoch = picked
    key = f"run:{run_id}:{epoch}:{common.run_version(run_id)}"
    return key, lambda progress: analysis.from_saved_epoch(common.store(), run_id, epoch, progress=progress)


def model_fields(box: Any, source: str) -> tuple[str, str, Any] | None:
    """(architecture, pretrained, checkpoint path or None) of a model source, or None until complete."""
    if source == "tiny":
        return "gapviz-tiny", "", None
    if source == "checkpoint":
        return views.pick_checkpoint(box)
    if source == "openclip":
        arch = box.text_input("Architecture", value="ViT-B-32", key=state.ARCH, help="`gapviz models` lists them")
        tag = box.text_input("Pretrained tag", value="openai", key=state.TAG, help="weights must be cached (offline)")
        return arch, tag, None
    arch = box.text_input("Architecture", value="gapviz-tiny", key=state.LOCAL_ARCH)
    path = box.text_input("Checkpoint file", key=state.LOCAL_PATH, placeholder="/path/to/checkpoint.pt")
    if not path.strip():
        box.caption("Give the checkpoint file (.pt, .pth, .bin or .safetensors) to evaluate.")
        return None
    return arch, path, None


def model_choice(box: Any, source: str) -> Choice | None:
    """Model + data inputs; computes at once for the built-in default, else after "Encode"."""
    from gapviz.app.shared import analysis

    fields = model_fields(box, source)
    if fields is None:
        return None
    name, pretrained, checkpoint = fields
    data = data_inputs(box)
    go = box.button("Encode and analyse", type="primary", key=state.GO)
    try:
        model_cfg, data_cfg = analysis.model_configs(name.strip(), pretrained.strip(), data)
    except Exception as error:  # noqa: BLE001 - a ConfigError: say which field
        common.show_error("settings", error, box)
        return None
    key = f"model:{model_cfg}:{data_cfg}:{checkpoint}"
    automatic = source == "tiny" and data == DEFAULT_DATA
    if not (go or automatic or common.shared_has(key) or state.ExploreState().last_key == key):
        box.caption("Encoding loads the model in this process (torch); progress shows while it runs.")
        return None
    title = f"checkpoint {checkpoint.name} on {data_cfg.source}" if checkpoint else ""
    return key, lambda progress: analysis.from_model(
        model_cfg, data_cfg, common.home(), checkpoint=checkpoint, title=title, progress=progress
    )


def choose(box: Any) -> Choice | None:
    """Inputs for the chosen source; returns (cache key, compute) once there is something to compute."""
    source = pick_source(box)
    if source == "upload":
        return upload_choice(box)
    if source == "file":
        return file_choice(box)
    if source == "run":
        return run_choice(box)
    return model_choice(box, source)


def render() -> None:
    """The source and display choices in the sidebar; the page answers first: headline numbers and the plot."""
    st.title("Explore the modality gap")
    box = st.sidebar
    choice = choose(box)
    views.digits_choice(box)
    if choice is None:
        return
    key, compute = choice
    body = st.container()  # before the analysis' status: the views keep their place (a component its frame) on reruns
    try:
        result = common.shared_compute(key, "Analysing", compute)
    except Exception as error:  # noqa: BLE001 - a message, never a traceback
        common.show_error("Cannot analyse this", error)
        return
    view = state.ExploreState()
    view.last_key = key
    if view.source == "tiny" and key.startswith("model:"):
        box.caption(views.BUILT_IN_CAPTION)
    with body, common.guard("could not draw the analysis"):
        views.show(result)
        compare.compare_section(result)
        compare.epochs_section(result)
        views.cone_section(result)
        shift.shift_fragment(result)


if __name__ == "__main__":
    render()
