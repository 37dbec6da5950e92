"""gapviz: study the modality gap of CLIP-style contrastive models."""

__version__ = "0.1.0"
