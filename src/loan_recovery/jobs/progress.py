"""Progress reporting that jobs emit and interfaces render (rich bar, log line, nothing)."""

from __future__ import annotations

from typing import Protocol


class ProgressReporter(Protocol):
    """What a long job tells its caller: a named stage began, a unit of work finished."""

    def start(self, total_steps: int) -> None:
        """The job will take ``total_steps`` units of work."""

    def stage(self, description: str) -> None:
        """A new stage begins; shown as the bar's label."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` units of work are done."""


class SilentProgress:
    """Reports nothing: the default for library calls and tests."""

    def start(self, total_steps: int) -> None:
        """Ignore the total."""

    def stage(self, description: str) -> None:
        """Ignore the stage."""

    def advance(self, steps: int = 1) -> None:
        """Ignore the step."""
