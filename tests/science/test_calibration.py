"""The calibration suite: every printed 95% interval covers a known population value at its stated rate.

Seeded simulations (gapviz.science.calibration, seed fixed before the first run) at no, small, moderate and
large gaps and the null of two halves of one modality, at n = 100 and n = 1,000, 400 replicates each. A
coverage passes within 3 binomial standard errors of 0.95 (0.917–0.983). docs/science.md's table is generated
from docs/calibration/coverage.json, which benchmarks/calibration.py writes from the same suite.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.calibration import CHUNKED_END, CHUNKED_RESULTS, CHUNKED_START, PAGE, RESULTS, page_with_table
from gapviz.science import calibration as C

pytestmark = pytest.mark.slow
CASES = (*C.SHIFTS, "halves")
POINT_HOLDERS = ("gap_distance", "gap_distance_unbiased", "gap_squared_unbiased")


def _check(rows):
    for row in rows:
        assert row.within_band(), f"{row.metric} {row.case} n={row.n}: coverage {row.rate:.3f}"
        if row.metric in POINT_HOLDERS or row.metric in C.RECALL_METRICS:
            assert row.point_inside == row.replicates, f"{row.metric} {row.case} n={row.n}: point outside"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", C.SIZES)
def test_gap_family_intervals_cover_at_95_percent(case, n):
    _check(C.coverage(case, n, C.GAP_METRICS))


@pytest.mark.parametrize("case", CASES)
def test_recall_intervals_cover_at_95_percent_at_100_pairs(case):
    _check(C.coverage(case, 100, C.RECALL_METRICS))


def test_recall_intervals_cover_at_95_percent_at_1000_pairs():
    _check(C.coverage("moderate", 1000, C.RECALL_METRICS))


def test_the_plug_in_percentile_interval_would_fail_the_suite():
    """The check can fail: the percentile bootstrap of the plug-in gap (the old interval) misses the truth."""
    from gapviz.science.estimators import PairSums, bootstrap_intervals, gap_statistics

    def old(x, y, seed):
        sums = PairSums.of(x, y, np.arange(len(x)))
        point = {k: float(v[0]) for k, v in gap_statistics(sums, np.ones((1, len(x)))).items()}
        return {**point, **bootstrap_intervals(lambda w: gap_statistics(sums, w), len(x), 200, seed)}

    (row,) = C.coverage("small", 100, ["gap_distance"], estimator=old, replicates=100)
    assert row.rate < 0.5


def test_population_gap_by_quadrature_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x, y = C.clouds(400_000, C.SHIFTS["moderate"], rng)
    assert np.linalg.norm(x.mean(0) - y.mean(0)) == pytest.approx(2 * C.mean_first_coordinate(1.5), abs=3e-3)


def test_docs_table_is_generated_from_the_results_file():
    data = json.loads(Path(RESULTS).read_text())
    assert data["seed"] == C.SUITE_SEED and data["replicates"] == C.REPLICATES
    page = Path(PAGE).read_text()
    assert page_with_table(page, data["rows"]) == page
    assert {(r["case"], r["n"]) for r in data["rows"]} == {(c, n) for c in (*CASES, "random labels") for n in C.SIZES}
    assert {r["metric"] for r in data["rows"]} == set(C.CASE_METRICS) | set(C.NULL_METRICS) | set(C.LABEL_METRICS)
    assert all(r["within_band"] for r in data["rows"])


def test_the_chunked_path_covers_and_its_docs_table_is_generated_from_its_results_file():
    """A memory-mapped million's intervals (grouped bootstrap, subsample variance model) at n = 12,000: the full
    simulation is benchmarks.calibration --chunked's (minutes); here its recorded rows and the page's table."""
    data = json.loads(Path(CHUNKED_RESULTS).read_text())
    assert data["seed"] == C.SUITE_SEED and data["replicates"] == C.REPLICATES
    assert {(r["case"], r["n"]) for r in data["rows"]} == {(c, C.CHUNKED_N) for c in C.CHUNKED_CASES}
    assert {r["metric"] for r in data["rows"]} == set(C.GAP_METRICS)
    assert all(r["within_band"] for r in data["rows"]), [r for r in data["rows"] if not r["within_band"]]
    page = Path(PAGE).read_text()
    assert page_with_table(page, data["rows"], CHUNKED_START, CHUNKED_END) == page


def test_a_chunked_replicate_takes_the_chunked_path_and_covers_like_the_recorded_suite():
    """Twelve seeded replicates of the recorded simulation run here, so a change to the chunked path that breaks
    its intervals fails the suite before the results file is recorded again."""
    from gapviz.science import chunked

    assert chunked.streams(C.CHUNKED_N, C.CHUNKED_N, None)
    (row,) = C.coverage("moderate", C.CHUNKED_N, ["gap_distance"], replicates=12)
    assert row.covered >= 9, row


@pytest.mark.parametrize("case", ["halves", "none", "moderate"])
def test_every_interval_compute_all_prints_holds_its_point(case):
    """`gapviz analyze` never prints a point outside its interval (issue 19), on the null and on a real gap."""
    from gapviz.science.metrics import compute_all

    rng = np.random.default_rng([C.SUITE_SEED, 7])
    for _ in range(3):
        x, y = C.draw(case, 120, rng)
        values = compute_all(x, y, n_resamples=200, labels=rng.integers(0, 4, len(x)))
        for key, (lo, hi) in ((k, v) for k, v in values.items() if k.endswith("_ci95")):
            point = values[key[: -len("_ci95")]]
            if np.isfinite(point) and np.isfinite(lo):
                assert lo <= point <= hi, f"{key}: {point} outside [{lo}, {hi}]"


def test_probe_accuracy_interval_covers_chance_on_the_null():
    """200 replicates here (each fits a nested-CV probe; the band widens to 3 SE at 200), 400 in the recorded table."""
    rows = C.null_coverage(100, replicates=200)
    probe = next(r for r in rows if r.metric == "modality_probe_accuracy")
    _check([probe])
    gap = next(r for r in rows if r.metric == "distribution_gap")
    _check([probe, gap])


@pytest.mark.parametrize("n", C.SIZES)
def test_transfer_intervals_cover_chance_on_random_labels(n):
    _check(C.random_labels_coverage(n))


def _shape_pair(rng, n):
    """Two modalities whose shapes differ (one axis stretched before projecting to the sphere): MMD² > 0."""
    x = rng.normal(size=(n, 8))
    y = rng.normal(size=(n, 8)) * np.array([2.0, 1, 1, 1, 1, 1, 1, 1])
    return x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)


def test_distribution_gap_interval_covers_a_shape_difference():
    """Away from the null the half-sample interval takes the regular limit; 100 replicates, band 3 SE of 0.95."""
    from gapviz.science.kernels import distribution_gap

    truth = distribution_gap(*_shape_pair(np.random.default_rng(999), 3000), max_pairs=3000)["distribution_gap"]
    assert truth > 0.004
    covered = 0
    for rep in range(100):
        lo, hi = distribution_gap(*_shape_pair(np.random.default_rng(rep), 200), n_resamples=1, seed=rep)[
            "distribution_gap_ci95"
        ]
        covered += int(lo <= truth <= hi)
    assert 0.95 - 3 * np.sqrt(0.95 * 0.05 / 100) <= covered / 100 <= 1.0
