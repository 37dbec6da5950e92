"""Theory page (AppTest): the gradient-flow sandbox with its checks and fits; numpy only."""

from __future__ import annotations

import math

import pytest
from app_fixtures import open_page, plain, texts

from gapviz.app.theory.theory import TRIVIAL_BOUND
from gapviz.science.theory import CANDIDATE_FITS, DEFAULT_STEPS, TheoryConfig


def test_sandbox_simulates_checks_and_fits(home):
    at = open_page("theory")
    assert not at.exception
    defaults = TheoryConfig()
    expected = {
        "theory_n": defaults.n,
        "theory_d": defaults.d,
        "theory_tau0": defaults.tau0,
        "theory_steps": DEFAULT_STEPS,
        "theory_lr": defaults.lr,
        "theory_seed": 0,
        "theory_clamp": defaults.max_logit_scale,
    }
    assert {key: at.number_input(key=key).value for key in expected} == expected
    assert at.selectbox(key="theory_temperature").options == ["learnable", "softplus", "fixed"]
    at.number_input(key="theory_steps").set_value(3000)
    at.number_input(key="theory_n").set_value(8)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    page = texts(at)
    assert "gap at t = 0" in page and "final τ" in page
    checks = at.dataframe[0].value
    assert checks["check"].tolist()[:2] == ["gap·log²t over the window", "slope of log|dγ/dβ| against log β"]
    fits = at.dataframe[1].value
    assert set(fits["fit of the gap"]) <= set(CANDIDATE_FITS) and len(fits) >= 3
    assert all(math.isfinite(v) for v in fits["AIC"])
    assert len(at.get("vega_lite_chart")) == 3  # the features, the gap with its fits, τ · loss · matched


def test_defaults_say_the_gap_levels_off_and_the_bound_check_is_not_informative(home):
    """Researchers: with the defaults the gap levels off at ≈ 1.0, so 'gap·log²t never falls' is trivially true."""
    at = open_page("theory")
    assert not at.exception and not at.error
    [said] = [w.value for w in at.warning if "not closing" in w.value]
    assert plain(said).startswith("The gap is not closing: it levels off at ≈ 1.00 (plateau c of a / log²t + c")
    bound = at.dataframe[0].value.set_index("check").loc["gap·log²t over the window", "here"]
    assert bound == "not informative: the gap levels off" and TRIVIAL_BOUND in texts(at)


@pytest.mark.slow
def test_a_fixed_temperature_closes_and_keeps_the_bound_check(home):
    at = open_page("theory")
    at.selectbox(key="theory_temperature").set_value("fixed")
    at.number_input(key="theory_steps").set_value(10_000)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert any(plain(i.value).startswith("The gap is closing") for i in at.info)
    bound = at.dataframe[0].value.set_index("check").loc["gap·log²t over the window", "here"]
    assert bound in {"never falls", "falls somewhere"} and TRIVIAL_BOUND not in texts(at)


def test_fixed_temperature_keeps_tau(home):
    at = open_page("theory")
    at.selectbox(key="theory_temperature").set_value("fixed")
    at.number_input(key="theory_steps").set_value(300)
    at.number_input(key="theory_tau0").set_value(0.5)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert [m.value for m in at.metric if m.label == "final τ"] == ["0.5"]


def test_gap_chart_gives_each_fit_its_colour_dash_and_end_label():
    """The five lines overlapped (issue 22): each fit now differs in colour and dash and is named at its end."""
    import pandas as pd

    from gapviz import charts
    from gapviz.app.theory.theory import GAP_METRIC, fit_frames
    from gapviz.science.theory import simulate, slow_phase_checks

    result = simulate(TheoryConfig(steps=10_000))
    fits, _ = fit_frames(result, slow_phase_checks(result))
    curves = pd.DataFrame(result.long_frame())
    spec = charts.time_curves(curves[curves["metric"] == GAP_METRIC], fits=fits, renderer="svg").to_dict()
    line, labels = spec["spec"]["layer"]
    colour, dash = line["encoding"]["color"]["scale"], line["encoding"]["strokeDash"]["scale"]
    assert len(colour["domain"]) == 1 + len(set(fits["fit"])) == len(set(colour["range"]))
    assert len({tuple(d) for d in dash["range"]}) == len(dash["domain"])
    assert line["encoding"]["y"]["title"].startswith("Gap (") and "log scale" in line["encoding"]["x"]["title"]
    rows = next(iter(spec["datasets"].values()))
    ends = sorted(r["label_y"] for r in rows if r.get("label_y") is not None)
    assert len(ends) == len(set(fits["fit"])) and {r["label"] for r in rows if r.get("label_y") is not None} == set(
        fits["fit"]
    )
    span = max(r["value"] for r in rows) - min(r["value"] for r in rows)
    assert all(b - a >= 0.069 * span for a, b in zip(ends, ends[1:], strict=False))  # labels do not overlap
    assert labels["mark"]["type"] == "text" and spec["usermeta"]["embedOptions"]["renderer"] == "svg"
