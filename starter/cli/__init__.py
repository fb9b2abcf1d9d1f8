"""``party-orders``: the command line of the party-order tracker.

    party-orders up [--demo]            local Temporal dev server + Web UI + a worker
    party-orders start FILE.json        start tracking an order ("-" reads stdin)
    party-orders show ID [--json]       one order: state, progress, jeopardy, milestones...
    party-orders list [filters] [--json]
    party-orders progress|change|resolve|state|cancel|check-in ID ...
    party-orders report [--json]        counts by state and jeopardy, orders needing someone
    party-orders api [--host H] [--port P]          the HTTP API (starter/api)
    party-orders api-key create|list|revoke ...     its keys

People get readable text; ``--json`` gives scripts the camelCase JSON of the contract.
Every failure is one line on stderr and an exit code: 2 bad input, 3 unknown order,
4 Temporal unreachable, 5 a state change taken but not yet applied (no worker answered in
time), 1 anything else (130 when interrupted).

The commands come in groups (``starter.cli.groups``), each registering its commands with
their options beside their handlers; ``starter.cli.runner`` parses and runs them.
"""

from starter.cli.runner import main

__all__ = ["main"]
