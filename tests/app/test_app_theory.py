"""Theory page (AppTest): the gradient-flow sandbox with its checks and fits; numpy only."""

from __future__ import annotations

import math

from app_fixtures import open_page, texts

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
    assert len(at.get("vega_lite_chart")) == 2


def test_fixed_temperature_keeps_tau(home):
    at = open_page("theory")
    at.selectbox(key="theory_temperature").set_value("fixed")
    at.number_input(key="theory_steps").set_value(300)
    at.number_input(key="theory_tau0").set_value(0.5)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert [m.value for m in at.metric if m.label == "final τ"] == ["0.5"]
