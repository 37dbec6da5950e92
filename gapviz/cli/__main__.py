"""`python -m gapviz.cli`."""

import sys

from gapviz.cli.main import main

sys.exit(main())
