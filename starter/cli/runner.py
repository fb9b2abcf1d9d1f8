"""Running one command line: parse it, run the command, and turn every failure into one
line on stderr and an exit code (see ``starter.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import Sequence

from settings import Settings
from starter.cli import arguments
from starter.cli.arguments import UsageError
from starter.cli.groups import GROUPS
from starter.errors import InvalidInput, OrderNotFound, PartyOrderError, ServerUnavailable
from starter.local.devserver import DevServerError
from starter.output import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    PROG,
    fail,
)


def build_parser() -> argparse.ArgumentParser:
    return arguments.build_parser(GROUPS)


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, (InvalidInput, UsageError)):
        return EXIT_BAD_INPUT
    if isinstance(error, OrderNotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, ServerUnavailable):
        return EXIT_UNREACHABLE
    return EXIT_ERROR


async def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code, never raises."""
    try:
        return await _run(argv)
    finally:
        # An error's traceback keeps the Temporal client alive in a reference cycle. If the
        # client is only collected while the interpreter shuts down, its Rust runtime may
        # call into Python too late and crash the process (SIGSEGV/SIGABRT instead of our
        # exit code). Collecting it here, while the event loop still runs, avoids that.
        gc.collect()
        await asyncio.sleep(0.05)


async def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        fail(str(error).removeprefix(f"{PROG}: "))
        return EXIT_BAD_INPUT
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_OK
    try:
        return await args.handler(args)
    except (PartyOrderError, UsageError, DevServerError) as error:
        fail(str(error))
        return exit_code_for(error)
    except BrokenPipeError:
        raise  # the reader of our output is gone: nothing to report (see main)
    except Exception as error:
        if Settings.from_env().debug:
            raise
        fail(
            f"unexpected {type(error).__name__}: {error} (set PARTY_ORDERS_DEBUG=1 for a traceback)"
        )
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The ``party-orders`` entry point; returns the exit code (the console script exits
    with it). Must not be called from a running event loop: use ``run`` there."""
    try:
        return asyncio.run(run(argv))
    except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C, or one mid-start
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`party-orders list | head`): end quietly, as a shell tool
        # does. Point stdout at /dev/null so the interpreter's final flush cannot fail too.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
