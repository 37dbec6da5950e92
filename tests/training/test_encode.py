"""encode_eval_set: a model and a data set in, the evaluation split's embeddings out, the same ones a
training run's epoch-0 evaluation computes for the same seed (no training config involved)."""

from __future__ import annotations

import numpy as np
import pytest
from train_fixtures import tiny_config

from gapviz.config import DataConfig, ModelConfig
from gapviz.training.encode import encode_eval_set


def test_encode_eval_set_matches_a_runs_epoch_zero(tmp_path):
    from gapviz.training.loop import evaluate, prepare

    cfg = tiny_config(seed=3, data__eval_size=24)
    setup = prepare(cfg, tmp_path)
    record = evaluate(setup, 0, 0, {}, {})
    enc = encode_eval_set(cfg.model, cfg.data, tmp_path, device="cpu", seed=3)
    assert np.allclose(enc.image, record.image_embeddings.astype(np.float32), atol=2e-3)
    assert np.allclose(enc.text, record.text_embeddings.astype(np.float32), atol=2e-3)
    assert enc.captions == record.captions and (enc.text_image_index == record.text_image_index).all()
    assert np.allclose(np.linalg.norm(enc.image, axis=1), 1.0, atol=1e-5)
    assert enc.images.shape == (24, *setup.eval_data.images.shape[1:]) and enc.images.dtype == np.uint8
    assert len(enc.class_names) == len(enc.class_text) and enc.labels is not None
    assert enc.logit_scale == pytest.approx(float(setup.model.logit_scale.detach().exp()))


def test_the_seed_picks_the_random_init(tmp_path):
    model, data = ModelConfig(), DataConfig(eval_size=8)
    first = encode_eval_set(model, data, tmp_path, device="cpu", seed=0)
    again = encode_eval_set(model, data, tmp_path, device="cpu", seed=0)
    other = encode_eval_set(model, data, tmp_path, device="cpu", seed=1)
    assert np.array_equal(first.image, again.image)
    assert not np.allclose(first.image, other.image)
