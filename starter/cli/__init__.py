"""``party-orders``: the command line of the party-order tracker."""

from starter.cli.commands import main

__all__ = ["main"]
