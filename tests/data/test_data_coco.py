"""COCO captions (standard and Karpathy JSON): counts, caption mapping, splits, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gapviz.config import DataConfig
from gapviz.data import DataError, PairData
from gapviz.data.coco import read_coco
from gapviz.data.loader import load_pairs

N_IMAGES, N_CAPTIONS = 12, 3


def colour_of(i: int) -> tuple[int, int, int]:
    return (20 * i, 255 - 20 * i, 60 + 10 * i)


def write_image(path: Path, i: int, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour_of(i)).save(path, quality=95)


def caption(i: int, c: int) -> str:
    return f"picture {i} caption {c}"


def image_of(text: str) -> int:
    return int(re.match(r"picture (\d+)", text).group(1))


@pytest.fixture
def standard(tmp_path) -> Path:
    images, annotations = [], []
    for i in range(N_IMAGES):
        write_image(tmp_path / "imgs" / f"{i:03d}.jpg", i, (40 + i, 30))
        images.append({"id": 1000 + i, "file_name": f"imgs/{i:03d}.jpg", "width": 40 + i, "height": 30})
        annotations += [
            {"id": i * 10 + c, "image_id": 1000 + i, "caption": caption(i, c) + "\n"} for c in range(N_CAPTIONS)
        ]
    images.append({"id": 5000, "file_name": "imgs/uncaptioned.jpg"})  # no captions: ignored
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def write_karpathy(tmp_path: Path, splits: list[str], root: Path | None = None) -> Path:
    """A Karpathy JSON in tmp_path, images under root (default tmp_path/root)/<filepath>/."""
    root = tmp_path / "root" if root is None else root
    images = []
    for i, split in enumerate(splits):
        folder = "val2014" if split in ("val", "test") else "train2014"
        write_image(root / folder / f"k{i}.png", i)
        sentences = [{"raw": caption(i, c), "tokens": []} for c in range(N_CAPTIONS)]
        images.append(
            {"filepath": folder, "filename": f"k{i}.png", "split": split, "cocoid": i, "sentences": sentences}
        )
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": images, "dataset": "coco"}))
    return path


def check_mapping(data: PairData) -> list[int]:
    """Every caption maps to the decoded image it names; returns the image numbers."""
    owners = []
    for j, text in enumerate(data.captions):
        i = image_of(text)
        pixel = data.images[data.caption_image[j]].reshape(-1, 3).mean(axis=0)
        assert np.abs(pixel - colour_of(i)).max() < 12, (text, pixel)
        owners.append(i)
    return owners


def numbers(data: PairData) -> set[int]:
    return {image_of(t) for t in data.captions}


def test_standard_counts_mapping_and_disjoint_splits(standard, tmp_path):
    cfg = DataConfig(source="coco", path=str(standard), train_size=0, eval_size=4)
    train = load_pairs(cfg, 16, "train", tmp_path / "home")
    evals = load_pairs(cfg, 16, "eval", tmp_path / "home")
    assert evals.num_images == 4 and len(evals) == 4 * N_CAPTIONS
    assert train.num_images == N_IMAGES - 4 and len(train) == (N_IMAGES - 4) * N_CAPTIONS
    assert train.images.shape == (8, 16, 16, 3) and train.images.dtype == np.uint8
    assert not numbers(train) & numbers(evals)
    assert numbers(train) | numbers(evals) == set(range(N_IMAGES))
    check_mapping(train), check_mapping(evals)
    assert np.bincount(evals.caption_image).tolist() == [N_CAPTIONS] * 4  # several captions per image
    assert train.labels is None and evals.labels is None
    assert not train.mismatched.any() and not evals.mismatched.any()
    assert all(not t.endswith("\n") for t in train.captions)


def test_standard_split_is_deterministic_by_seed(standard, tmp_path):
    def eval_images(seed: int) -> set[int]:
        cfg = DataConfig(source="coco", path=str(standard), eval_size=4, seed=seed)
        return numbers(load_pairs(cfg, 8, "eval", tmp_path / "home"))

    assert eval_images(0) == eval_images(0)
    assert len({frozenset(eval_images(s)) for s in range(4)}) > 1
    # The eval set does not depend on train_size; train_size caps training images.
    cfg = DataConfig(source="coco", path=str(standard), eval_size=4, train_size=3)
    capped = load_pairs(cfg, 8, "train", tmp_path / "home")
    assert capped.num_images == 3 and len(capped) == 3 * N_CAPTIONS
    assert numbers(load_pairs(cfg, 8, "eval", tmp_path / "home")) == eval_images(0)


def test_karpathy_splits(tmp_path):
    path = write_karpathy(tmp_path, ["train"] * 4 + ["restval"] * 2 + ["val"] * 3 + ["test"] * 2)
    root = str(tmp_path / "root")
    cfg = DataConfig(source="coco", path=str(path), image_root=root, train_size=0, eval_size=100)
    assert numbers(load_pairs(cfg, 8, "train", tmp_path / "home")) == {0, 1, 2, 3}
    both = DataConfig(
        source="coco", path=str(path), image_root=root, train_size=0, eval_size=100, split="train+restval"
    )
    data = load_pairs(both, 8, "train", tmp_path / "home")
    assert numbers(data) == set(range(6)) and len(data) == 6 * N_CAPTIONS
    check_mapping(data)
    evals = load_pairs(cfg, 8, "eval", tmp_path / "home")
    assert numbers(evals) == {6, 7, 8}
    check_mapping(evals)
    small = DataConfig(source="coco", path=str(path), image_root=root, eval_size=2)
    assert numbers(load_pairs(small, 8, "eval", tmp_path / "home")) < {6, 7, 8}
    with pytest.raises(DataError, match="must not include val"):
        load_pairs(DataConfig(source="coco", path=str(path), image_root=root, split="val"), 8, "train", tmp_path)


def test_karpathy_eval_falls_back_to_test(tmp_path):
    path = write_karpathy(tmp_path, ["train"] * 3 + ["test"] * 2)
    cfg = DataConfig(source="coco", path=str(path), image_root=str(tmp_path / "root"))
    assert numbers(load_pairs(cfg, 8, "eval", tmp_path / "home")) == {3, 4}


def test_karpathy_default_root_is_json_folder(tmp_path):
    path = write_karpathy(tmp_path, ["train", "val"], root=tmp_path)  # images next to the JSON
    listing = read_coco(path)
    assert listing.paths == [tmp_path.resolve() / "train2014" / "k0.png", tmp_path.resolve() / "val2014" / "k1.png"]
    assert listing.splits == ["train", "val"]
    assert numbers(load_pairs(DataConfig(source="coco", path=str(path)), 8, "eval", tmp_path / "home")) == {1}


def test_mismatch_uses_captions_of_other_images(standard, tmp_path):
    cfg = DataConfig(source="coco", path=str(standard), eval_size=2, mismatch=0.5)
    data = load_pairs(cfg, 8, "train", tmp_path / "home")
    n = (N_IMAGES - 2) * N_CAPTIONS
    assert abs(int(data.mismatched.sum()) - n // 2) <= 1
    for j, text in enumerate(data.captions):
        clean_owner = check_mapping_one(data, j)
        assert (image_of(text) != clean_owner) == bool(data.mismatched[j])


def check_mapping_one(data: PairData, j: int) -> int:
    """The image number of the image caption j is trained with, read from its colour."""
    pixel = data.images[data.caption_image[j]].reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(pixel - colour_of(i)).max() for i in range(N_IMAGES)]))


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON"):
        read_coco(bad)
    bad.write_text('{"images": []}')
    with pytest.raises(DataError, match=r"bad\.json: no 'annotations'"):
        read_coco(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(DataError, match=r"bad\.json: expected a COCO"):
        read_coco(bad)
    bad.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 2, "caption": "x"}]})
    )
    with pytest.raises(DataError, match=r"bad\.json: annotations\[0\] refers to an image_id that no entry"):
        read_coco(bad)
    bad.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}))
    with pytest.raises(DataError, match=r"images\[0\] needs an integer 'id' and a text 'file_name'"):
        read_coco(bad)
    with pytest.raises(DataError, match=r"nope\.json: file not found"):
        read_coco(tmp_path / "nope.json")
    with pytest.raises(DataError, match=r"missing_folder: image folder not found"):
        read_coco(bad, tmp_path / "missing_folder")


def test_missing_image_file_is_named(standard, tmp_path):
    (standard.parent / "imgs" / "005.jpg").unlink()
    cfg = DataConfig(source="coco", path=str(standard), eval_size=N_IMAGES - 1, train_size=0)
    with pytest.raises(DataError, match=r"005\.jpg: image file not found"):
        for split in ("train", "eval"):
            load_pairs(cfg, 8, split, tmp_path / "home")
    skipping = DataConfig(source="coco", path=str(standard), eval_size=2, train_size=0, skip_broken=True)
    train, evals = (load_pairs(skipping, 8, s, tmp_path / "home") for s in ("train", "eval"))
    assert train.skipped + evals.skipped == 1
    assert 5 not in numbers(train) | numbers(evals)
    assert train.num_images + evals.num_images == N_IMAGES - 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"images": [{"id": [1, 2], "file_name": "a.jpg"}], "annotations": []}, r"images\[0\] needs an integer 'id'"),
        ({"images": [{"id": {"a": 1}, "file_name": "a.jpg"}], "annotations": []}, r"images\[0\] needs an integer"),
        (
            {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": [1], "caption": "x"}]},
            r"annotations\[0\] needs an integer 'image_id'",
        ),
        (
            {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}], "annotations": []},
            r"images\[1\] repeats the id of images\[0\]",
        ),
        ({"images": [{"filename": "a.jpg", "filepath": ["x"], "sentences": []}]}, r"images\[0\] has a 'filepath'"),
    ],
)
def test_ids_and_paths_of_the_wrong_type_are_one_line_errors(tmp_path, data, message):
    """issue 10.9: an unhashable id raised TypeError."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        read_coco(bad)


def test_a_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    data = {"images": [{"id": 7, "file_name": "a.jpg"}], "annotations": [{"image_id": 7, "caption": " a cat "}]}
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    listing = read_coco(path)
    assert listing.captions == ["a cat"] and listing.keys == ["7"]


def test_errors_never_echo_the_file_contents(tmp_path):
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(DataError) as caught:
        read_coco(path)
    assert "root" not in str(caught.value).replace(str(path), "")
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(DataError, match="nested too deeply|not valid JSON"):
        read_coco(path)
