"""Where the worker's CPU time goes: py-spy samples of every Python thread, summarized.

The Python SDK runs workflow code in a thread pool, not on the event loop's thread, so a
profiler that only samples one thread (pyinstrument) misses it; py-spy samples them all
from outside the process. It is optional (``pip install py-spy``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Functions of interest in the worker: the tracker's own work and what the SDK does for it.
WATCHED = {
    "TrackPartyOrder._publish": r"_publish \(.*track_party_order",
    "details_markdown (current details)": r"details_markdown \(",
    "search_attribute_values / changed_pairs": r"(search_attribute_values|changed_pairs) \(",
    "next_due / deadlines": r"(next_due|deadlines) \(",
    "PartyOrderTracker.advance": r"advance \(.*tracker",
    "PartyOrderTracker.handle (signals)": r"handle \(.*tracker",
    "get_order query": r"get_order \(.*track_party_order",
    "pydantic validation": r"(model_validate|validate_python|validate_json) \(",
    "pydantic serialization": (
        r"(model_dump|to_json_dict|to_jsonable_python|dump_python|dump_json) \("
    ),
    "payload conversion (SDK)": r"(to_payloads?|from_payloads?) \(",
    "workflow sandbox (SDK)": r"\(.*temporalio/worker/workflow_sandbox/",
    "workflow activation (SDK)": r"activate \(.*temporalio/worker/_workflow_instance",
    "activities (project)": r"\(.*activities/",
}


@dataclass
class Profile:
    samples: int
    top_inclusive: list[tuple[str, int]] = field(default_factory=list)
    top_self: list[tuple[str, int]] = field(default_factory=list)
    watched: dict[str, int] = field(default_factory=dict)
    raw_path: str = ""

    def share(self, count: int) -> float:
        return round(100 * count / self.samples, 1) if self.samples else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "rawCollapsedStacks": self.raw_path,
            "watchedInclusivePercent": {k: self.share(v) for k, v in self.watched.items()},
            "topInclusivePercent": [(name, self.share(n)) for name, n in self.top_inclusive],
            "topSelfPercent": [(name, self.share(n)) for name, n in self.top_self],
        }

    def text(self) -> str:
        lines = [f"py-spy: {self.samples} samples of the thread holding the GIL ({self.raw_path})"]
        lines.append("  share of samples that include (inclusive):")
        for name, count in sorted(self.watched.items(), key=lambda item: -item[1]):
            lines.append(f"    {self.share(count):5.1f}%  {name}")
        lines.append("  top functions by own time (self):")
        for name, count in self.top_self[:15]:
            lines.append(f"    {self.share(count):5.1f}%  {name}")
        return "\n".join(lines)


_LINE_NUMBER = re.compile(r":\d+\)$")
# Frames of the project itself are shown relative to its folder, wherever it is checked out.
_PROJECT = f"{Path(__file__).resolve().parents[1]}/"


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (file.py)`` with the path shortened."""
    frame = _LINE_NUMBER.sub(")", frame.strip())
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", _PROJECT, "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


def summarize(collapsed: Path, top: int = 30) -> Profile:
    """Summarize py-spy's raw (collapsed stacks) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    watched: Counter[str] = Counter()
    patterns = {name: re.compile(pattern) for name, pattern in WATCHED.items()}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        functions = [_function(frame) for frame in frames]
        for function in set(functions):
            inclusive[function] += count
        own[functions[-1]] += count
        for name, pattern in patterns.items():
            if any(pattern.search(frame) for frame in frames):
                watched[name] += count
    return Profile(
        samples=total,
        top_inclusive=inclusive.most_common(top),
        top_self=own.most_common(top),
        watched={name: watched.get(name, 0) for name in WATCHED},
        raw_path=str(collapsed),
    )


class PySpy:
    """``async with PySpy(pid, output):`` record the process while the block runs."""

    def __init__(self, pid: int, output: Path, rate: int = 200) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self._process: asyncio.subprocess.Process | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("py-spy") is not None

    async def __aenter__(self) -> PySpy:
        executable = shutil.which("py-spy")
        if executable is None:
            raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            executable,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--gil",  # only the thread holding the GIL: Python's CPU time, not its waits
            "--output",
            str(self.output),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # let it attach before the work starts
        if self._process.returncode is not None:
            error = await self._process.stderr.read() if self._process.stderr else b""
            raise RuntimeError(f"py-spy could not attach: {error.decode(errors='replace')}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            await asyncio.wait_for(process.communicate(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()
