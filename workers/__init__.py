"""The RQ worker process of gapviz: `python -m workers.worker` (or `gapviz worker`)."""
