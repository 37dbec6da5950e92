"""Launch: build a RunConfig (or a sweep over settings and seeds) in a form and queue it.

Where to change what: ``launch.py`` lays out the page, presets, sweeps and the submit; ``launch_form.py`` draws
the fields and owns the form's state (``FormState``); which fields exist and apply when is in
``gapviz.app.shared.form``.
"""
