"""Benchmarks of the party-order tracker against Temporal's own floor.

    python -m benchmarks.run [--orders N] [--scale-orders M] [--quick] [--json PATH]

Everything runs locally with the project's own tools: a Temporal dev server and the
time-skipping test server from PyPI, workers in subprocesses. See ``benchmarks/README.md``.
"""
