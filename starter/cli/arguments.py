"""Parsing the command line: the registry each command group adds its commands to, the
options several commands share, and arguments as the wire wants them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from starter.dates import parse_instant
from starter.errors import InvalidInput
from starter.output import PROG
from workflows.domain.instants import iso


class UsageError(Exception):
    """A command line argparse refused; shown as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def instant_arg(text: str, what: str) -> str:
    """A date argument as the wire wants it: ISO 8601 with an offset (a date-time without
    one is refused, as the contract refuses it; a date alone means midnight UTC)."""
    try:
        value = parse_instant(text, what=what, now=datetime.now(UTC), naive_is_utc=False)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return iso(value)


def pair_arg(text: str, what: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key:
        raise InvalidInput(f"{what}: expected ID or ID=VALUE, got {text!r}")
    return key, (value if sep else None)


def read_json(path: str) -> Any:
    name = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"cannot read {name}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{name} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None


Handler = Callable[[argparse.Namespace], Awaitable[int]]
Options = Callable[[argparse.ArgumentParser], None]
H = TypeVar("H", bound=Handler)


def no_options(parser: argparse.ArgumentParser) -> None:
    """A command that takes no options."""


@dataclass(frozen=True)
class Command:
    """One command: its name (``api-key create`` for an action of ``api-key``), its help,
    the options it takes, and the handler that runs it."""

    name: str
    text: str
    options: Options
    handler: Handler


@dataclass(frozen=True)
class Parent:
    """A command whose actions are commands of their own (``api-key create|list|...``)."""

    name: str
    text: str
    description: str


@dataclass
class CommandGroup:
    """The commands of one group, each registered beside its handler:

    def show_options(parser): ...

    @commands.command("show", "show one order", show_options)
    async def cmd_show(args): ...
    """

    commands: list[Command] = field(default_factory=list)
    parents: dict[str, Parent] = field(default_factory=dict)

    def command(self, name: str, text: str, options: Options = no_options) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.commands.append(Command(name, text, options, handler))
            return handler

        return register

    def parent(self, name: str, text: str, description: str) -> None:
        self.parents[name] = Parent(name, text, description)


def order_id_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id", metavar="ID", help="the order id (e.g. PO-1001)")


def request_id_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        help="idempotency key: a message with an applied id is not applied twice",
    )


def build_parser(groups: Sequence[CommandGroup]) -> argparse.ArgumentParser:
    """The parser of every command of ``groups``, in the order they were registered."""
    parser = Parser(
        prog=PROG,
        description="Track & Manage Party Orders (TM Forum eTOM 1.6.8.3) on Temporal.",
        epilog="Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,"
        " TEMPORAL_TLS_*, TEMPORAL_PROFILE; task queue: PARTY_ORDERS_TASK_QUEUE.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    actions: dict[str, Any] = {}  # the subparsers of each parent command
    for group in groups:
        for command in group.commands:
            parent_name, _, action = command.name.rpartition(" ")
            if parent_name:
                if parent_name not in actions:
                    parent = group.parents[parent_name]
                    holder = commands.add_parser(
                        parent.name, help=parent.text, description=parent.description
                    )
                    actions[parent_name] = holder.add_subparsers(
                        dest="action", metavar="ACTION", parser_class=Parser
                    )
                    actions[parent_name].required = True
                sub = actions[parent_name].add_parser(action, help=command.text)
            else:
                sub = commands.add_parser(command.name, help=command.text, description=command.text)
            sub.set_defaults(handler=command.handler)
            command.options(sub)
    return parser
