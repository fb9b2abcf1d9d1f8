"""Figures against their targets: the printed table and the JSON document."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Comparison = Literal[">=", "<="]


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float
    unit: str = ""
    comparison: Comparison | None = None
    bound: float | None = None
    note: str = ""

    @property
    def target(self) -> str:
        if self.comparison is None or self.bound is None:
            return "-"
        return f"{self.comparison} {_number(self.bound)}{' ' + self.unit if self.unit else ''}"

    @property
    def met(self) -> bool | None:
        if self.comparison is None or self.bound is None:
            return None
        return self.value >= self.bound if self.comparison == ">=" else self.value <= self.bound

    @property
    def verdict(self) -> str:
        met = self.met
        return "-" if met is None else "met" if met else "NOT met"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "target": None if self.comparison is None else f"{self.comparison} {self.bound}",
            "met": self.met,
            "note": self.note,
        }


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def table(figures: list[Figure]) -> str:
    rows = [("Figure", "Value", "Target", "Result")]
    for figure in figures:
        value = _number(figure.value) + (f" {figure.unit}" if figure.unit else "")
        rows.append((figure.label, value, figure.target, figure.verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(widths[i]) if i == 1 else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine_lines(machine: dict[str, Any]) -> str:
    memory = machine.get("memoryBytes", 0) / 1024**3
    return (
        f"Machine: {machine.get('cpuModel')}, {machine.get('cores')} cores, {memory:.1f} GiB;"
        f" {machine.get('os')}\n"
        f"Python {machine.get('python')}, temporalio {machine.get('temporalio')},"
        f" {machine.get('temporalCli')}"
    )


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def progress(message: str) -> None:
    """A timestamped progress line on stderr (the table and JSON go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
