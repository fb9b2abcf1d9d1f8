"""What the command line prints: one line per fact on stdout, one per failure on stderr,
and the exit codes."""

from __future__ import annotations

import logging
import os
import sys

PROG = "party-orders"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_UNREACHABLE = 4
# Taken by Temporal, not yet applied: no worker answered in time (the change applies later).
EXIT_QUEUED = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a pipe closed early
LOG_LEVEL_ENV = "PARTY_ORDERS_LOG_LEVEL"


def say(text: str = "") -> None:
    # Looked up at call time so that redirected/captured stdout is honoured.
    print(text, file=sys.stdout, flush=True)


def fail(text: str) -> None:
    print(f"{PROG}: error: {' '.join(text.split())}", file=sys.stderr, flush=True)


def setup_logging(default: str) -> None:
    logging.basicConfig(
        level=os.environ.get(LOG_LEVEL_ENV, default).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
