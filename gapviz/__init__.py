"""gapviz: study the modality gap of CLIP-style contrastive models.

From a notebook: ``gapviz.analyze(image, text)`` (gapviz.api), imported on first use so that ``import gapviz``
stays light (the app's pages never import torch).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["analyze"]


def __getattr__(name: str) -> Any:
    if name == "analyze":
        from gapviz.api import analyze

        return analyze
    raise AttributeError(f"module 'gapviz' has no attribute {name!r}")
