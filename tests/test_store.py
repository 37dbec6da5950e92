import csv
import json

import numpy as np
import pytest

from gapviz.config import RunConfig
from gapviz.runs.records import EpochRecord, RunState
from gapviz.runs.store import RunStore, StoreError, gapviz_home


def record(epoch, n=6, d=4, seed=0):
    rng = np.random.default_rng(seed + epoch)
    return EpochRecord(
        epoch=epoch,
        global_step=10 * epoch,
        metrics={"gap_distance": 1.0 / (epoch + 1), "tau": 0.07},
        image_embeddings=rng.normal(size=(n, d)).astype(np.float32),
        text_embeddings=rng.normal(size=(n, d)).astype(np.float32),
        text_image_index=np.arange(n),
        projections={"pca": rng.normal(size=(2 * n, 2)).astype(np.float32)},
        captions=[f"caption {i}" for i in range(n)],
        labels=np.arange(n) % 2,
    )


def test_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GAPVIZ_HOME", str(tmp_path / "h"))
    assert gapviz_home() == (tmp_path / "h").resolve()
    assert gapviz_home(tmp_path / "x") == (tmp_path / "x").resolve()


def test_create_read_and_status(home):
    store = RunStore()
    cfg = RunConfig(name="first")
    run_id = store.create(cfg, group="g1", tags=("a",))
    assert store.config(run_id) == cfg
    assert store.state(run_id) == RunState.CREATED
    assert store.meta(run_id) == {"name": "first", "group": "g1", "tags": ["a"]}
    store.update_status(run_id, state=RunState.RUNNING, epoch=1)
    assert store.status(run_id)["state"] == "running" and store.status(run_id)["epoch"] == 1
    store.update_meta(run_id, name="renamed", tags=("a", "b"))
    assert store.summary(run_id).name == "renamed" and store.summary(run_id).tags == ("a", "b")


def test_epochs_round_trip_in_fp16(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    first = record(0)
    store.append_epoch(run_id, first)
    store.append_epoch(run_id, record(1))
    assert store.epochs(run_id) == [0, 1]
    arrays = store.epoch_arrays(run_id, 0)
    assert arrays["image"].dtype == np.float16
    np.testing.assert_allclose(arrays["image"], first.image_embeddings, atol=1e-2)
    np.testing.assert_array_equal(arrays["proj_pca"], first.projections["pca"])
    assert store.captions(run_id) == first.captions
    assert store.metrics(run_id)[1]["gap_distance"] == pytest.approx(0.5)
    store.append_epoch(run_id, record(1, seed=5))
    assert store.epochs(run_id) == [0, 1]
    store.truncate_epochs(run_id, 0)
    assert store.epochs(run_id) == [0]
    with pytest.raises(StoreError, match="no saved epoch 1"):
        store.epoch_arrays(run_id, 1)


def test_list_delete_and_bad_ids(home):
    store = RunStore()
    ids = [store.create(RunConfig(name=f"r{i}"), run_id=f"run-{i}") for i in range(3)]
    assert store.run_ids() == sorted(ids, reverse=True)
    assert [s.name for s in store.summaries()] == ["r2", "r1", "r0"]
    store.delete("run-1")
    assert store.run_ids() == ["run-2", "run-0"]
    for bad in ("../etc", "", "a/b"):
        with pytest.raises(StoreError, match="invalid run id"):
            store.run_dir(bad)
    with pytest.raises(StoreError, match="no run"):
        store.config("run-1")
    with pytest.raises(StoreError, match="already exists"):
        store.create(RunConfig(), run_id="run-0")


def test_export_writes_csv_npz_and_config(home, tmp_path):
    store = RunStore()
    run_id = store.create(RunConfig())
    store.append_epoch(run_id, record(0))
    store.append_epoch(run_id, record(1))
    metrics_csv, npz, config = store.export(run_id, tmp_path / "out")
    rows = list(csv.DictReader(metrics_csv.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    with np.load(npz) as data:
        assert {"e000_image", "e001_text", "e001_proj_pca"} <= set(data.files)
    assert json.loads(config.read_text()) == RunConfig().to_dict()


def test_writes_are_atomic_leaving_no_temp_files(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    for epoch in range(3):
        store.append_epoch(run_id, record(epoch))
    leftovers = [p for p in store.run_dir(run_id).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
