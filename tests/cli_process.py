"""The ``clusterlab`` command run as a user runs it: in a subprocess, output captured."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``clusterlab ARGS`` with this interpreter and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "clusterlab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else dict(env),
        timeout=timeout,
    )
