"""A thousand random contact records through the reminder sending path: none crashes it.

Each record is made to be valid, invalid or empty by construction (not by asking the
code under test): email addresses plain, tagged, padded, with an internationalised
domain or a non-ASCII local part, and broken ones (lists like ``a@b, c@d``, display
names, spaces, double dots, missing parts, header injections, very long); phone numbers
plain, laid out, and broken (letters, lists, too many digits). The records are written
straight into the store, past any import validation, then `remind` runs against a real
SMTP server that offers SMTPUTF8 and a real SMS gateway, twice.

Expected: the run ends, every valid record's reminder is delivered exactly once, every
invalid one is ``failed`` with reason ``invalid-address`` and no contact attempt, every
empty one is ``held`` by the contact policy (``no-address``, or ``no-consent`` when the
preferred channel is one the borrower did not consent to), the rerun sends nothing, and
no address appears in the project's logs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from contact_records import EMPTY, INVALID, VALID, Record, random_records
from notify_servers import SmsGateway, SmtpServer

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.reminders import reminder_targets
from loan_recovery.store.db import Store
from loan_recovery.store.models import (
    ContactAttempt,
    OutboxMessage,
    borrower_key,
    borrowers,
    db_column,
)

RECORDS = 1_000
SEED = 14
MONDAY_1130_IST = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _write_contacts(store: Store, records: dict[str, Record]) -> None:
    """Each borrower consents to its record's channel only, with that address."""
    statement = (
        sa.update(borrowers)
        .where(borrower_key == sa.bindparam("b_id"))
        .values(
            {
                db_column(schema.EMAIL): sa.bindparam("b_email"),
                db_column(schema.PHONE): sa.bindparam("b_phone"),
                db_column(schema.CONSENT_EMAIL): sa.bindparam("b_consent_email"),
                db_column(schema.CONSENT_SMS): sa.bindparam("b_consent_sms"),
            }
        )
    )
    rows = [
        {
            "b_id": borrower_id,
            "b_email": record.address if record.channel == "email" else None,
            "b_phone": record.address if record.channel == "sms" else None,
            "b_consent_email": "Yes" if record.channel == "email" else "No",
            "b_consent_sms": "Yes" if record.channel == "sms" else "No",
        }
        for borrower_id, record in records.items()
    ]
    with store.engine.begin() as connection:
        connection.execute(statement, rows)


def test_a_thousand_random_contacts_never_crash_a_run(
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtputf8_server: SmtpServer,
    sms_gateway: SmsGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Gives 1,000 random records (valid, invalid, non-ASCII, empty, lists, very long);
    runs `remind` twice. Expects valid -> delivered once, invalid -> failed
    invalid-address without a contact attempt, empty -> held by the policy, nothing sent
    by the rerun, and no address in the logs."""
    caplog.set_level(logging.INFO, logger="loan_recovery")
    records = random_records(RECORDS, SEED)
    kinds = Counter((record.channel, record.kind) for record in records.values())
    assert min(kinds.values()) >= 20  # every kind well represented
    table = load_book([{} for _ in range(RECORDS)])
    _write_contacts(notify_store, records)
    settings = make_settings(smtp=smtputf8_server, gateway=sms_gateway)
    targets = reminder_targets(table[schema.LOAN_ID], "reminder")

    first = run_remind(
        settings=settings, store=notify_store, extra_targets=targets, now=MONDAY_1130_IST
    )
    second = run_remind(
        settings=settings,
        store=notify_store,
        extra_targets=targets,
        now=MONDAY_1130_IST + timedelta(hours=1),
    )

    loan_of = dict(zip(table[schema.BORROWER_ID], table[schema.LOAN_ID], strict=True))
    expected = {loan_of[borrower]: record for borrower, record in records.items()}
    with notify_store.transaction() as session:
        outbox = {
            row.loan_id: (row.status, row.reason, row.channel)
            for row in session.scalars(sa.select(OutboxMessage))
        }
        counted = Counter(session.scalars(sa.select(ContactAttempt.loan_id)).all())
    delivered = Counter(
        key.rsplit(":", 1)[1]
        for key in [
            *smtputf8_server.recorder.keys(),
            *(request.payload["reference"] for request in sms_gateway.delivered()),
        ]
    )
    wrong = {}
    for loan, record in expected.items():
        # an empty address is the contact policy's business: held with the problem of
        # the first preferred channel (sms): no address there, or no consent to it
        empty = (
            ("held", "no-address", "sms")
            if record.channel == "sms"
            else (
                "held",
                "no-consent",
                "sms",
            )
        )
        want = {
            VALID: ("sent", None, record.channel),
            INVALID: ("failed", "invalid-address", record.channel),
            EMPTY: empty,
        }[record.kind]
        if outbox.get(loan) != want:
            wrong[loan] = (record, outbox.get(loan))
    assert wrong == {}
    valid = {loan for loan, record in expected.items() if record.kind == VALID}
    assert set(delivered) == valid
    assert set(delivered.values()) == {1}
    assert counted == Counter(dict.fromkeys(valid, 1))

    assert first.dispatch is not None
    assert second.dispatch is not None
    invalid = sum(record.kind == INVALID for record in records.values())
    assert (first.dispatch.sent, first.dispatch.failed) == (len(valid), invalid)
    assert first.dispatch.failed_reasons == {"invalid-address": invalid}
    assert (second.queued, second.dispatch.sent, second.dispatch.failed) == (0, 0, 0)

    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("loan_recovery")
    )
    assert "loan=L0999" in logged
    secrets = {
        record.address.strip()
        for record in records.values()
        if record.address is not None and len(record.address.strip()) > 3
    }
    assert [secret for secret in secrets if secret in logged] == []
