"""The `gapviz` command."""
