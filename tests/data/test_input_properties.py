"""Property tests (hypothesis) over every input a user hands gapviz: `--set` overrides, config files,
CSV pairs and COCO JSON. Whatever the input, the result is a valid value or a GapvizError, never
another exception; errors about a file never quote its contents; accepted values are valid."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gapviz.config import RunConfig, load_config_file, resolve_config
from gapviz.data.coco import read_coco
from gapviz.data.csv_pairs import read_csv_pairs
from gapviz.errors import GapvizError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _paths(tree: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in tree.items():
        out += _paths(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


FIELDS = sorted(_paths(RunConfig().to_dict()))
"""Every setting's dotted path (model.name, train.lr, seed, ...)."""
SECRET = "SECRETcontent42"

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["inf", "-inf", "nan", "1e309", "0x10", "1_000", " 3 ", "", "\t", "-0", "1e-400"]),
)
raw_values = st.one_of(numbers.map(str), st.text(max_size=30), st.sampled_from(["true", "no", "pca,umap", ",", "\\t"]))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _accepted(cfg: RunConfig) -> None:
    """An accepted config is valid and every float in it finite."""
    assert cfg.validate() == []
    stack = [cfg.to_dict()]
    while stack:
        node = stack.pop()
        for value in node.values():
            if isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, float):
                assert math.isfinite(value)


@SETTINGS
@given(st.sampled_from(FIELDS), raw_values)
def test_set_on_a_known_field(path, value):
    try:
        cfg = resolve_config(None, "tiny-test", [f"{path}={value}"])
    except GapvizError:
        return
    _accepted(cfg)


@SETTINGS
@given(st.text(max_size=40))
def test_set_with_any_text(item):
    try:
        cfg = resolve_config(None, "tiny-test", [item])
    except GapvizError:
        return
    _accepted(cfg)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5))
def test_config_json_with_any_values_for_known_fields(tmp_path_factory, values):
    tree: dict = {}
    for dotted, value in values.items():
        node = tree
        *sections, key = dotted.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    path = tmp_path_factory.mktemp("cfg") / "run.json"
    path.write_text(json.dumps(tree))  # allow_nan: NaN and Infinity are valid in Python's JSON
    try:
        cfg = resolve_config(path)
    except GapvizError:
        return
    _accepted(cfg)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)), st.sampled_from([".json", ".toml"]))
def test_config_file_with_any_bytes(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("cfg") / f"run{suffix}"
    path.write_bytes(content)
    try:
        cfg = load_config_file(path).check()
    except GapvizError:
        return
    _accepted(cfg)


csv_cells = st.one_of(
    st.text(max_size=12), st.just(SECRET), st.sampled_from(["a.png", "", '"', '""', "\r", "\n", "\x00"])
)


@st.composite
def csv_documents(draw) -> tuple[str, str]:
    separator = draw(st.sampled_from([",", "\t", ";", "|", " "]))
    header = draw(st.one_of(st.just(["filepath", "caption"]), st.lists(csv_cells, max_size=3)))
    rows = draw(st.lists(st.lists(csv_cells, max_size=4), max_size=6))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + "\n".join(separator.join(row) for row in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text, separator


@SETTINGS
@given(csv_documents(), st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_csv_with_any_content(tmp_path_factory, document, encoding):
    text, separator = document
    path = tmp_path_factory.mktemp("csv") / "pairs.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    try:
        listing = read_csv_pairs(path, separator=separator)
    except GapvizError as error:
        assert SECRET not in str(error)
        return
    assert len(listing.captions) == len(listing.caption_image) > 0
    assert int(np.max(listing.caption_image)) < len(listing.paths)


ids = st.one_of(
    st.integers(-5, 5),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
texts = st.one_of(
    st.text(max_size=10), st.just(SECRET), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)
)
standard_images = st.lists(st.fixed_dictionaries({"id": ids, "file_name": texts}), max_size=4)
annotations = st.lists(st.fixed_dictionaries({"image_id": ids, "caption": texts}), max_size=5)
karpathy_images = st.lists(
    st.fixed_dictionaries(
        {
            "filename": texts,
            "sentences": st.one_of(st.lists(st.fixed_dictionaries({"raw": texts}), max_size=3), json_values),
        },
        optional={"filepath": texts, "split": texts, "cocoid": ids},
    ),
    max_size=4,
)
coco_documents = st.one_of(
    st.fixed_dictionaries({"images": standard_images, "annotations": annotations}),
    st.fixed_dictionaries({"images": karpathy_images}),
    st.dictionaries(st.sampled_from(["images", "annotations", "other"]), json_values, max_size=3),
    json_values,
)


@SETTINGS
@given(coco_documents, st.booleans())
def test_coco_json_with_any_structure(tmp_path_factory, document, bom):
    path = tmp_path_factory.mktemp("coco") / "captions.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + json.dumps(document).encode())
    try:
        listing = read_coco(path)
    except GapvizError as error:
        assert SECRET not in str(error)
        return
    assert len(listing.captions) == len(listing.caption_image)
    assert all(isinstance(c, str) for c in listing.captions)
    if len(listing.captions):
        assert int(np.max(listing.caption_image)) < len(listing.paths)


@SETTINGS
@given(st.binary(max_size=300))
def test_coco_json_with_any_bytes(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("coco") / "captions.json"
    path.write_bytes(content)
    try:
        read_coco(Path(path))
    except GapvizError:
        return


dtypes = st.sampled_from(["<f4", ">f8", "<f2", "<i4", "|u1", "|b1", "<c8", "<M8[s]", "<U3", "|S2"])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def small_arrays(draw) -> np.ndarray:
    dtype, shape = np.dtype(draw(dtypes)), draw(shapes)
    size = int(np.prod(shape)) if shape else 1
    raw = draw(st.binary(min_size=size * dtype.itemsize, max_size=size * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype).reshape(shape) if size else np.zeros(shape, dtype=dtype)


@SETTINGS
@given(small_arrays())
def test_npy_with_any_small_array(tmp_path_factory, array):
    from gapviz.data.embeddings_io import load_embeddings

    path = tmp_path_factory.mktemp("emb") / "e.npy"
    np.save(path, array)
    try:
        emb = load_embeddings(path)
    except GapvizError:
        return
    assert np.isfinite(emb.image).all() and np.isfinite(emb.text).all()
    assert emb.image.shape[1] == emb.text.shape[1] and len(emb.image) == len(emb.text) > 0


@SETTINGS
@given(st.dictionaries(st.sampled_from(["image", "text", "text_image_index", "other"]), small_arrays(), max_size=4))
def test_npz_with_any_small_members(tmp_path_factory, members):
    from gapviz.data.embeddings_io import load_embeddings

    path = tmp_path_factory.mktemp("emb") / "e.npz"
    np.savez(path, **members)
    try:
        emb = load_embeddings(path)
    except GapvizError:
        return
    assert np.isfinite(emb.image).all() and np.isfinite(emb.text).all()
    if emb.text_image_index is not None:
        assert emb.text_image_index.min() >= 0 and emb.text_image_index.max() < len(emb.image)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([b"", b"\x93NUMPY", b"PK\x03\x04"]))
def test_embeddings_file_with_any_bytes(tmp_path_factory, content, magic):
    from gapviz.data.embeddings_io import load_embeddings

    path = tmp_path_factory.mktemp("emb") / "e.bin"
    path.write_bytes(magic + content)
    try:
        load_embeddings(path)
    except GapvizError:
        return


@SETTINGS
@given(st.text(max_size=60))
def test_escaped_user_text_reads_as_typed_and_has_no_live_markup(text):
    """shared.common.md_escape: every ASCII punctuation escaped, autolinks broken, text unchanged to the eye."""
    import re

    from app_fixtures import plain

    from gapviz.app.shared.common import md_escape

    escaped = md_escape(text)
    assert plain(escaped) == " ".join(text.splitlines())
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped.replace(" ", "").replace("\u2060", ""))
    assert not re.search(r"(?i)https?://|www\.|\w@\w", escaped.replace("\\", ""))
