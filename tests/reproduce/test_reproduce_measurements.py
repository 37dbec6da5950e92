"""Reports carry each run's final gap with its interval, the null floor and collapse warnings."""

import dataclasses

import numpy as np
from app_fixtures import synthetic_epoch

from gapviz.config import preset
from gapviz.reproduce.report import measurement_lines
from gapviz.reproduce.runner import final_measurements
from gapviz.runs.store import RunStore
from gapviz.science.metrics import compute_all, record_values


def test_final_measurements_and_their_markdown(tmp_path):
    store = RunStore(tmp_path)
    run_ids = {}
    for key, collapse in (("open", False), ("collapsed", True)):
        run_id = store.create(preset("tiny-test").replace(name=key))
        record = synthetic_epoch(0, n=50)
        image = record.image_embeddings.astype(np.float32)
        if collapse:
            image = np.tile(image[:1], (50, 1))
        values = record_values(compute_all(image, record.text_embeddings, n_resamples=100))
        store.append_epoch(run_id, dataclasses.replace(record, image_embeddings=image, metrics=values))
        run_ids[key] = run_id
    measured = final_measurements(store, run_ids)
    assert measured["collapsed"]["collapsed_image"] is True and measured["open"]["collapsed_image"] is False
    lo, hi = measured["open"]["gap_distance_ci95"]
    assert lo <= measured["open"]["gap_distance"] <= hi
    text = "\n".join(measurement_lines(measured))
    assert f"- `open`: plug-in gap {measured['open']['gap_distance']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    assert "warning: the image embeddings are collapsed" in text
    assert measurement_lines({"old": {"gap_distance": 0.3}}) == []
