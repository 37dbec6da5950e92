"""Explore: one embedding source (a run epoch, a checkpoint, gapviz-tiny or an upload) as a scatter, and its measures.

Where to change what: ``explore.py`` picks the source and lays the page out; ``state.py`` (``ExploreState``) names
every session key and owns the URL round trip (?source=&run=&epoch=&method=); ``views.py`` draws the headline
numbers, the scatter with the inspected point beside it, the selection, metrics and cone sections;
``metric_groups.py`` picks the headline metrics and groups the rest from the catalog; ``anatomy.py`` the gap
anatomy; ``compare.py`` the comparison with another epoch/run or a training-free fix (their one place) and
the aligned-UMAP epochs; ``shift.py`` the shift sweep;
``selection.py`` selections, tables and neighbours; ``projection_cache.py`` UMAP in a child process and its
cache; ``hover_images.py`` with ``thumb_sheets.py`` the images shown on hover.
"""
