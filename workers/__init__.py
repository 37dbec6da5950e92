"""The RQ worker process of gapviz: `python -m gapviz.queue.worker` (or `gapviz worker`)."""
