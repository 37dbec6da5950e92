"""The science: pure functions of arrays (metrics, projections, temperature, swap, theory); no torch training, Redis or Streamlit."""
