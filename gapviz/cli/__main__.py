"""`python -m gapviz.cli.main`."""

import sys

from gapviz.cli.main import main

sys.exit(main())
