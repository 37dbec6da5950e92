"""Theory page (AppTest): the gradient-flow sandbox with its fits; numpy only."""

from __future__ import annotations

from app_fixtures import open_page, texts


def test_sandbox_simulates_and_fits(home):
    at = open_page("theory")
    assert not at.exception
    for key in ("theory_n", "theory_d", "theory_tau0", "theory_steps", "theory_lr", "theory_seed"):
        assert at.number_input(key=key) is not None
    assert at.selectbox(key="theory_temperature").options == ["learnable", "softplus", "fixed"]
    at.number_input(key="theory_steps").set_value(600)
    at.number_input(key="theory_n").set_value(8)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    page = texts(at)
    assert "gap at t = 0" in page and "final τ" in page
    fits = at.dataframe[0].value
    names = fits["fit of the gap"].tolist()
    assert len(names) == 2 and "log" in names[0] and names[1].startswith("a·exp")
    assert len(at.get("vega_lite_chart")) == 2


def test_fixed_temperature_keeps_tau(home):
    at = open_page("theory")
    at.selectbox(key="theory_temperature").set_value("fixed")
    at.number_input(key="theory_steps").set_value(300)
    at.number_input(key="theory_tau0").set_value(0.5)
    [b for b in at.button if b.label == "Simulate"][0].click().run()
    assert [m.value for m in at.metric if m.label == "final τ"] == ["0.5"]
