"""Explore page: the modality gap of one model on one data set, or of uploaded embeddings.

Pick a model (a saved run's evaluation or checkpoint, the tiny random-init model, an open_clip
architecture + pretrained tag, a local checkpoint) and data (built-in, COCO, CSV), or upload
embeddings. Shows the joint scatter with the gap arrow, every gap metric, recall@K both ways,
the cone histograms and the embedding-shift experiment. Models load lazily (torch is imported
only here, under an st.status), and results are shared between sessions.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd
import streamlit as st

from gapviz import charts
from gapviz.app import common
from gapviz.app import format as fmt
from gapviz.app import measures
from gapviz.app import frames as views

SOURCES = {
    "upload": "Upload embeddings (.npy / .npz)",
    "tiny": "Tiny random-init model (gapviz-tiny)",
    "run": "Saved run · stored evaluation",
    "checkpoint": "Saved run · checkpoint on chosen data",
    "openclip": "open_clip architecture + pretrained tag",
    "local": "Local checkpoint file",
}
MODEL_SOURCES = ("tiny", "checkpoint", "openclip", "local")
METRIC_COLUMNS = (
    "gap_distance", "gap_distance_unbiased", "relative_gap", "pair_cosine", "mean_pair_distance", "cone_image", "cone_text",
    "modality_probe_accuracy", "modality_probe_logloss", "alignment", "uniformity_image", "uniformity_text", "uniformity_joint", "tau", "loss", "zero_shot",
)


# ---- choosing -----------------------------------------------------------------------------------
def data_inputs(box: Any) -> dict[str, Any]:
    """Data settings (a DataConfig subset) for model sources."""
    c1, c2, c3 = box.columns(3)
    source = c1.selectbox("Data", ["synthetic", "coco", "csv"], key="explore_data_source",
                          format_func=lambda s: {"synthetic": "built-in synthetic shapes", "coco": "COCO captions", "csv": "CSV (filepath, caption)"}[s])
    eval_size = int(c2.number_input("pairs (evaluation images)", min_value=2, max_value=50_000, value=512, step=256, key="explore_eval_size"))
    seed = int(c3.number_input("data seed", min_value=0, value=0, step=1, key="explore_data_seed"))
    data: dict[str, Any] = {"source": source, "eval_size": eval_size, "seed": seed}
    if source != "synthetic":
        c1, c2 = box.columns(2)
        data["path"] = c1.text_input("captions JSON / CSV file", key="explore_data_path", placeholder="/data/coco/annotations/captions_val2017.json")
        data["image_root"] = c2.text_input("image folder (default: next to the file)", key="explore_image_root")
    return data


def choose(box: Any) -> tuple[str, Callable[[Callable[[str, float], None]], Any]] | None:
    """Inputs for the chosen source; returns (cache key, compute) once there is something to compute."""
    from gapviz.training import encode as analysis

    source = box.radio("Source", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="explore_source")
    umap = False
    if source == "upload":
        c1, c2 = box.columns([4, 1], vertical_alignment="bottom")
        upload = c1.file_uploader("Embeddings: .npy of shape (2, N, D), or .npz with image, text[, text_image_index]", type=["npy", "npz"], key="explore_upload")
        umap = c2.toggle("UMAP too", key="explore_umap_upload", help="slower; the first UMAP in this process compiles numba")
        if upload is None:
            box.caption("The same files `gapviz analyze` reads. Everything stays on this machine.")
            return None
        data = upload.getvalue()
        name = upload.name
        import hashlib

        key = f"upload:{hashlib.sha1(data).hexdigest()}:{umap}"
        return key, lambda progress: analysis.from_upload(data, name, umap=umap, progress=progress)

    if source in ("run", "checkpoint"):
        summaries = common.summaries()
        if not summaries:
            box.info("No saved runs yet — train one on the Launch page or with `gapviz train`.")
            return None
        c1, c2 = box.columns([3, 1])
        run_id = c1.selectbox("Run", list(summaries), key="explore_run", format_func=lambda r: common.run_label(r, summaries))
        store = common.store()
        if source == "run":
            epochs = store.epochs(run_id)
            if not epochs:
                box.info("This run has no evaluated epoch yet.")
                return None
            epoch = c2.selectbox("Epoch", epochs, index=len(epochs) - 1, key="explore_run_epoch")
            key = f"run:{run_id}:{epoch}:{common.run_version(run_id)}"
            return key, lambda progress: analysis.from_saved_epoch(store, run_id, int(epoch), progress=progress)
        kept = store.checkpoint_epochs(run_id)
        if not kept:
            box.info("This run kept no checkpoint (train.keep_epoch_checkpoints) — use its stored evaluation instead.")
            return None
        epoch = c2.selectbox("Checkpoint epoch", kept, index=len(kept) - 1, key="explore_ckpt_epoch")
        run_cfg = store.config(run_id)
        data = data_inputs(box)
        model_name, pretrained = run_cfg.model.name, ""
        checkpoint = store.epoch_checkpoint(run_id, int(epoch))
        title = f"run {run_id} · checkpoint of epoch {epoch} on {data['source']}"
    else:
        checkpoint, title = None, ""
        if source == "tiny":
            model_name, pretrained = "gapviz-tiny", ""
        elif source == "openclip":
            c1, c2 = box.columns(2)
            model_name = c1.text_input("Architecture", value="ViT-B-32", key="explore_arch", help="`gapviz models` lists them with their tags")
            pretrained = c2.text_input("Pretrained tag", value="openai", key="explore_tag", help="weights must be in the local cache (offline)")
        else:
            c1, c2 = box.columns(2)
            model_name = c1.text_input("Architecture", value="gapviz-tiny", key="explore_local_arch")
            pretrained = c2.text_input("Checkpoint file", key="explore_local_path", placeholder="/path/to/checkpoint.pt")
            if not pretrained.strip():
                box.caption("Give the checkpoint file (.pt, .pth, .bin or .safetensors) to evaluate.")
                return None
        data = data_inputs(box)
    c1, c2 = box.columns([1, 4], vertical_alignment="bottom")
    umap = c1.toggle("UMAP too", key="explore_umap_model")
    go = c2.button("Encode and analyse", type="primary", key="explore_go")
    try:
        cfg = analysis.model_config(model_name.strip(), pretrained.strip(), data, umap=umap)
    except Exception as error:  # noqa: BLE001 - a ConfigError: say which field
        common.show_error("settings", error, box)
        return None
    key = f"model:{cfg.to_json()}:{checkpoint}"
    ready = common.shared_has(key)
    if not (go or ready or st.session_state.get("explore_last_key") == key):
        box.caption("Encoding loads the model in this process (torch); progress shows while it runs.")
        return None
    return key, lambda progress: analysis.from_model(cfg, common.home(), checkpoint=checkpoint, title=title, progress=progress)


# ---- showing --------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):.4f}"


def metrics_panel(result: Any) -> None:
    from gapviz.science.metrics import METRIC_DESCRIPTIONS

    descriptions = {**METRIC_DESCRIPTIONS, "tau": "Temperature τ = 1/logit scale of the model.", "loss": "Symmetric InfoNCE loss at the model's τ.", "zero_shot": "Zero-shot accuracy with the class prompts."}
    shown = [m for m in METRIC_COLUMNS if m in result.metrics]
    for start in range(0, len(shown), 2):
        cols = st.columns(2)
        for col, name in zip(cols, shown[start : start + 2]):
            value = fmt.metric_text(result.metrics, name)
            col.metric(charts.metric_title(name), value, help=descriptions.get(name))


def recall_table(values: dict[str, float]) -> pd.DataFrame:
    rows = []
    for direction, label in (("i2t", "image → text"), ("t2i", "text → image")):
        rows.append({"direction": label, **{f"R@{k}": values.get(f"{direction}_r{k}") for k in (1, 5, 10)}})
    return pd.DataFrame(rows)


def scatter_section(result: Any) -> None:
    methods = sorted(result.projections)
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Projection", methods, key="explore_method") if len(methods) > 1 else methods[0]
    lines = c2.toggle("lines between pairs", value=result.n_image <= 2000, key="explore_lines")
    arrow = c3.toggle("gap vector", value=True, key="explore_arrow", help="from the text centroid to the image centroid")
    coords = result.projections[method]
    points, pair_lines, gap_arrow, note = views.scatter_frames(
        coords, result.n_image, result.text_image_index, result.captions, labels=result.labels, class_names=result.class_names,
        max_thumbnails=0,
    )
    if result.thumbnails:
        points["image"] = [result.thumbnails.get(int(p), "") for p in points["pair"]]
    chart = charts.embedding_scatter(
        points, pair_lines=pair_lines if lines else None, arrow=gap_arrow if arrow else None,
        title=f"{method.upper()} of both modalities", width="container", height=520,
    )
    common.show_chart(chart, key="explore_scatter")
    if note:
        st.caption(note)


def shift_section(result: Any) -> None:
    from gapviz.training import encode as analysis

    st.subheader("Embedding shift")
    st.caption("Move both modalities along the gap direction: image − λg, text + λg (renormalised). λ > 0 closes the gap; "
               "past about gap/2 the modalities cross.")
    sample = analysis.shift_sample(result)
    lambdas = analysis.shift_lambdas(sample)
    default_tau = 1.0 / result.logit_scale if result.logit_scale else 0.01
    c1, c2 = st.columns([3, 1])
    lam = c1.slider("λ", float(lambdas[0]), float(lambdas[-1]), 0.0, step=float((lambdas[-1] - lambdas[0]) / 100) or 0.01, format="%.3f", key="explore_lambda")
    tau = c2.number_input("τ for the loss", min_value=1e-4, max_value=10.0, value=float(round(default_tau, 4)), step=0.001, format="%g", key="explore_tau")
    class_text = result.class_text
    key = f"{result.key}:shift:{tau}"
    here = common.shared_compute(f"{key}:{lam}", f"λ = {lam:.3f}", lambda progress: analysis.shift_rows(sample, [lam], 1.0 / tau, class_text), kind="point")[0]
    left, right = st.columns([2, 3])
    with left:
        reference = common.shared_compute(f"{result.key}:shift:ref", "reference projection", lambda progress: analysis.reference_projection(sample), kind="derived")
        coords = analysis.shifted_projection(sample, lam, reference)
        points, lines, arrow, _ = views.scatter_frames(coords, len(sample.image), sample.index, None, max_lines=200)
        x_dom, y_dom = analysis.shift_domain(reference, result.metrics.get("gap_distance", 0.0))
        common.show_chart(
            charts.embedding_scatter(points.drop(columns=["caption"]), pair_lines=lines, arrow=arrow, x_domain=x_dom, y_domain=y_dom,
                                     title=f"shifted by λ = {lam:.3f}", width=360, height=360),
            key="explore_shift_scatter",
        )
        cols = st.columns(2)
        cols[0].metric("signed gap", _fmt(here["signed_gap"]))
        cols[1].metric(f"loss at τ = {tau:g}", _fmt(here["loss"]))
        cols = st.columns(2)
        cols[0].metric("recall@1 image→text", _fmt(here.get("i2t_r1")))
        cols[1].metric("recall@1 text→image", _fmt(here.get("t2i_r1")))
        if "zero_shot" in here:
            st.metric("zero-shot accuracy", _fmt(here["zero_shot"]))
        if sample.note:
            st.caption(sample.note)
    with right:
        rows = common.shared_compute(key, "Shift experiment", lambda progress: analysis.shift_rows(sample, lambdas, 1.0 / tau, class_text), kind="derived")
        frame = analysis.shift_frame(rows)
        common.show_chart(charts.shift_curves(frame, current=here["signed_gap"], columns=2, width=230, height=150), key="explore_shift_curves")


def show(result: Any) -> None:
    st.subheader(common.md_escape(result.title))
    st.caption(f"{result.n_image:,} images · {result.n_text:,} captions · dimension {result.image.shape[1]}")
    for note in result.notes:
        st.caption(note)
    left, right = st.columns([3, 2])
    with left:
        scatter_section(result)
    with right:
        st.markdown("**Gap metrics**")
        measures.show_warnings(result.metrics)
        metrics_panel(result)
        st.markdown("**Recall@K**")
        st.dataframe(recall_table(result.metrics), hide_index=True, width="stretch")
    st.subheader("Cone effect")
    st.caption("Cosine similarity between two items of the same modality: narrow cones sit far from 0.")
    hist = views.cosine_histogram_frame(result.image, result.text)
    common.show_chart(charts.cosine_histogram(hist, width="container"), key="explore_cone")
    measures.anatomy_view(result)
    shift_fragment(result)


@st.fragment
def shift_fragment(result: Any) -> None:
    with common.guard("shift experiment failed"):
        shift_section(result)


def render() -> None:
    st.title("Explore the modality gap")
    box = st.container(border=True)
    choice = choose(box)
    if choice is None:
        return
    key, compute = choice
    try:
        result = common.shared_compute(key, "Analysing", compute)
    except Exception as error:  # noqa: BLE001 - never a traceback
        common.show_error("Cannot analyse this", error)
        return
    st.session_state["explore_last_key"] = key
    with common.guard("could not draw the analysis"):
        show(result)


if __name__ == "__main__":
    render()
