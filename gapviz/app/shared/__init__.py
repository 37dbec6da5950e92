"""What several pages use; imports no feature package.

``common.py`` page table, escaping, errors, run store and queue access; ``access.py`` and ``gate.py`` the access
token and the ASGI gate; ``frames.py`` pure data preparation (numpy/pandas); ``analysis.py`` an ``Analysis``
per source (metrics, projections, shift); ``scatter.py`` the Plotly WebGL scatter; ``measures.py`` warnings and
Live's epoch row; ``form.py`` the RunConfig form specs; ``compare_frames.py`` and
``settings_plot.py`` Compare's frames and research views (Live draws the gap against β too).
"""
