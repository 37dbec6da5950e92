"""webdataset shards: img2dataset-style tars from the built-in data, split by rank, a seeded order that a resumed
epoch continues exactly, one-line errors naming shard and key, and runs that train on them end to end."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import tiny_config

from gapviz.cli.main import main
from gapviz.config import DataConfig
from gapviz.data import DataError, synthetic
from gapviz.data.loader import check_paths
from gapviz.data.shards import open_stream, resolve_shards, shard_sizes, write_shards
from gapviz.runs.records import NullSink
from gapviz.runs.store import CheckpointFiles, RunStore
from gapviz.training.loop import prepare, train

SIZE = 16


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Four training shards of 24 pairs and one eval shard of 32, written from the built-in data."""
    folder = tmp_path_factory.mktemp("shards")
    write_shards(folder / "train", synthetic.generate(96, "train", SIZE, 0), per_shard=24)
    write_shards(folder / "eval", synthetic.generate(32, "eval", SIZE, 0), per_shard=32)
    return folder


def shard_config(shards: Path, **fields) -> DataConfig:
    named = {"path": f"{shards}/train/{{00000..00003}}.tar", "eval_shards": str(shards / "eval"), **fields}
    return DataConfig(source="webdataset", **named)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_brace_pattern_folder_and_file_name_the_shards_and_sizes_come_from_stats_or_counting(shards, tmp_path):
    pattern = resolve_shards(f"{shards}/train/{{00000..00003}}.tar", "data.path")
    assert pattern == resolve_shards(str(shards / "train"), "data.path") and len(pattern) == 4
    assert resolve_shards(str(pattern[0]), "data.path") == pattern[:1]
    assert shard_sizes(pattern, tmp_path / "a", skip_broken=False) == [24] * 4  # img2dataset's _stats.json
    for stats in (shards / "train").glob("*_stats.json"):
        stats.unlink()
    assert shard_sizes(pattern, tmp_path / "b", skip_broken=False) == [24] * 4  # counted from the tars
    with pytest.raises(DataError, match=r"^data.path: shard .*00004.tar: not found \(and 5 more\)$"):
        resolve_shards(f"{shards}/train/{{00000..00009}}.tar", "data.path")
    with pytest.raises(DataError, match="data.eval_shards: is required"):
        check_paths(shard_config(shards, eval_shards=""))


def test_two_ranks_read_disjoint_shards_covering_all(shards, tmp_path):
    ranks = [open_stream(shard_config(shards), SIZE, tmp_path, rank, 2) for rank in (0, 1)]
    assert set(ranks[0].paths).isdisjoint(ranks[1].paths)
    assert len(set(ranks[0].paths) | set(ranks[1].paths)) == 4
    assert ranks[0].pairs == ranks[1].pairs == 48
    with pytest.raises(DataError, match="4 shards cannot feed 5 ranks"):
        open_stream(shard_config(shards), SIZE, tmp_path, 0, 5)


def test_the_order_is_seeded_per_epoch_and_a_resumed_epoch_continues_exactly(shards, tmp_path):
    stream = open_stream(shard_config(shards, shuffle_buffer=16), SIZE, tmp_path)
    first = list(zip(range(4), stream.batches(epoch=1, size=8), strict=False))
    again = [b.captions for _, b in zip(range(4), stream.batches(epoch=1, size=8), strict=False)]
    assert [b.captions for _, b in first] == again
    assert again != [b.captions for _, b in zip(range(4), stream.batches(epoch=2, size=8), strict=False)]
    resumed = stream.batches(epoch=1, size=8, start=first[1][1].position)
    for (_, expected), got in zip(first[2:], resumed, strict=False):
        assert got.captions == expected.captions and np.array_equal(got.images, expected.images)
    assert first[0][1].images.shape == (8, SIZE, SIZE, 3) and first[0][1].images.dtype == np.uint8


def test_a_corrupt_tar_fails_in_one_line_naming_the_shard(shards, tmp_path):
    good = (shards / "train" / "00000.tar").read_bytes()
    broken = tmp_path / "broken.tar"
    broken.write_bytes(good[: len(good) // 2] + b"\x00garbage" * 100)
    with pytest.raises(DataError) as error:
        shard_sizes([broken], tmp_path / "home", skip_broken=False)
    assert str(broken) in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "broken_stats.json").write_text('{"successes": 24}')  # declared: no counting pass finds it
    with pytest.raises(DataError, match=r"broken.tar: unreadable tar after sample \d+ \(.+\)$"):
        list(open_stream(shard_config(shards, path=str(broken)), SIZE, tmp_path / "home2", 0, 1).batches(1, 24))


def test_a_missing_caption_or_broken_image_names_shard_and_key_or_is_skipped(shards, tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(jpeg, "JPEG")
    good, bad = {"a.jpg": jpeg.getvalue(), "a.txt": b"a red square"}, {"c.jpg": b"not a jpeg", "c.txt": b"noise"}
    shard = _tar(tmp_path / "bad.tar", {**good, "b.jpg": jpeg.getvalue(), **bad})
    with pytest.raises(DataError, match=r"bad.tar: sample b: no caption .*skip_broken"):
        open_stream(shard_config(shards, path=str(shard)), SIZE, tmp_path / "h1")
    stream = open_stream(shard_config(shards, path=str(shard), skip_broken=True), SIZE, tmp_path / "h2")
    assert stream.pairs == 2  # a and c have both files; c's image turns out unreadable when decoded
    assert next(stream.batches(1, 2)).captions == ["a red square"] * 2  # short of pairs: a second pass
    with pytest.raises(DataError, match=r"ran out after 6 samples in epoch 1 \(4 skipped as broken\)"):
        next(stream.batches(1, 3))
    undecodable = _tar(tmp_path / "undecodable.tar", {**good, **bad})
    strict = open_stream(shard_config(shards, path=str(undecodable), shuffle_buffer=0), SIZE, tmp_path / "h3")
    with pytest.raises(DataError, match=r"^\S*undecodable.tar: sample c: cannot read image \(.*\) \(data.skip"):
        next(strict.batches(1, 2))


@pytest.mark.slow  # about 10 s on 2 busy cores
def test_a_run_trains_on_shards_from_the_cli(shards, tmp_path):
    settings = {
        "data.source": "webdataset",
        "data.path": f"{shards}/train/{{00000..00003}}.tar",
        "data.eval_shards": str(shards / "eval"),
        "data.train_size": 0,
        "data.eval_size": 32,
        "train.batch_size": 32,
        "train.epochs": 1,
        "eval.projections": "pca",
    }
    overrides = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    assert main(["--home", str(tmp_path), "train", "--preset", "tiny-test", *overrides]) == 0
    store = RunStore(tmp_path)
    [run_id] = store.run_ids()
    assert store.epochs(run_id) == [0, 1]
    assert store.metrics(run_id)[-1]["step"] == 3  # 96 pairs / batch 32


class StopAfter(NullSink):
    def __init__(self, steps: int | None):
        self.steps, self.limit = 0, steps

    def on_step(self, progress):
        self.steps += 1

    def stop(self) -> bool:
        return self.limit is not None and self.steps >= self.limit


@pytest.mark.slow  # about 15 s on 2 busy cores: three tiny runs
def test_a_run_stopped_mid_epoch_resumes_where_its_stream_got_to(shards, tmp_path):
    cfg = tiny_config(
        data__source="webdataset",
        data__path=str(shards / "train"),
        data__eval_shards=str(shards / "eval"),
        data__train_size=48,
        data__eval_size=16,
        train__batch_size=16,
        train__epochs=1,
        swap__mode="hard",
        swap__fraction=0.25,
        eval__projections=[],
        eval__linear_probe=False,
        eval__trace_every_steps=0,
    )
    whole = prepare(cfg, tmp_path)
    train(whole, StopAfter(None), CheckpointFiles(tmp_path / "whole"))
    files, sink = CheckpointFiles(tmp_path / "split"), StopAfter(1)
    assert train(prepare(cfg, tmp_path), sink, files, sink.stop).stopped
    saved = torch.load(files.last, weights_only=True)
    assert (saved["epoch"], saved["global_step"], saved["position"]) == (0, 1, 16)
    resumed, rest = prepare(cfg, tmp_path), StopAfter(None)
    assert train(resumed, rest, files, resume=True).global_step == 3 and rest.steps == 2
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
