"""Test-only kill points: the real ``loan-recovery`` command, SIGKILLed at its Nth commit.

Nothing in the package reads these variables: the hook is installed only by this
module, in a process the fault suite started (a fork-server child, or
``python killpoints.py ARGS`` in the ``exec`` launch mode).

:func:`run_cli` runs ``loan_recovery.cli.app`` with ``ARGS`` after wrapping SQLAlchemy's
commit (``DefaultDialect.do_commit``, the one place every dialect commits through):

* ``LOAN_RECOVERY_FAULT_KILL_AT=N:before`` SIGKILLs the process just before its Nth
  database commit reaches the database: N - 1 transactions are durable, the Nth is not.
* ``LOAN_RECOVERY_FAULT_KILL_AT=N:after`` SIGKILLs it just after the Nth commit returned:
  N transactions are durable and nothing after it happened (for ``remind``, the commit
  of ``delivering`` followed by a kill is the moment between the handover and the SMTP
  server's reply).
* ``LOAN_RECOVERY_FAULT_RECORD=PATH`` writes, when the command ends, how many commits it
  made and when (seconds since the command started): the clean run that sizes the trials.

SIGKILL is the point: no ``finally``, no ``atexit``, no flush; the kernel closes the
files and sockets, as when a machine loses the process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: When this module was first imported: the process start when run as a script.
STARTED = time.monotonic()
KILL_AT_ENV = "LOAN_RECOVERY_FAULT_KILL_AT"
RECORD_ENV = "LOAN_RECOVERY_FAULT_RECORD"
PHASES = ("before", "after")


@dataclass
class CommitCounter:
    """Commits made so far, when (seconds since ``start``), and where to die."""

    kill_at: int | None = None
    phase: str = "before"
    start: float = field(default_factory=time.monotonic)
    times: list[float] = field(default_factory=list)

    @property
    def commits(self) -> int:
        return len(self.times)

    def as_dict(self) -> dict[str, Any]:
        return {
            "commits": self.commits,
            "commit_times": self.times,
            "elapsed": time.monotonic() - self.start,
        }


def parse_kill_at(text: str | None) -> tuple[int | None, str]:
    """``"7:after"`` -> ``(7, "after")``; blank -> no kill point."""
    if not text:
        return None, "before"
    number, _, phase = text.partition(":")
    phase = phase or "before"
    if not number.isdigit() or int(number) < 1 or phase not in PHASES:
        raise ValueError(f"{KILL_AT_ENV} must look like 7:before or 7:after; got {text!r}.")
    return int(number), phase


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(environ: Mapping[str, str], *, started: float) -> CommitCounter:
    """Wrap every dialect's commit to count commits and die at the configured one;
    commit times count from ``started`` (a ``time.monotonic()`` value)."""
    from sqlalchemy.engine.default import DefaultDialect

    kill_at, phase = parse_kill_at(environ.get(KILL_AT_ENV))
    counter = CommitCounter(kill_at=kill_at, phase=phase, start=started)
    original: Any = DefaultDialect.do_commit

    def do_commit(self: DefaultDialect, dbapi_connection: Any) -> None:
        number = counter.commits + 1
        if number == counter.kill_at and counter.phase == "before":
            _die()
        original(self, dbapi_connection)
        counter.times.append(time.monotonic() - counter.start)
        if number == counter.kill_at and counter.phase == "after":
            _die()

    DefaultDialect.do_commit = do_commit  # type: ignore[method-assign]
    return counter


def run_cli(argv: list[str], *, started: float = STARTED) -> int:
    """Run ``loan-recovery ARGV`` in this process with the hooks of the environment; its
    exit code (the command's own, as the console script would return it). ``started``:
    when the process began (as its launcher counts the kill delay), for the record."""
    counter = install(os.environ, started=started)
    from loan_recovery.cli import app

    code = 0
    try:
        app(args=argv, prog_name="loan-recovery")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        record = os.environ.get(RECORD_ENV)
        if record:
            Path(record).write_text(json.dumps(counter.as_dict()))
    return code


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
