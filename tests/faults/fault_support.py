"""Helpers of the fault-injection suite: launch the CLI, kill it, copy databases, compare.

* :class:`ForkServer` (default) and :class:`ExecLauncher` (``LOAN_RECOVERY_FAULT_LAUNCH=exec``)
  run the real ``loan-recovery`` command in a separate process and SIGKILL it after a
  delay or at a commit (:mod:`killpoints`).
* :class:`SqliteCopies` and :class:`PostgresCopies` give every trial a fresh copy of the
  command's starting database.
* :func:`choose_kill_point` draws a trial's kill point from a seeded generator: every
  trial is reproducible from ``LOAN_RECOVERY_FAULT_SEED`` and its number.
* :class:`Scenario` runs a command's clean run and its trials (copy the store, kill the
  command, log where, rerun it): each test module adds only its own checks.
* :func:`table` reads a store table without the columns a rerun legitimately changes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from killpoints import KILL_AT_ENV, PHASES, RECORD_ENV

from db_support import PostgresDatabases
from loan_recovery.store.db import create_store_engine, parse_database_url
from loan_recovery.store.models import Base

HERE = Path(__file__).parent
TRIALS_ENV = "LOAN_RECOVERY_FAULT_TRIALS"
SEED_ENV = "LOAN_RECOVERY_FAULT_SEED"
LAUNCH_ENV = "LOAN_RECOVERY_FAULT_LAUNCH"
REPORT_ENV = "LOAN_RECOVERY_FAULT_REPORT"
#: Trials per command and backend of the short variant (CI); the long one sets 20.
SHORT_TRIALS = 3
DEFAULT_SEED = 1408
#: Longest a single command may take before the suite kills it and fails the trial.
RUN_TIMEOUT = 300.0
#: Exit code of a process that died of SIGKILL, as subprocess reports it.
KILLED = -signal.SIGKILL
#: Every trial module's ``pytestmark``: selected by ``-m faults``, run only where SIGKILL is.
FAULT_MARKS = [
    pytest.mark.faults,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]


def trial_count() -> int:
    """Trials per command and backend: ``LOAN_RECOVERY_FAULT_TRIALS``, else the short 3."""
    text = os.environ.get(TRIALS_ENV, "").strip()
    if not text:
        return SHORT_TRIALS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{TRIALS_ENV} must be a positive integer; got {text!r}.")
    return int(text)


def base_seed() -> int:
    text = os.environ.get(SEED_ENV, "").strip()
    return int(text) if text else DEFAULT_SEED


def child_environment() -> dict[str, str]:
    """The environment every command starts from: the caller's without any
    ``LOAN_RECOVERY_*`` setting, one OpenMP/BLAS thread (two cores, several processes:
    XGBoost's spinning threads otherwise slow small fits tenfold) and a wide console."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("LOAN_RECOVERY_")
    }
    environment.update(
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        COLUMNS="200",
        PYTHONHASHSEED="0",
    )
    return environment


#: A command's environment, given the store's URL and the run's folder.
EnvFor = Callable[[str, Path], dict[str, str]]


def store_env(url: str, folder: Path) -> dict[str, str]:
    """A command's environment on the store at ``url``, its var folder inside ``folder``
    (so a trial's files stay in the trial's folder)."""
    return child_environment() | {
        "LOAN_RECOVERY_DATABASE_URL": url,
        "LOAN_RECOVERY_VAR_DIR": str(folder / "var"),
    }


# --- launching and killing ----------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One command run: its exit code (``KILLED`` when SIGKILLed), time and output."""

    argv: tuple[str, ...]
    returncode: int
    elapsed: float
    killed: bool
    stdout: str
    stderr: str
    record: dict[str, Any] | None = None

    @property
    def commits(self) -> int:
        return int(self.record["commits"]) if self.record else 0

    def json(self) -> Any:
        """The command's ``--json`` output (its last line)."""
        return json.loads(self.stdout.strip().splitlines()[-1])

    def describe(self) -> str:
        return (
            f"`loan-recovery {' '.join(self.argv)}` exited {self.returncode} after "
            f"{self.elapsed:.2f} s\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"
        )


class Launcher(Protocol):
    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        kill_after: float | None = None,
        record: bool = False,
    ) -> Run: ...

    def close(self) -> None: ...


def _prepare(
    cwd: Path, env: Mapping[str, str], record: bool
) -> tuple[tuple[Path, Path, Path], dict[str, str]]:
    """What both launchers do before a run: fresh stdout, stderr and commit-record paths
    under ``cwd/runs``, and the child's environment (``env``, plus where to write the
    commit record when ``record``: the clean run that sizes the trials)."""
    stamp = f"{time.monotonic_ns()}"
    folder = cwd / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"{stamp}.out", folder / f"{stamp}.err", folder / f"{stamp}.record.json")
    environment = dict(env)
    if record:
        environment[RECORD_ENV] = str(paths[2])
    return paths, environment


def _ran_over(argv: Sequence[str]) -> AssertionError:
    return AssertionError(f"`loan-recovery {' '.join(argv)}` ran over {RUN_TIMEOUT} s")


def _finish(
    argv: Sequence[str],
    returncode: int,
    elapsed: float,
    killed: bool,
    paths: tuple[Path, Path, Path],
    record: bool,
) -> Run:
    out, err, recorded = paths
    data = json.loads(recorded.read_text()) if record and recorded.is_file() else None
    return Run(
        argv=tuple(argv),
        returncode=returncode,
        elapsed=elapsed,
        killed=killed,
        stdout=out.read_text(errors="replace"),
        stderr=err.read_text(errors="replace"),
        record=data,
    )


class ForkServer:
    """Runs commands in children forked from one process that imported the CLI once."""

    name = "fork"

    def __init__(self, log: Path) -> None:
        self._log: IO[str] = log.open("w")
        self._process = subprocess.Popen(
            [sys.executable, str(HERE / "forkserver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_environment(),
            text=True,
            bufsize=1,
        )
        hello = self._reply()
        if not hello.get("ready"):  # pragma: no cover - the server failed to import the CLI
            raise RuntimeError(f"the fork server did not start: {hello}; see {log}")

    def _reply(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server stopped; see {self._log.name}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        kill_after: float | None = None,
        record: bool = False,
    ) -> Run:
        paths, environment = _prepare(cwd, env, record)
        request = {
            "argv": list(argv),
            "env": environment,
            "cwd": str(cwd),
            "stdout": str(paths[0]),
            "stderr": str(paths[1]),
            "kill_after": kill_after,
            "timeout": RUN_TIMEOUT,
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = self._reply()
        if reply["timed_out"]:
            raise _ran_over(argv)
        return _finish(argv, reply["returncode"], reply["elapsed"], reply["killed"], paths, record)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()


class ExecLauncher:
    """Runs each command in a fresh interpreter: ``python killpoints.py ARGS`` (the console
    script's ``app()`` behind the kill-point hook). Seconds of imports per run: slow, but
    the closest to a cron job starting ``loan-recovery``."""

    name = "exec"

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        kill_after: float | None = None,
        record: bool = False,
    ) -> Run:
        paths, environment = _prepare(cwd, env, record)
        with paths[0].open("w") as out, paths[1].open("w") as err:
            start = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, str(HERE / "killpoints.py"), *argv],
                env=environment,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
            killed = False
            try:
                process.wait(timeout=kill_after if kill_after is not None else RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)  # not reaped yet: still our child
                process.wait()
                if kill_after is None:
                    raise _ran_over(argv) from None
                killed = True
            elapsed = time.monotonic() - start
        return _finish(argv, process.returncode, elapsed, killed, paths, record)

    def close(self) -> None:
        return None


def start_launcher(log: Path) -> Launcher:
    """The launcher ``LOAN_RECOVERY_FAULT_LAUNCH`` names: ``fork`` (default) or ``exec``."""
    mode = os.environ.get(LAUNCH_ENV, "fork").strip() or "fork"
    if mode == "fork":
        return ForkServer(log)
    if mode == "exec":
        return ExecLauncher()
    raise ValueError(f"{LAUNCH_ENV} must be fork or exec; got {mode!r}.")


# --- kill points --------------------------------------------------------------------------------
@dataclass(frozen=True)
class KillPoint:
    """Where a trial kills its command: at a commit (``N``, before or after it reaches the
    database) or after a delay (seconds after the process started)."""

    mode: str
    commit: int | None = None
    phase: str | None = None
    delay: float | None = None

    def env(self) -> dict[str, str]:
        if self.mode == "commit":
            return {KILL_AT_ENV: f"{self.commit}:{self.phase}"}
        return {}

    @property
    def kill_after(self) -> float | None:
        return self.delay if self.mode == "timer" else None

    def describe(self) -> str:
        if self.mode == "commit":
            return f"SIGKILL {self.phase} commit {self.commit}"
        return f"SIGKILL after {self.delay:.3f} s"


def trial_rng(command: str, trial: int) -> np.random.Generator:
    """The trial's generator: the suite's seed, the command and the trial number."""
    command_key = sum(ord(character) for character in command)
    return np.random.default_rng([base_seed(), command_key, trial])


def choose_kill_point(rng: np.random.Generator, trial: int, clean: Run) -> KillPoint:
    """Even trials kill at a commit drawn from the clean run's commits (before or after
    it), odd ones after a delay drawn within the clean run's duration: the commit points
    hit every transaction boundary, the delays land anywhere (mid-statement, mid-file,
    mid-SMTP-conversation), including before the first write and after the last."""
    if trial % 2 == 0 and clean.commits:
        commit = int(rng.integers(1, clean.commits + 1))
        phase = str(rng.choice(PHASES))
        return KillPoint("commit", commit=commit, phase=phase)
    return KillPoint("timer", delay=float(rng.uniform(0.0, clean.elapsed)))


# --- databases ----------------------------------------------------------------------------------
class Databases(Protocol):
    backend: str

    def new(self) -> str: ...

    def copy(self, url: str) -> str: ...

    def after_kill(self, url: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class SqliteCopies:
    """SQLite files in ``folder``: migrated copies of ``template``, and copies of those."""

    folder: Path
    template: Path
    backend: str = "sqlite"
    count: int = 0

    def _next(self) -> Path:
        self.count += 1
        return self.folder / f"store-{self.count:03d}.db"

    def new(self) -> str:
        path = self._next()
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def copy(self, url: str) -> str:
        source = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(source) as connection:  # fold the WAL into the file first
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        path = self._next()
        shutil.copyfile(source, path)
        return f"sqlite:///{path}"

    def after_kill(self, url: str) -> None:
        return None  # the kernel released the dead process's locks with its files

    def close(self) -> None:
        return None


@dataclass
class PostgresCopies:
    """Databases on the test server: migrated ones, and copies (``CREATE DATABASE ...
    TEMPLATE``) of a prepared one; all dropped at the end."""

    databases: PostgresDatabases
    backend: str = "postgresql"
    created: list[str] = field(default_factory=list)

    def new(self) -> str:
        name = self.databases.create_migrated()
        self.created.append(name)
        return self.databases.url(name)

    def copy(self, url: str) -> str:
        template = str(parse_database_url(url).database)
        self.after_kill(url)
        for _ in range(100):  # a just-ended client's session may linger a few ms
            try:
                name = self.databases.create(template=template)
            except sa.exc.OperationalError as error:
                if "being accessed by other users" not in str(error):
                    raise
                time.sleep(0.05)
                continue
            self.created.append(name)
            return self.databases.url(name)
        raise AssertionError(f"database {template} stayed in use")

    def after_kill(self, url: str) -> None:
        """Wait until the server has ended the sessions of the killed process.

        A SIGKILLed client's backend ends (rolling back its transaction, releasing its
        row locks) when it reads the closed socket, a few milliseconds later; a rerun that
        started before that would find its rows locked (and skip them).
        """
        name = str(parse_database_url(url).database)
        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
        deadline = time.monotonic() + 30
        with self.databases.admin.connect() as connection:
            while connection.execute(query, {"name": name}).scalar_one():
                if time.monotonic() > deadline:
                    raise AssertionError(f"sessions on {name} outlived their process")
                time.sleep(0.02)

    def close(self) -> None:
        for name in self.created:
            self.databases.drop(name)
        self.created.clear()


# --- reading the store --------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """JSON columns as canonical text, so frames compare cell by cell."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def table(
    url: str,
    name: str,
    *,
    ignore: Iterable[str] = (),
    where: sa.ColumnElement[bool] | None = None,
) -> pd.DataFrame:
    """Store table ``name`` without the ``ignore`` columns, sorted by every column left."""
    engine = create_store_engine(url)
    try:
        kept = [column for column in Base.metadata.tables[name].c if column.name not in set(ignore)]
        statement = sa.select(*kept)
        if where is not None:
            statement = statement.where(where)
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
    finally:
        engine.dispose()
    frame = pd.DataFrame([tuple(_plain(value) for value in row) for row in rows])
    frame = frame.reindex(columns=range(len(kept)))
    frame.columns = [column.name for column in kept]
    if frame.empty:
        return frame
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def rows(url: str, statement: str, **parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of a SQL query on the store."""
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(statement), parameters)]
    finally:
        engine.dispose()


def audit_details(url: str, action: str) -> list[dict[str, Any]]:
    """The ``details`` of every audit row of ``action``, oldest first."""
    found = rows(url, "SELECT details FROM audit_log WHERE action = :a ORDER BY id", a=action)
    return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in found]


def audit_count(url: str, action: str) -> int:
    return int(rows(url, "SELECT count(*) FROM audit_log WHERE action = :a", a=action)[0][0])


def batch_audit(url: str, batch: str, *changes: str) -> dict[str, int]:
    """Rows inserted and updated over every ``batch`` audit row, and the audit rows of each
    ``changes`` action: equal to the clean run's when a committed batch was never written
    again and a lost one entirely again (each row inserted once, each change audited once)."""
    batches = audit_details(url, batch)
    return {
        "inserted": sum(int(details["inserted"]) for details in batches),
        "updated": sum(int(details["updated"]) for details in batches),
    } | {action: audit_count(url, action) for action in changes}


def assert_same(found: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    """Equal content (values exact, dtypes free: a NULL-free column may load narrower)."""
    assert list(found.columns) == list(expected.columns), what
    assert len(found) == len(expected), f"{what}: {len(found)} rows, clean run {len(expected)}"
    pd.testing.assert_frame_equal(
        found.reset_index(drop=True),
        expected.reset_index(drop=True),
        check_dtype=False,
        check_exact=True,
        obj=what,
    )


# --- the trial record ---------------------------------------------------------------------------
@dataclass
class TrialRecord:
    """What one trial did, for the run's summary (``LOAN_RECOVERY_FAULT_REPORT``)."""

    nodeid: str
    command: str
    backend: str
    trial: int
    kill: str
    landed: str
    killed_elapsed: float
    clean_elapsed: float
    notes: dict[str, Any] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        with path.open("a") as log:
            log.write(json.dumps(asdict(self)) + "\n")


def landed(run: Run, clean: Run) -> str:
    """Where the kill fell: before the first commit, between commits, or not at all."""
    if not run.killed and run.returncode != KILLED:
        return "finished"
    times = (clean.record or {}).get("commit_times") or []
    if run.returncode == KILLED and run.killed is False:  # the commit hook killed it
        return "at-commit"
    if times and run.elapsed < times[0]:
        return "before-first-commit"
    if times and run.elapsed > times[-1]:
        return "after-last-commit"
    return "mid-run"


@dataclass(frozen=True)
class Trial:
    """One trial: the command it kills, its number and test, where it logs and runs."""

    command: str
    number: int
    nodeid: str
    log: Path
    folder: Path

    def kill_point(self, clean: Run) -> KillPoint:
        return choose_kill_point(trial_rng(self.command, self.number), self.number, clean)


class Finished(NamedTuple):
    """A run that ended normally (a clean run, a trial's rerun), with its store's URL and
    environment: what the checks read."""

    url: str
    env: dict[str, str]
    run: Run


@dataclass(frozen=True)
class Scenario:
    """A module's command on one backend: the store it starts from (``base_url``, copied
    for every run), the launcher and databases, and how a run that is not killed exits
    (1 when the input has rejected rows). Its two methods are what every module shares."""

    launcher: Launcher
    databases: Databases
    base_url: str
    exit_code: int = 0

    @classmethod
    def prepare(
        cls,
        launcher: Launcher,
        databases: Databases,
        folder: Path,
        setup: Sequence[tuple[Sequence[str], int]],
        *,
        env: EnvFor = store_env,
        exit_code: int = 0,
    ) -> Scenario:
        """A scenario whose starting store is a new database after the ``setup`` commands,
        each run in ``folder`` and required to exit with its code."""
        url = databases.new()
        environment = env(url, folder)
        for argv, expected in setup:
            run = launcher.run(argv, env=environment, cwd=folder)
            assert run.returncode == expected, run.describe()
        return cls(launcher, databases, url, exit_code=exit_code)

    def clean_run(self, folder: Path, argv: Sequence[str], env: EnvFor = store_env) -> Finished:
        """The command once without a kill: the trials' reference; its recorded commits and
        duration size their kill points."""
        url = self.databases.copy(self.base_url)
        environment = env(url, folder)
        run = self.launcher.run(argv, env=environment, cwd=folder, record=True)
        assert run.returncode == self.exit_code, run.describe()
        return Finished(url, environment, run)

    def kill_and_rerun(
        self,
        trial: Trial,
        clean: Run,
        argv: Sequence[str],
        env: EnvFor = store_env,
        *,
        rerun_argv: Sequence[str] | None = None,
        after_kill: Callable[[str], None] | None = None,
    ) -> Finished:
        """One trial up to its checks, which are the caller's: on a fresh copy of the store,
        run ``argv`` and SIGKILL it at the trial's kill point (drawn from the ``clean`` run,
        logged with where it landed; the run may have ended first). ``after_kill`` checks
        what the kill left; the rerun (``rerun_argv``, else ``argv``) must end normally."""
        url = self.databases.copy(self.base_url)
        environment = env(url, trial.folder)
        point = trial.kill_point(clean)
        killed = self.launcher.run(
            argv, env=environment | point.env(), cwd=trial.folder, kill_after=point.kill_after
        )
        self.databases.after_kill(url)
        TrialRecord(
            nodeid=trial.nodeid,
            command=trial.command,
            backend=self.databases.backend,
            trial=trial.number,
            kill=point.describe(),
            landed=landed(killed, clean),
            killed_elapsed=killed.elapsed,
            clean_elapsed=clean.elapsed,
        ).write(trial.log)
        assert killed.returncode in (KILLED, self.exit_code), killed.describe()
        if after_kill is not None:
            after_kill(url)
        again = argv if rerun_argv is None else rerun_argv
        rerun = self.launcher.run(again, env=environment, cwd=trial.folder)
        assert rerun.returncode == self.exit_code, rerun.describe()
        return Finished(url, environment, rerun)


def note(trial: Trial, **values: int) -> None:
    """Add what the trial found (messages already sent, batches committed, ...) to the log;
    the run's summary adds them up per command and backend."""
    with trial.log.open("a") as log:
        log.write(json.dumps({"nodeid": trial.nodeid, "notes": values}) + "\n")


@dataclass(frozen=True)
class ImportCounts:
    """The counts contract of an import job (``import``, ``import-payments``): ``job`` is
    its run's audit action, ``same`` the counts a rerun shares with the clean run (the
    file's), ``written`` the counts rows read add up to."""

    job: str
    same: tuple[str, ...]
    written: tuple[str, ...]

    def check(self, trial: Trial, url: str, rerun: Run, clean: Run) -> None:
        """The rerun's counts against the clean run's, and the rerun's audit row holding
        them; notes whether the kill fell mid-import (some rows written, not all)."""
        counts, expected = rerun.json(), clean.json()
        written_before = expected["inserted"] - counts["inserted"]
        note(trial, killed_mid_import=int(0 < written_before < expected["inserted"]))
        for name in self.same:
            assert counts[name] == expected[name], name
        assert counts["rows_read"] == sum(counts[name] for name in self.written)
        runs = audit_details(url, self.job)
        assert len(runs) in (2, 3)  # the base import, the rerun, and the killed run if it ended
        assert {key: runs[-1][key] for key in counts} == counts
