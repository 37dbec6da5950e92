"""The papers' experiments: plans, runs, analyses and reports."""
