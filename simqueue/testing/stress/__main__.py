"""``python -m simqueue.testing.stress`` (``make crashtest``): progress on stderr, the summary on
stdout."""

import sys

from simqueue.testing.logsetup import log_progress_to_stderr
from simqueue.testing.stress.cli import main

if __name__ == "__main__":  # not when a spawned process imports this module
    log_progress_to_stderr("simqueue.testing.stress")
    sys.exit(main())
