"""Kill the sender mid-batch, rerun: every reminder reaches the SMTP server exactly once.

The sender is the real command (`loan-recovery remind --plan ...`) in a subprocess,
against a SQLite store and a local SMTP server that counts what it accepts. The test
kills it with SIGKILL (no cleanup of any kind) as soon as some messages have arrived,
then runs the same command again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from notify_servers import running_smtp_server

from loan_recovery.data import schema
from loan_recovery.store.db import Store
from loan_recovery.store.models import OutboxMessage

BORROWERS = 30
KILL_AFTER = 10
FIRST_RUN = "2026-03-02T06:00:00Z"  # 11:30 in Kolkata
RERUN = "2026-03-02T06:10:00Z"  # same day, after the claim lease (300 s)


def _command(config: Path, plan: Path, now: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loan_recovery",
        "--config",
        str(config),
        "remind",
        "--plan",
        str(plan),
        "--now",
        now,
    ]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_sender_rerun_delivers_every_reminder_exactly_once(
    tmp_path: Path,
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    notify_store: Store,
    database_file: Path,
) -> None:
    """Gives 30 email reminders and a slow SMTP server; SIGKILLs the sender after 10 have
    arrived, reruns it; expects all 30 keys delivered once each, none twice."""
    table = load_book([{schema.CONSENT_SMS: "No"} for _ in range(BORROWERS)])
    plan = tmp_path / "plan.csv"
    pd.DataFrame(
        {schema.LOAN_ID: table[schema.LOAN_ID], schema.RECOMMENDED_ACTION: "reminder"}
    ).to_csv(plan, index=False)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("LOAN_RECOVERY_")
    }
    with running_smtp_server(delay=0.03) as smtp:
        config = tmp_path / "settings.toml"
        config.write_text(
            f'database_url = "sqlite:///{database_file}"\n'
            f'var_dir = "{tmp_path / "var"}"\n'
            '[notify]\nchannels = ["email"]\n'
            f'[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nstarttls = false\n'
        )
        first = subprocess.Popen(
            _command(config, plan, FIRST_RUN),
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while smtp.recorder.count() < KILL_AFTER:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the sender never got going"
            time.sleep(0.001)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        if first.stderr is not None:
            first.stderr.close()
        delivered_before = smtp.recorder.count()
        assert KILL_AFTER <= delivered_before < BORROWERS  # killed mid-batch

        rerun = subprocess.run(
            _command(config, plan, RERUN),
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rerun.returncode == 0, rerun.stderr

        delivered = Counter(smtp.recorder.keys())
    expected = {f"reminder:2026-03-02:{loan_id}" for loan_id in table[schema.LOAN_ID]}
    assert set(delivered) == expected
    assert max(delivered.values()) == 1
    with notify_store.transaction() as session:
        statuses = Counter(
            (row.status, row.reason) for row in session.scalars(sa.select(OutboxMessage))
        )
    # at most the message in flight at the kill is held as unconfirmed (it did arrive)
    assert statuses[("sent", None)] >= BORROWERS - 1
    assert set(statuses) <= {("sent", None), ("held", "unconfirmed")}
