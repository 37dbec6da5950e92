"""The RQ worker process: `python -m workers.worker` (what `gapviz up` and `gapviz worker` start).

A thin entry; the worker itself is :mod:`gapviz.queue.worker`.
"""

import sys

from gapviz.queue.worker import main

if __name__ == "__main__":
    sys.exit(main())
