"""Models, the training loop, evaluation and checkpoints; knows nothing of Redis or Streamlit."""
