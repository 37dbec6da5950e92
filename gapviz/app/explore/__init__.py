"""Explore: one embedding source (a run epoch, a checkpoint, gapviz-tiny or an upload) as a scatter, and its measures.

Where to change what: ``explore.py`` picks the source and lays the page out; ``state.py`` (``ExploreState``) names
every session key and owns the URL round trip (?source=&run=&epoch=&method=); ``views.py`` draws the scatter,
selection, metrics and cone sections; ``anatomy.py`` the gap anatomy and the training-free fixes; ``compare.py``
the comparison with another epoch/run and the aligned-UMAP epochs; ``shift.py`` the shift sweep;
``selection.py`` selections, tables and neighbours; ``projection_cache.py`` UMAP in a child process and its
cache; ``hover_images.py`` with ``thumb_sheets.py`` the images shown on hover.
"""
