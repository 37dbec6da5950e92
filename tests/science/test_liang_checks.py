"""docs/science.md's real-CLIP block is generated from docs/calibration/liang_clip.json, and its checks hold."""

import json
import math

from benchmarks.liang_features import PAGE, RESULTS, page_with_block


def test_the_page_block_is_the_results_file():
    data = json.loads(RESULTS.read_text())
    page = PAGE.read_text()
    assert page_with_block(page, data) == page, "run python -m benchmarks.liang_features --page"


def test_the_recorded_real_clip_checks_hold():
    data = json.loads(RESULTS.read_text())
    assert data["pairs"] == 500 and [f["fix"] for f in data["fixes"]] == ["centre", "standardise", "ablate:8"]
    for fix in data["fixes"]:
        assert fix["after"]["modality_probe_accuracy"] >= 0.5, fix["fix"]
        assert fix["split"] == "fitted on 250 pairs, measured on the other 250 (seed 0)"
    assert len(data["halves"]) == 3
    for half in data["halves"]:
        assert abs(half["distribution_gap"]) <= 0.002
        assert abs(half["modality_probe_logloss"] - math.log(2)) <= 0.1
