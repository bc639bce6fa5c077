"""SIGKILL `loan-recovery remind` at random points, rerun: every reminder arrives once.

The store holds 28 borrowers who take email; a plan file recommends a reminder for 24
of them and for 2 loans the store does not hold. `remind --plan` queues 24 messages in
one transaction, then sends them one by one to a local SMTP server (aiosmtpd) that
counts what it accepts: per message a claim, a ``delivering`` commit just before the
final ``.`` of the SMTP conversation, and a ``sent`` commit after the server's reply.

After the kill the same command runs again 10 minutes later (past the claim lease, so
the rerun settles what the dead sender held: ``sending`` goes back to the queue, an email
that reached ``delivering`` is held as *unconfirmed*, never resent blindly). The trial
then does what the runbook asks of a person: look each unconfirmed message up in the
mail server's log (the sink, by its ``X-Reminder-Key``) and `outbox release ID
--mark-sent` it when it arrived, `--resend` it when it did not, and run `remind` once more
if anything was resent. Compared then:

* right after the kill: every email the server already has is ``delivering`` or ``sent``
  in the outbox (the handover is committed before the final ``.``), so none is resent;
* at the SMTP server: each of the 24 keys, and each Message-ID, exactly once; no other;
* ``outbox``: every column but the surrogate ``id``, ``attempts`` (tries, a killed one
  included), ``scheduled_for`` (a requeued message is due at the rerun's time) and the
  timestamps ``attempted_at``, ``sent_at``, ``created_at``, ``updated_at`` (the clock
  of whichever run did it): all 24 ``sent`` as in the clean run;
* ``contact_attempts``: one ``sent`` attempt per message, as in the clean run; a message
  resent after an unconfirmed hold also keeps that ``unconfirmed`` attempt (by design:
  an attempt that may have reached the borrower counts towards the 7-in-7 cap);
* the counts: outbox statuses sum to the queued total; the queue audit rows' ``queued``
  sum to the outbox rows; one ``outbox.release`` audit row per settled message; the
  rerun's targets = queued + already queued + unknown loans.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from fault_data import REMINDED, FaultFiles
from fault_support import (
    FAULT_MARKS,
    Databases,
    Launcher,
    Run,
    Scenario,
    Trial,
    assert_same,
    audit_count,
    audit_details,
    note,
    rows,
    store_env,
    table,
)
from notify_servers import SmtpServer, running_smtp_server

from loan_recovery.jobs.remind import REMINDERS_QUEUE
from loan_recovery.store.outbox import RELEASE_ACTION

pytestmark = FAULT_MARKS

COMMAND = "remind"
FIRST = "2026-03-02T06:00:00Z"  # 11:30 in Kolkata: within contact hours
RERUN = "2026-03-02T06:10:00Z"  # the same campaign day, past the 300 s claim lease
SETTLE = "2026-03-02T06:20:00Z"
CAMPAIGN_DAY = "2026-03-02"
#: Seconds the SMTP server takes per message: sends are spread over the run.
SMTP_DELAY = 0.005
UNKNOWN_LOANS = 2
OUTBOX_IGNORED = (
    "id", "attempts", "scheduled_for", "attempted_at", "sent_at", "created_at", "updated_at",
)  # fmt: skip


def _argv(files: FaultFiles, now: str) -> list[str]:
    return ["remind", "--plan", str(files.reminders), "--now", now, "--json"]


def _env(url: str, folder: Path, smtp: SmtpServer) -> dict[str, str]:
    return store_env(url, folder) | {
        "LOAN_RECOVERY_NOTIFY__CHANNELS": '["email"]',
        "LOAN_RECOVERY_NOTIFY__SMTP__HOST": smtp.host,
        "LOAN_RECOVERY_NOTIFY__SMTP__PORT": str(smtp.port),
        "LOAN_RECOVERY_NOTIFY__SMTP__STARTTLS": "false",
        "LOAN_RECOVERY_NOTIFY__SMTP__SENDER": "reminders@lender.example",
        "LOAN_RECOVERY_NOTIFY__SMTP__TIMEOUT": "10",
    }


_STATUS_BY_KEY = "SELECT idempotency_key, status FROM outbox"


def _attempts(url: str) -> Counter[tuple[str, str]]:
    """(outbox key, outcome) of every contact attempt."""
    found = rows(
        url,
        "SELECT o.idempotency_key, a.outcome FROM contact_attempts a "
        "JOIN outbox o ON o.id = a.outbox_id",
    )
    return Counter((str(key), str(outcome)) for key, outcome in found)


def _delivered(smtp: SmtpServer) -> tuple[Counter[str], Counter[str]]:
    """How often the server accepted each outbox key and each Message-ID."""
    with smtp.recorder.lock:
        messages = list(smtp.recorder.messages)
    keys = Counter(mail.key for mail in messages)
    ids = Counter(str(mail.message["Message-ID"]) for mail in messages)
    return keys, ids


@dataclass(frozen=True)
class Clean:
    run: Run
    outbox: pd.DataFrame
    attempts: Counter[tuple[str, str]]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A fresh SMTP sink for one trial (slow enough to spread sends over the run)."""
    with running_smtp_server(delay=SMTP_DELAY) as server:
        yield server


@pytest.fixture(scope="module")
def scenario(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """Runs from a store holding the 28 borrowers and their loans, nothing queued yet."""
    setup = [(["import", str(fault_files.contacts)], 0)]
    folder = tmp_path_factory.mktemp("remind-base")
    return Scenario.prepare(launcher, databases, folder, setup)


@pytest.fixture(scope="module")
def clean(
    scenario: Scenario, fault_files: FaultFiles, tmp_path_factory: pytest.TempPathFactory
) -> Clean:
    """`remind` run once without a kill: every reminder sent once; the reference."""
    folder = tmp_path_factory.mktemp("remind-clean")
    with running_smtp_server(delay=SMTP_DELAY) as server:
        argv = _argv(fault_files, FIRST)
        url, _, run = scenario.clean_run(folder, argv, partial(_env, smtp=server))
        keys, _ = _delivered(server)
    assert run.json()["dispatch"]["sent"] == REMINDED
    assert keys == Counter(_expected_keys(fault_files))
    return Clean(
        run=run, outbox=table(url, "outbox", ignore=OUTBOX_IGNORED), attempts=_attempts(url)
    )


def _expected_keys(files: FaultFiles) -> list[str]:
    return [f"reminder:{CAMPAIGN_DAY}:{loan}" for loan in files.reminded]


def _settle_unconfirmed(
    launcher: Launcher, url: str, env: dict[str, str], folder: Path, smtp: SmtpServer
) -> tuple[int, set[str]]:
    """The runbook for messages held as unconfirmed: look each up in the mail server's
    log, then release it as sent (it arrived) or for resending (it did not). Returns how
    many were settled and the keys resent."""
    held = rows(
        url,
        "SELECT id, idempotency_key FROM outbox WHERE status = 'held' AND reason = 'unconfirmed'",
    )
    arrived, _ = _delivered(smtp)
    resent: set[str] = set()
    for outbox_id, key in held:
        choice = "--mark-sent" if arrived[str(key)] else "--resend"
        if choice == "--resend":
            resent.add(str(key))
        argv = ["outbox", "release", str(outbox_id), choice, "--now", SETTLE]
        released = launcher.run(argv, env=env, cwd=folder)
        assert released.returncode == 0, released.describe()
    return len(held), resent


def test_killed_remind_rerun_sends_every_reminder_exactly_once(
    trial: Trial,
    scenario: Scenario,
    fault_files: FaultFiles,
    clean: Clean,
    smtp: SmtpServer,
) -> None:
    """Kills `remind` at a seeded point, reruns it, settles unconfirmed messages by the
    mail log; expects each reminder delivered exactly once, the clean run's outbox and
    attempts, and counts that reconcile."""
    arrived_before: Counter[str] = Counter()

    def handed_over(url: str) -> None:
        """What the server has after the kill was handed over: never sent again."""
        arrived_before.update(_delivered(smtp)[0])
        status = {str(key): str(state) for key, state in rows(url, _STATUS_BY_KEY)}
        for key in arrived_before:
            state = status.get(key)
            assert state in ("delivering", "sent"), f"{key} arrived while {state}"

    url, env, rerun = scenario.kill_and_rerun(
        trial,
        clean.run,
        _argv(fault_files, FIRST),
        partial(_env, smtp=smtp),
        rerun_argv=_argv(fault_files, RERUN),
        after_kill=handed_over,
    )
    counts = rerun.json()
    assert counts["targets"] == REMINDED + UNKNOWN_LOANS
    assert counts["not_queued"] == UNKNOWN_LOANS
    assert counts["queued"] + counts["already_queued"] + counts["not_queued"] == counts["targets"]

    settled, resent = _settle_unconfirmed(scenario.launcher, url, env, trial.folder, smtp)
    if resent:
        final = scenario.launcher.run(_argv(fault_files, SETTLE), env=env, cwd=trial.folder)
        assert final.returncode == 0, final.describe()
        assert final.json()["dispatch"]["sent"] == len(resent)

    note(
        trial,
        killed_mid_send=int(0 < sum(arrived_before.values()) < REMINDED),
        unconfirmed=settled,
        unconfirmed_arrived=settled - len(resent),
        unconfirmed_resent=len(resent),
    )
    keys, message_ids = _delivered(smtp)
    assert keys == Counter(_expected_keys(fault_files)), "lost or duplicated at the server"
    assert set(message_ids.values()) == {1}
    assert len(message_ids) == REMINDED

    assert_same(table(url, "outbox", ignore=OUTBOX_IGNORED), clean.outbox, "outbox")
    attempts = _attempts(url)
    extra = attempts - clean.attempts
    assert clean.attempts - attempts == Counter(), "an attempt of the clean run is missing"
    assert extra == Counter({(key, "unconfirmed"): 1 for key in resent})

    statuses = rows(url, "SELECT status, count(*) FROM outbox GROUP BY status")
    assert dict((str(status), int(count)) for status, count in statuses) == {"sent": REMINDED}
    queued = sum(int(details["queued"]) for details in audit_details(url, REMINDERS_QUEUE))
    assert queued == REMINDED
    assert audit_count(url, RELEASE_ACTION) == settled
