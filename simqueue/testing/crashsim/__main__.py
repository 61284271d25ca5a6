"""``python -m simqueue.testing.crashsim`` (``make crashtest``): progress on stderr, table on
stdout."""

import sys

from simqueue.testing.crashsim.cli import main
from simqueue.testing.logsetup import log_progress_to_stderr

if __name__ == "__main__":  # not when a spawned worker process imports this module
    log_progress_to_stderr("simqueue.testing.crashsim")
    sys.exit(main())
