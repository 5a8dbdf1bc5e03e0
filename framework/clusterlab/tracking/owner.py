"""Which process owns a run, and whether that process still exists.

A process killed outright (SIGKILL, the out-of-memory killer, a crash in native code)
cannot end its runs, so they would stay RUNNING for good. Each parent run records its
host, process id and the process's start time; a later invocation on the same host ends
the runs whose process is gone. A run from another host is left alone: nothing here can
tell whether its process still lives.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import clusterlab.tracking.tags as tags_


def owner_tags() -> dict[str, str]:
    """The tags naming this process as a run's owner: host, process id and start time."""
    pid = os.getpid()
    return {
        tags_.OWNER_HOST: socket.gethostname(),
        tags_.OWNER_PID: str(pid),
        tags_.OWNER_STARTED: _start_time(pid),
    }


def owner_gone(run_tags: Mapping[str, str]) -> str | None:
    """Why the process that owns a run (by its :func:`owner_tags`) no longer exists, or
    ``None`` where it may still run: it is alive, on another host, or not recorded."""
    host, pid_text = run_tags.get(tags_.OWNER_HOST), run_tags.get(tags_.OWNER_PID, "")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    where = f"process {pid} on {host}"
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"{where} no longer exists"
    except PermissionError:
        pass  # it exists, under another user
    started = run_tags.get(tags_.OWNER_STARTED, "")
    now = _start_time(pid)
    # The process id was reused by a process that started later.
    if started and now and started != now:
        return f"{where} no longer exists (its id now belongs to another process)"
    return None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot where ``/proc`` has it, else
    an empty string."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses; fields after its last
    # ")" are plain. The start time is field 22.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""
