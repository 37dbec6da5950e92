"""The science: pure functions of arrays (metrics, projections, temperature, swap, theory).

No torch training, Redis or Streamlit."""
