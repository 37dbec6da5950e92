"""Theory: the closed-form and simulated results behind the gap, drawn from ``gapviz.science.theory``.

Where to change what: everything is in ``theory.py``; the formulas themselves live in ``gapviz.science.theory``.
"""
