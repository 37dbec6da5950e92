"""Compare: many runs side by side (curves with seed bands, final values, settings plots, scatters per epoch).

Where to change what: ``compare.py`` lays out the tabs; ``run_picker.py`` filters and picks the runs; the frames
(filters, group-by-settings, seed bands, fits) are pure functions in ``gapviz.app.shared.compare_frames`` and
the metric-against-setting and gap-against-β views are in ``gapviz.app.shared.settings_plot`` (Live uses them too).
"""
