"""The prefetcher: batches gathered one step ahead on a thread, the same numbers as the training thread's own."""

import threading
import time
import traceback
import warnings

import numpy as np
import pytest
import torch
from train_fixtures import tiny_config

from gapviz.runs.records import NullSink
from gapviz.runs.store import CheckpointFiles
from gapviz.training.batches import Prefetcher, gather_rows, host_batch, normalise
from gapviz.training.loop import prepare, train


class Steps(NullSink):
    """Every step's progress and every epoch's metrics; asks to stop after ``stop_after`` steps."""

    def __init__(self, stop_after=None):
        self.steps, self.epochs, self.stop_after = [], [], stop_after

    def on_step(self, progress):
        self.steps.append(progress)

    def on_epoch(self, record):
        self.epochs.append(record.metrics)

    def should_stop(self):
        return self.stop_after is not None and len(self.steps) >= self.stop_after


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def trained(home, tmp_path, prefetch, stop_after=None, **overrides):
    cfg = tiny_config(
        train__epochs=2, eval__projections=[], eval__trace_every_steps=0, eval__linear_probe=False, **overrides
    )
    sink = Steps(stop_after)
    train(prepare(cfg, home), sink, CheckpointFiles(tmp_path / f"ck-{prefetch}"), sink.should_stop, prefetch=prefetch)
    return sink


@pytest.mark.slow
def test_the_prefetcher_changes_no_number_batch_order_or_swap_draw(home, tmp_path):
    overrides = {"swap__mode": "hard", "swap__fraction": 0.5, "train__grad_accum": 2, "train__batch_size": 16}
    before = threading.active_count()
    ahead, inline = trained(home, tmp_path, True, **overrides), trained(home, tmp_path, False, **overrides)
    assert threading.active_count() == before
    assert len(ahead.steps) == len(inline.steps) == 8
    assert [s.loss for s in ahead.steps] == [s.loss for s in inline.steps]
    assert ahead.epochs[-1]["loss"] == inline.epochs[-1]["loss"]


def test_steps_and_epochs_record_the_wait_for_data(home, tmp_path):
    sink = trained(home, tmp_path, True)
    assert all(0.0 <= s.data_wait_s < 1.0 for s in sink.steps) and "data_wait_s" in sink.steps[0].to_dict()
    share = sink.epochs[-1]["data_wait_share"]
    assert 0.0 <= share < 1.0 and "data_wait_share" not in sink.epochs[0]  # epoch 0 trained nothing


def test_a_stop_mid_epoch_leaves_no_thread(home, tmp_path):
    before = threading.active_count()
    sink = trained(home, tmp_path, True, stop_after=2)
    assert len(sink.steps) == 2 and threading.active_count() == before


def test_normalising_on_the_device_gives_the_old_host_numbers(home):
    setup = prepare(tiny_config(), home)
    data = setup.train_data
    rows = np.array([5, 1, 9, 3, 12, 7, 0, 20, 11, 2])
    images = data.images[data.caption_image[rows]]
    old = torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(setup.bundle.mean).view(1, 3, 1, 1)
    std = torch.tensor(setup.bundle.std).view(1, 3, 1, 1)
    batch = host_batch(data, setup.train_tokens, rows, grad_accum=2, pin=False)
    assert [len(t) for t in batch.images] == [5, 5] and not batch.images[0].is_pinned()
    new = torch.cat([normalise(t, setup.bundle) for t in batch.images])
    assert torch.equal(new, ((old - mean) / std)[np.argsort(rows)])  # micro-batches hold the sorted rows
    assert torch.equal(torch.cat(batch.tokens), setup.train_tokens[np.sort(rows)])


def test_gather_copies_the_rows_of_a_read_only_cache():
    cache = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    cache.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on wrapping a non-writable array
        out = gather_rows(cache, np.array([4, 0, 4]), pin=False)
    assert out.dtype == torch.uint8 and np.array_equal(out.numpy(), cache[[4, 0, 4]])


def test_items_come_in_order_at_most_depth_ahead():
    made = []

    def produce(index):
        made.append(index)
        return index * 10

    with Prefetcher(produce, 6, depth=1) as items:
        time.sleep(0.3)
        assert made == [0, 1]  # one queued, one waiting for room
        assert list(items) == [0, 10, 20, 30, 40, 50]
        assert next(items, None) is None


def test_an_error_in_the_worker_is_raised_in_the_consumer_with_its_traceback():
    before = threading.active_count()

    def produce_broken_batch(index):
        if index == 2:
            raise ValueError("image 2 is corrupt")
        return index

    with pytest.raises(ValueError, match="corrupt") as caught, Prefetcher(produce_broken_batch, 5) as items:
        assert [next(items), next(items)] == [0, 1]
        next(items)
    assert "produce_broken_batch" in "".join(traceback.format_tb(caught.value.__traceback__))
    assert threading.active_count() == before


def test_depth_zero_makes_each_item_on_the_callers_thread():
    threads = []
    with Prefetcher(lambda i: threads.append(threading.current_thread()) or i, 3, depth=0) as items:
        assert list(items) == [0, 1, 2] and items.wait_s >= 0.0
    assert threads == [threading.current_thread()] * 3
