"""Fork server of the fault suite: imports the CLI once, then forks one child per run.

Importing ``loan_recovery.cli`` costs seconds of CPU (pandas, scikit-learn, XGBoost,
SHAP); paying it once per run would put 200 runs far outside a CI budget. This process,
started by the suite with a clean environment (``OMP_NUM_THREADS=1``), imports it once and
never runs a command itself. For each request it forks a child that redirects its output,
takes the request's environment and folder, runs the real command
(:func:`killpoints.run_cli`) and exits with its code: a separate process with its own
database connections and sockets, killed with SIGKILL like any other.

Protocol, one JSON object per line: the suite writes ``{"argv", "env", "cwd", "stdout",
"stderr", "kill_after", "timeout"}`` on stdin; the server answers ``{"pid", "returncode",
"elapsed", "killed", "timed_out"}`` on stdout when the child has ended. ``kill_after``
(seconds after the fork, or null) is when the server SIGKILLs a child still running; it
alone reaps its children, so it never signals a recycled pid.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

import killpoints

import loan_recovery.cli  # noqa: F401 - the expensive import, done once before any fork

INTERNAL_ERROR = 70
#: Modules the commands import lazily, on first use (model files, the installment job,
#: phone numbers): imported once here as well, so a run pays for its work only.
WARM_IMPORTS = (
    "loan_recovery.models.risk_io",
    "loan_recovery.jobs.payments_import",
    "phonenumbers",
)


def _child(request: dict[str, Any], out: int, err: int, started: float) -> None:
    code = INTERNAL_ERROR
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        code = killpoints.run_cli(list(request["argv"]), started=started)
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, kill_after: float | None, timeout: float) -> tuple[bool, bool]:
    """Wait for the child; SIGKILL it at ``kill_after`` (killed) or ``timeout`` (timed out)."""
    handle = os.pidfd_open(pid)
    try:
        limit = timeout if kill_after is None else min(kill_after, timeout)
        ready, _, _ = select.select([handle], [], [], max(limit, 0.0))
        if ready:
            return False, False
        os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's
        return kill_after is not None and kill_after <= timeout, kill_after is None
    finally:
        os.close(handle)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    out = os.open(request["stdout"], flags, 0o644)
    err = os.open(request["stderr"], flags, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request, out, err, start)
    os.close(out)
    os.close(err)
    killed, timed_out = _wait(pid, request.get("kill_after"), float(request["timeout"]))
    _, status = os.waitpid(pid, 0)
    return {
        "pid": pid,
        "returncode": os.waitstatus_to_exitcode(status),
        "elapsed": time.monotonic() - start,
        "killed": killed,
        "timed_out": timed_out,
    }


def main() -> None:
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints of this process must not corrupt the replies
    replies.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if line.strip():
            replies.write(json.dumps(_run(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
