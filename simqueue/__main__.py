"""``python -m simqueue``: the same command line as the ``simqueue`` console script."""

import sys

from simqueue.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
