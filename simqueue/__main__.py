"""``python -m simqueue``: the same command line as the ``simqueue`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
