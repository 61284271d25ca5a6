"""``python -m benchmarks.report``: redraw ``docs/performance.md`` from ``results.json``."""

import sys

from . import main

sys.exit(main())
