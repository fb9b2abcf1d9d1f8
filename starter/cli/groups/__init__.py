"""The command groups of ``party-orders``, in the order ``--help`` lists them. Each group
registers its commands, with their options, beside their handlers."""

from __future__ import annotations

from starter.cli.arguments import CommandGroup
from starter.cli.groups import local, messages, orders, reports, services

GROUPS: tuple[CommandGroup, ...] = (
    local.commands,
    orders.commands,
    messages.commands,
    reports.commands,
    services.commands,
)
