"""The metric catalog: complete, well-formed, the only place metric lists and labels are written."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from gapviz.format import metric_text
from gapviz.science import catalog as C
from gapviz.science.metrics import compute_all

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = (
    *sorted((ROOT / "gapviz" / "app").rglob("*.py")),
    *sorted((ROOT / "gapviz" / "cli").rglob("*.py")),
    ROOT / "gapviz" / "charts.py",
    ROOT / "gapviz" / "charts_compare.py",
    ROOT / "gapviz" / "reproduce" / "runner.py",
    ROOT / "gapviz" / "reproduce" / "report.py",
    ROOT / "gapviz" / "science" / "difference.py",
)
"""Files that show or pick metrics (the producers in gapviz/science compute them and name their keys)."""
UNITS = {"", "fraction", "cosine", "nats", "rank", "dimensions", "rows"}


def test_every_compute_all_key_is_in_the_catalog():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(40, 8)) + 0.5, rng.normal(size=(40, 8))
    out = compute_all(image, text, n_resamples=20)
    assert tuple(out) == C.ALL_KEYS
    for key in out:
        base = key.removesuffix(C.CI_SUFFIX)
        assert base in C.BY_KEY, key
        assert (key == base) or C.BY_KEY[base].interval != "none", key
    assert set(C.METRIC_DESCRIPTIONS) == set(C.METRIC_NAMES)


def test_agreed_keys_are_catalogued():
    agreed = (
        "transfer_accuracy_text",
        "transfer_accuracy_image",
        "mixed_itr",
        "mixed_tir",
        "mixed_imr",
        "mixed_tmr",
        "cknna_10",
        "mutual_knn_10_chance",
        "modality_probe_logloss_null",
        "gap_squared_unbiased",
    )
    assert set(agreed) <= set(C.METRIC_NAMES)
    assert "gap_squared_unbiased" in C.INTERVAL_METRICS
    assert C.SIZE_KEYS == (
        "modality_probe_n",
        "uniformity_n",
        "distribution_gap_n",
        "mutual_knn_n",
        "cknna_n",
        "effective_rank_n",
        "mixed_pool_n",
        "transfer_n",
    )
    assert "debiased" in C.label("gap_distance_unbiased") and "plug-in" in C.label("gap_distance")


@pytest.mark.parametrize("metric", C.CATALOG, ids=lambda m: m.key)
def test_every_entry_is_well_formed(metric):
    assert metric.label and metric.short and metric.meaning and metric.source
    assert metric.unit in UNITS
    assert metric.interval in C.INTERVAL_METHODS
    assert metric.gap in (-1, 0, 1) and metric.better in (-1, 0, 1)
    assert metric.kind in (C.COMPUTE_ALL, C.FLAG, C.SIZE, C.RECORD)
    assert set(metric.views) <= set(C.VIEWS)
    assert metric.size_key is None or metric.size_key in C.SIZE_KEYS
    if metric.range is not None:
        lo, hi = metric.range
        assert lo is None or hi is None or lo < hi
    if metric.resampled:
        assert metric.interval != "none"
    if metric.unit == "fraction":
        assert metric.range == (0.0, 1.0)


def test_keys_and_labels_are_unique():
    assert len(C.BY_KEY) == len(C.CATALOG)
    shorts = [m.short for m in C.CATALOG if m.kind != C.SIZE]
    assert len(set(shorts)) == len(shorts)


def test_labels_of_table_columns_keep_their_suffix():
    assert C.short("gap_distance epoch") == "plug-in gap epoch"
    assert C.short("gap_distance_unbiased [95% CI]") == "gap (debiased) [95% CI]"
    assert C.label("i2t_r1_ci95") == "Recall@1 image→text (ties shared fairly) 95% interval"
    assert C.short("run") == "run" and C.short("eval_time_s") == "eval time s" and C.label("run") == "run"
    assert C.help_text("nope") is None and "percentile bootstrap" in (C.help_text("relative_gap") or "")
    with pytest.raises(ValueError, match="unknown view"):
        C.in_view("nowhere")


def test_direction_decides_best():
    assert C.lower_is_better("gap_distance") and C.lower_is_better("loss") and C.lower_is_better("mixed_itr")
    assert not C.lower_is_better("i2t_r1") and not C.lower_is_better("cone_image")
    assert not C.lower_is_better("linear_separability")  # a key the catalog no longer knows


def test_subsampled_metrics_print_their_n():
    values = {"modality_probe_accuracy": 0.75, "modality_probe_n": 1000.0, "uniformity_joint": -3.1}
    assert C.subsample_size(values, "modality_probe_accuracy") == 1000
    assert metric_text(values, "modality_probe_accuracy") == "0.7500 (n = 1,000)"
    assert metric_text(values, "uniformity_joint") == "-3.1000"  # no uniformity_n in the values: nothing said
    assert C.subsample_size({"uniformity_n": math.nan}, "uniformity_joint") is None
    assert C.subsample_size({"modality_probe_n": 5.0}, "gap_distance") is None


def _metric_key_literals(path: Path) -> list[str]:
    """Tuple, list, set or dict literals in ``path`` naming 3 or more catalogued keys (a hand-written list)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) or items is None:
            continue
        keys = [e.value for e in items if isinstance(e, ast.Constant) and e.value in C.BY_KEY]
        if len(keys) >= 3:
            found.append(f"{path.name}:{node.lineno} {keys}")
    return found


def test_no_consumer_writes_its_own_metric_list():
    assert [entry for path in CONSUMERS for entry in _metric_key_literals(path)] == []


def test_the_scan_finds_a_hand_written_list(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'SHOWN = ("gap_distance", "pair_cosine", "i2t_r1")\nTITLES = {"tau": "τ", "loss": "L", "i2t_r5": "R"}\n'
    )
    assert len(_metric_key_literals(sample)) == 2


def test_no_stale_metric_names_remain():
    sources = (ROOT / "gapviz").rglob("*.py")
    assert [str(p.relative_to(ROOT)) for p in sources if "linear_separability" in p.read_text()] == []


def test_docs_metric_table_is_the_catalog():
    doc = (ROOT / "docs" / "science.md").read_text()
    assert C.docs_block() in doc


def test_axis_names_print_the_papers_symbols_and_fall_back_to_short_names():
    assert C.axis_name("gap_distance_unbiased") == "gap ‖μ_I − μ_T‖ (debiased)"
    assert C.axis_name("gap_distance") == "gap ‖c_I − c_T‖ (plug-in)"
    assert C.axis_name("i2t_r1") == C.short("i2t_r1")
    assert set(C.AXIS_NAMES) <= set(C.BY_KEY)
