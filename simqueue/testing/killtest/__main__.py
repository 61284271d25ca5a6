"""``python -m simqueue.testing.killtest`` (``make crashtest``): progress on stderr, the summary
on stdout."""

import sys

from simqueue.testing.killtest.cli import main
from simqueue.testing.logsetup import log_progress_to_stderr

if __name__ == "__main__":  # not when a spawned process imports this module
    log_progress_to_stderr("simqueue.testing.killtest")
    sys.exit(main())
