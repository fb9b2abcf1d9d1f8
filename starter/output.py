"""What the command line prints: one line per fact on stdout, one per failure on stderr,
and the exit codes."""

from __future__ import annotations

import logging
import sys

from settings import Settings

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


def say(text: str = "") -> None:
    # Looked up at call time so that redirected/captured stdout is honoured.
    print(text, file=sys.stdout, flush=True)


def warn(text: str) -> None:
    """A hint on stderr: the command did what was asked, and a person should know more."""
    print(f"{PROG}: note: {text}", file=sys.stderr, flush=True)


def fail(text: str) -> None:
    print(f"{PROG}: error: {' '.join(text.split())}", file=sys.stderr, flush=True)


def setup_logging(default: str, settings: Settings | None = None) -> None:
    """Logging at ``PARTY_ORDERS_LOG_LEVEL``, else at ``default``."""
    logging.basicConfig(
        level=(settings or Settings.from_env()).log_level(default),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
