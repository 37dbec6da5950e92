import io

import numpy as np
import pytest

from gapviz.data.embeddings_io import Embeddings, EmbeddingsError, load_embeddings


def _pair(n=6, m=None, d=4, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(dtype), rng.normal(size=(m or n, d)).astype(dtype)


def test_npy_pairs_by_row(tmp_path):
    image, text = _pair(dtype=np.float16)
    path = tmp_path / "emb.npy"
    np.save(path, np.stack([image, text]))
    emb = load_embeddings(path)
    assert isinstance(emb, Embeddings)
    np.testing.assert_array_equal(emb.image, image)
    np.testing.assert_array_equal(emb.text, text)
    assert emb.image.dtype == np.float16 and emb.text_image_index is None
    assert load_embeddings(str(path)).image.shape == (6, 4)


def test_npz_with_index(tmp_path):
    image, text = _pair(n=3, m=7)
    index = np.array([0, 0, 1, 2, 2, 2, 1])
    path = tmp_path / "emb.npz"
    np.savez(path, image=image, text=text, text_image_index=index)
    emb = load_embeddings(path)
    np.testing.assert_array_equal(emb.text, text)
    np.testing.assert_array_equal(emb.text_image_index, index)
    assert emb.text_image_index.dtype == np.int64


def test_npz_without_index_and_file_object(tmp_path):
    image, text = _pair()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, image=image, text=text)
    buffer.name = "upload.npz"
    buffer.seek(5)
    emb = load_embeddings(buffer)
    np.testing.assert_array_equal(emb.image, image)
    assert emb.text_image_index is None


def test_embeddings_are_frozen():
    emb = Embeddings(*_pair())
    with pytest.raises(AttributeError):
        emb.image = None


def _write_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _error(source):
    with pytest.raises(EmbeddingsError) as info:
        load_embeddings(source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    message = _error(path)
    assert str(path) in message and "not found" in message


def test_not_npy_or_npz(tmp_path):
    path = tmp_path / "emb.csv"
    path.write_text("1,2,3\n")
    message = _error(path)
    assert "emb.csv" in message and "not a .npy or .npz" in message


def test_corrupt_npz(tmp_path):
    path = tmp_path / "emb.npz"
    path.write_bytes(b"PK\x03\x04garbage")
    assert "emb.npz" in _error(path)


@pytest.mark.parametrize("shape", [(6, 4), (3, 6, 4), (2, 6, 4, 1)])
def test_npy_wrong_shape(tmp_path, shape):
    path = tmp_path / "emb.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    message = _error(path)
    assert "emb.npy" in message and "(2, N, D)" in message


def test_npz_missing_text(tmp_path):
    image, _ = _pair()
    message = _error(_write_npz(tmp_path, image=image))
    assert "bad.npz" in message and "text" in message


def test_npz_wrong_rank(tmp_path):
    image, text = _pair()
    message = _error(_write_npz(tmp_path, image=image.ravel(), text=text))
    assert "image must have shape (rows, dim)" in message


def test_mismatched_dims(tmp_path):
    image, _ = _pair(d=4)
    _, text = _pair(d=5)
    message = _error(_write_npz(tmp_path, image=image, text=text))
    assert "bad.npz" in message and "dim 4" in message and "dim 5" in message


def test_unpaired_row_counts_need_an_index(tmp_path):
    image, text = _pair(n=3, m=5)
    assert "text_image_index" in _error(_write_npz(tmp_path, image=image, text=text))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(tmp_path, bad):
    image, text = _pair()
    text[2, 1] = bad
    message = _error(_write_npz(tmp_path, image=image, text=text))
    assert "text row(s) contain NaN or inf" in message and "rows 2" in message


@pytest.mark.parametrize("index", [[0, 1, 3], [0, -1, 2]])
def test_index_out_of_range(tmp_path, index):
    image, text = _pair(n=3)
    message = _error(_write_npz(tmp_path, image=image, text=text, text_image_index=np.array(index)))
    assert "bad.npz" in message and "out of range" in message


def test_index_wrong_length_or_dtype(tmp_path):
    image, text = _pair(n=3)
    assert "shape (3,)" in _error(_write_npz(tmp_path, image=image, text=text, text_image_index=np.array([0, 1])))
    assert "integers" in _error(
        _write_npz(tmp_path, image=image, text=text, text_image_index=np.array([0.0, 1.0, 2.0]))
    )


@pytest.mark.parametrize("image_rows,text_rows,dim", [(0, 0, 4), (3, 3, 0), (0, 3, 4)])
def test_empty_arrays(tmp_path, image_rows, text_rows, dim):
    image, text = np.zeros((image_rows, dim)), np.zeros((text_rows, dim))
    assert "empty" in _error(_write_npz(tmp_path, image=image, text=text))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert "obj.npy" in _error(path)


def test_non_numeric_arrays(tmp_path):
    image, _ = _pair()
    text = np.array([["a"] * 4] * 6)
    assert "numeric" in _error(_write_npz(tmp_path, image=image, text=text))


def _forged_npy(path, shape, descr="<f4"):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(b"\0" * 64)
    return path


def test_forged_npy_header_is_refused_before_allocating(tmp_path):
    path = _forged_npy(tmp_path / "forged.npy", (2, 100_000_000, 1000))
    message = _error(path)
    assert "forged.npy" in message and "745.1 GiB" in message and "above the limit" in message


def test_npz_decompression_bomb_is_refused_from_its_headers(tmp_path):
    import resource
    import zipfile

    path = tmp_path / "bomb.npz"
    rows = 40_000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in ("image", "text"):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                header = {"descr": "<f4", "fortran_order": False, "shape": (rows, 1000)}
                np.lib.format.write_array_header_1_0(member, header)
                block = np.zeros((1000, 1000), dtype=np.float32).tobytes()
                for _ in range(rows // 1000):
                    member.write(block)
    assert path.stat().st_size < 2_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(EmbeddingsError, match=r"bomb.npz: the arrays would take 305.2 MiB .* limit of 100.0 MiB"):
        load_embeddings(path, max_bytes=100 << 20)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # kB: nothing was inflated


def test_limit_from_the_environment(tmp_path, monkeypatch):
    image, text = _pair(n=64, d=16)
    path = _write_npz(tmp_path, image=image, text=text)
    monkeypatch.setenv("GAPVIZ_MAX_EMBEDDINGS_BYTES", "4k")
    assert "limit of 4.0 KiB" in _error(path)
    monkeypatch.setenv("GAPVIZ_MAX_EMBEDDINGS_BYTES", "1M")
    assert load_embeddings(path).image.shape == (64, 16)
    monkeypatch.setenv("GAPVIZ_MAX_EMBEDDINGS_BYTES", "lots")
    assert "byte count" in _error(path)


def test_truncated_npy_is_one_line(tmp_path):
    path = _forged_npy(tmp_path / "short.npy", (2, 10, 4))
    assert "short.npy" in _error(path)


@pytest.mark.parametrize("rows", [[1], [0, 3, 4]])
def test_zero_rows_are_named(tmp_path, rows):
    image, text = _pair()
    image[rows] = 0.0
    message = _error(_write_npz(tmp_path, image=image, text=text))
    assert f"{len(rows)} image row(s) are zero vectors" in message and f"rows {', '.join(map(str, rows))}" in message


def _header_bytes(shape, descr, payload):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    DESCRS = ["<f4", "<f2", "<f8", "<i8", "|u1", "|b1", "<c8", "<U3", "|S2", "<m8[s]"]

    @settings(max_examples=150, deadline=None)
    @given(
        shape=st.lists(st.integers(0, 10**12), min_size=0, max_size=4).map(tuple),
        descr=st.sampled_from(DESCRS),
        payload=st.binary(max_size=256),
        npz=st.booleans(),
    )
    def test_any_header_is_an_array_or_one_line_error(shape, descr, payload, npz):
        """Forged .npy headers, alone or in an npz: only EmbeddingsError escapes and nothing big is allocated."""
        data = _header_bytes(shape, descr, payload)
        if npz:
            import zipfile

            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("image.npy", data)
                archive.writestr("text.npy", data)
            data = buffer.getvalue()
        source = io.BytesIO(data)
        source.name = "fuzz.npz" if npz else "fuzz.npy"
        try:
            emb = load_embeddings(source, max_bytes=1 << 20)
        except EmbeddingsError as error:
            assert "\n" not in str(error) and "fuzz" in str(error)
        else:
            assert emb.image.nbytes <= 1 << 20


BOMB_LOADER = """
import resource, sys
from gapviz.data.embeddings_io import EmbeddingsError, load_embeddings
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_embeddings(sys.argv[1], max_bytes=int(sys.argv[2]))
except EmbeddingsError as error:
    print(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize(
    ("text_shape", "expected"),
    [
        ((4, 1000), r"50000 image rows but 4 text rows"),
        ((4, 999), r"image dim 1000 does not match text dim 999"),
    ],
)
def test_npz_members_disagreeing_in_their_headers_are_refused_before_loading(tmp_path, text_shape, expected):
    """Issue 20.3: a highly compressed 200 MB image member with a 4-row text member was inflated before the error."""
    import re
    import subprocess
    import sys
    import zipfile

    path, bound = tmp_path / "bomb.npz", 300 << 20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, shape in (("image", (50_000, 1000)), ("text", text_shape)):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
                block = np.zeros((1000, shape[1]), dtype=np.float32).tobytes()
                for _ in range(shape[0] // 1000):
                    member.write(block)
                member.write(np.zeros((shape[0] % 1000, shape[1]), dtype=np.float32).tobytes())
    assert path.stat().st_size < 2_000_000
    done = subprocess.run(
        [sys.executable, "-c", BOMB_LOADER, str(path), str(bound)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    message, grown = done.stdout.strip().splitlines()
    assert message.startswith(f"{path}: ") and re.search(expected, message), message
    assert int(grown) < min(bound * 3 // 2, 50 << 20)  # nothing was inflated: far below the 200 MB member
