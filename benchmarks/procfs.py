"""What Linux's /proc tells about processes and the machine (psutil is not a dependency)."""

from __future__ import annotations

import os
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(path: Path) -> tuple[str, list[str]]:
    """(comm, fields after comm) of a /proc/.../stat file."""
    text = path.read_text()
    open_paren, close_paren = text.index("("), text.rindex(")")
    return text[open_paren + 1 : close_paren], text[close_paren + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process so far (all its threads)."""
    _, fields = _stat_fields(_PROC / str(pid) / "stat")
    # Fields after comm start at field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time by thread name (threads of one name added up)."""
    totals: dict[str, float] = defaultdict(float)
    for task in (_PROC / str(pid) / "task").iterdir():
        try:
            comm, fields = _stat_fields(task / "stat")
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        totals[comm] += (int(fields[11]) + int(fields[12])) / _TICKS
    return dict(totals)


def _status(pid: int) -> dict[str, str]:
    result = {}
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        name, _, value = line.partition(":")
        result[name] = value.strip()
    return result


def _kib(value: str) -> int:
    return int(value.split()[0]) * 1024


def peak_rss_bytes(pid: int) -> int:
    """The process's resident-set high-water mark (VmHWM)."""
    return _kib(_status(pid)["VmHWM"])


def rss_bytes(pid: int) -> int:
    return _kib(_status(pid)["VmRSS"])


def children(parent: int, name_prefix: str = "") -> list[int]:
    """Direct child processes of ``parent`` whose name starts with ``name_prefix``."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, fields = _stat_fields(entry / "stat")
        except (OSError, ValueError):
            continue
        if int(fields[1]) == parent and comm.startswith(name_prefix):
            found.append(int(entry.name))
    return found


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and OS of this machine."""
    model = platform.processor() or "unknown"
    try:
        for line in (_PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in (_PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = _kib(line.partition(":")[2].strip())
    except OSError:
        pass
    return {
        "cpuModel": model,
        "cores": os.cpu_count(),
        "memoryBytes": memory,
        "os": platform.platform(),
    }
