"""Progress of the testing tools: each logs through ``logging.getLogger(__name__)``; their
``python -m`` entry points show those lines on stderr, one plain line each."""

from __future__ import annotations

import logging
import sys


def log_progress_to_stderr(logger_name: str) -> None:
    """Show ``logger_name``'s INFO lines (and worse) on stderr, without level or time prefix."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a root handler configured elsewhere would print each line twice
