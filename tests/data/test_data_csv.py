"""open_clip-style CSV pairs: dedupe of images, columns, separator, roots, splits, errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gapviz.config import DataConfig
from gapviz.data import DataError
from gapviz.data.csv_pairs import read_csv_pairs
from gapviz.data.loader import load_pairs

N_IMAGES = 10


def colour_of(i: int) -> tuple[int, int, int]:
    return (25 * i, 200 - 15 * i, 40 + 20 * i)


def write_set(folder: Path, separator: str = ",", image_key: str = "filepath", caption_key: str = "caption") -> Path:
    """N_IMAGES PNGs under folder/images; images 0-3 have two rows (captions), the rest one."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(N_IMAGES):
        Image.new("RGB", (24 + 2 * i, 20), colour_of(i)).save(folder / "images" / f"{i}.png")
        rows.append({image_key: f"images/{i}.png", caption_key: f"image {i}, first caption", "extra": "x"})
        if i < 4:
            rows.append({image_key: f"./images/{i}.png", caption_key: f"image {i}, second caption", "extra": "y"})
    path = folder / "pairs.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["extra", caption_key, image_key], delimiter=separator)
        writer.writeheader()
        writer.writerows(rows)
    return path


def number(text: str) -> int:
    return int(text.split(",")[0].split()[1])


def check_mapping(data) -> None:
    for j, text in enumerate(data.captions):
        pixel = data.images[data.caption_image[j]].reshape(-1, 3).mean(axis=0)
        assert np.abs(pixel - colour_of(number(text))).max() < 3, (text, pixel)


def test_rows_sharing_an_image_are_one_image(tmp_path):
    listing = read_csv_pairs(write_set(tmp_path))
    assert len(listing) == N_IMAGES and len(listing.captions) == N_IMAGES + 4
    assert np.bincount(listing.caption_image).tolist() == [2] * 4 + [1] * 6
    assert listing.paths[0] == tmp_path.resolve() / "images" / "0.png"


def test_load_splits_disjoint_deterministic_and_mapped(tmp_path):
    path = write_set(tmp_path)
    cfg = DataConfig(source="csv", path=str(path), train_size=0, eval_size=3)
    train, evals = load_pairs(cfg, 12, "train", tmp_path / "home"), load_pairs(cfg, 12, "eval", tmp_path / "home")
    assert evals.num_images == 3 and train.num_images == N_IMAGES - 3
    assert len(train) + len(evals) == N_IMAGES + 4
    train_ids, eval_ids = {number(t) for t in train.captions}, {number(t) for t in evals.captions}
    assert not train_ids & eval_ids and train_ids | eval_ids == set(range(N_IMAGES))
    check_mapping(train), check_mapping(evals)
    again = load_pairs(cfg, 12, "eval", tmp_path / "home")
    assert again.captions == evals.captions and np.array_equal(again.images, evals.images)
    eval_sets = {
        frozenset(number(t) for t in load_pairs(replace(cfg, seed=seed), 12, "eval", tmp_path / "home").captions)
        for seed in range(5)
    }
    assert len(eval_sets) > 1
    assert train.labels is None and train.images.shape == (7, 12, 12, 3)


def test_custom_columns_separator_and_image_root(tmp_path):
    data_dir = tmp_path / "data"
    path = write_set(data_dir, separator="\t", image_key="path", caption_key="title")
    moved = tmp_path / "csvs" / "pairs.tsv"
    moved.parent.mkdir()
    path.rename(moved)
    cfg = DataConfig(
        source="csv",
        path=str(moved),
        image_root=str(data_dir),
        csv_image_key="path",
        csv_caption_key="title",
        csv_separator="\t",
        eval_size=2,
    )
    data = load_pairs(cfg, 8, "train", tmp_path / "home")
    assert data.num_images == N_IMAGES - 2
    check_mapping(data)


def test_paths_outside_root_and_absolute_are_allowed_if_they_exist(tmp_path):
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "outside.png")
    Image.new("RGB", (10, 10), (0, 0, 255)).save(tmp_path / "absolute.png")
    (tmp_path / "set").mkdir()
    Image.new("RGB", (10, 10), (0, 255, 0)).save(tmp_path / "set" / "inside.png")
    path = tmp_path / "set" / "pairs.csv"
    rows = f"../outside.png,red\n{tmp_path / 'absolute.png'},blue\n../gone.png,missing\ninside.png,green\n"
    path.write_text("filepath,caption\n" + rows)
    listing = read_csv_pairs(path)
    assert listing.paths[0].resolve() == tmp_path.resolve() / "outside.png"
    assert listing.paths[1] == tmp_path / "absolute.png"
    # The split order hashes the paths, and tmp_path varies: with two images a split, the broken one
    # always shares its split with a readable one, whichever split it lands in.
    cfg = DataConfig(source="csv", path=str(path), eval_size=2, train_size=0, skip_broken=True)
    train, evals = (load_pairs(cfg, 8, s, tmp_path / "home") for s in ("train", "eval"))
    assert train.skipped + evals.skipped == 1
    assert sorted(train.captions + evals.captions) == ["blue", "green", "red"]
    with pytest.raises(DataError, match=r"gone\.png: image file not found"):
        strict = DataConfig(source="csv", path=str(path), eval_size=2, train_size=0)
        [load_pairs(strict, 8, s, tmp_path / "home") for s in ("train", "eval")]


def test_errors_name_the_file_and_problem(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("image,text\na.png,hello\n")
    with pytest.raises(
        DataError, match=r"pairs\.csv: the first line has no column 'filepath' or 'caption' among its 2"
    ):
        read_csv_pairs(path)
    path.write_text("")
    with pytest.raises(DataError, match=r"pairs\.csv: empty file"):
        read_csv_pairs(path)
    path.write_text("filepath,caption\n")
    with pytest.raises(DataError, match=r"pairs\.csv: no rows"):
        read_csv_pairs(path)
    path.write_text("filepath,caption\na.png,ok\nb.png\n")
    with pytest.raises(DataError, match=r"pairs\.csv: line 3 has 1 fields"):
        read_csv_pairs(path)
    path.write_text("filepath,caption\n ,empty path\n")
    with pytest.raises(DataError, match=r"line 2 has an empty 'filepath'"):
        read_csv_pairs(path)
    path.write_bytes(b"filepath,caption\n\xff\xfe,bad\n")
    with pytest.raises(DataError, match=r"pairs\.csv: not UTF-8 text"):
        read_csv_pairs(path)
    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        read_csv_pairs(tmp_path / "missing.csv")
    path.write_text("filepath,caption\na.png,ok\n")
    with pytest.raises(DataError, match=r"no_root: image folder not found"):
        read_csv_pairs(path, tmp_path / "no_root")
    with pytest.raises(DataError, match="leaves none to train on"):
        load_pairs(DataConfig(source="csv", path=str(path), eval_size=5), 8, "train", tmp_path / "home")


SECRET_LINES = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


@pytest.mark.parametrize(
    "content",
    [SECRET_LINES, "filepath,caption\nroot:x:0:0:root\n", "filepath;caption\nsecret-a;secret-b\n", '"root:x\n'],
)
def test_errors_never_echo_the_file_contents(tmp_path, content):
    """A path field pointed at any readable file (issue 10.2): the message names the file, not its text."""
    path = tmp_path / "passwd"
    path.write_text(content)
    with pytest.raises(DataError) as caught:
        read_csv_pairs(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for word in ("root:x", "daemon", "secret-a", "secret-b", "/bin/bash"):
        assert word not in message


def test_separator_hint_when_the_header_is_one_field(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("filepath\tcaption\na.png\thello\n")
    with pytest.raises(DataError, match=r"among its 1 field\(s\).*data\.csv_separator.*\\t"):
        read_csv_pairs(path)
    assert read_csv_pairs(path, separator="\t").captions == ["hello"]


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes("\ufefffilepath,caption\na.png,hello\n".encode())
    assert read_csv_pairs(path).captions == ["hello"]


FIFO_LOADER = """
import sys
from pathlib import Path
from gapviz.config import DataConfig
from gapviz.data import DataError
from gapviz.data.loader import load_pairs
path, home, skip = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "skip"
cfg = DataConfig(source="csv", path=str(path), eval_size=2, train_size=0, skip_broken=skip)
try:
    parts = [load_pairs(cfg, 8, s, home) for s in ("train", "eval")]
except DataError as error:
    print("error:", error)
else:
    print("skipped:", sum(p.skipped for p in parts), "captions:", sorted(c for p in parts for c in p.captions))
"""


@pytest.mark.parametrize("skip", [True, False])
def test_a_fifo_in_the_csv_is_refused_without_blocking(tmp_path, skip):
    """Issue 20.1: a named pipe as an image never reaches the decoder (which would block on it forever)."""
    for i in range(4):
        Image.new("RGB", (10, 10), colour_of(i)).save(tmp_path / f"{i}.png")
    os.mkfifo(tmp_path / "pipe.png")
    path = tmp_path / "pairs.csv"
    path.write_text("filepath,caption\n" + "".join(f"{i}.png,c{i}\n" for i in range(4)) + "pipe.png,pipe\n")
    argv = [sys.executable, "-c", FIFO_LOADER, str(path), str(tmp_path / "home"), "skip" if skip else "strict"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    if skip:
        assert done.stdout.strip() == "skipped: 1 captions: ['c0', 'c1', 'c2', 'c3']"
    else:
        assert done.stdout.strip() == f"error: {tmp_path.resolve() / 'pipe.png'}: not a regular file"
