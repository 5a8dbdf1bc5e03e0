"""A progress bar over trials: done, failed, skipped, and the one running."""

from __future__ import annotations

import sys
from typing import Any


class TrialProgress:
    """Shows progress with rich where a terminal is attached; silent otherwise."""

    def __init__(self, total: int, enabled: bool | None = None, console: Any = None) -> None:
        self.total = total
        self.counts = {"FINISHED": 0, "FAILED": 0, "SKIPPED": 0, "KILLED": 0}
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.console = console
        self._progress: Any = None
        self._task: Any = None
        self._current = ""

    def __enter__(self) -> TrialProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            console = self.console or Console(stderr=True)
            self._progress = Progress(
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self._describe(), total=self.total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._current = ""
            self._progress.update(self._task, description=self._describe())
            self._progress.__exit__(*exc_info)

    def _describe(self) -> str:
        counts = self.counts
        text = (
            f"[green]done {counts['FINISHED']}[/] · [red]failed {counts['FAILED']}[/] · "
            f"[dim]skipped {counts['SKIPPED']}[/]"
        )
        if self._current:
            text += f" · running {self._current}"
        return text

    def start(self, name: str) -> None:
        """Show ``name`` as the running trial."""
        self._current = name
        if self._progress is not None:
            self._progress.update(self._task, description=self._describe())

    def advance(self, status: str) -> None:
        """Count one trial that ended with ``status``."""
        self.counts[status] = self.counts.get(status, 0) + 1
        self._current = ""
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=self._describe())
