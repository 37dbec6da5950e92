"""Live: follow queued and running runs (progress, ETA, metrics per epoch) and cancel them.

Where to change what: everything is in ``live.py``; the epoch row comes from ``gapviz.app.shared.measures`` and
the gap-against-β view from ``gapviz.app.shared.settings_plot``.
"""
