"""Registers the built-in executors through clusterlab's hooks."""

from __future__ import annotations

from typing import Any

from clusterlab import hookimpl


@hookimpl
def register_executors(register: Any) -> None:
    """Register ``local``, ``processes`` and ``ray`` (Ray itself is imported only when used)."""
    from clusterlab.executors.local import LocalExecutor
    from clusterlab.executors.processes import ProcessesExecutor
    from clusterlab.executors.ray_executor import RayExecutor

    register("local", LocalExecutor, description="in this process, one trial after the other")
    register("processes", ProcessesExecutor, description="worker processes on this machine")
    register("ray", RayExecutor, description="Ray tasks on a cluster or a local Ray runtime")
