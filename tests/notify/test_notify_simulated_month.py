"""A simulated month of remind runs: zero contact-policy violations, nothing lost.

March 2026, six runs a day at fixed UTC times (so each borrower's window is hit by some
runs and missed by others), borrowers in Kolkata, New York (whose clocks change on
8 March) and London, two holidays in a row plus one more, bursts of three campaigns a
day that run into the 7-in-7 cap, an opt-out of everything and an opt-out of SMS in the
middle of the month, a do-not-contact borrower and one without consent. Messages go to a
real local SMTP server and SMS gateway. Afterwards every sent message is checked against
the rules, and every reminder is sent exactly once or held with a policy reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from notify_servers import SmsGateway, SmtpServer

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.optout import opt_out
from loan_recovery.notify.reminders import CAMPAIGN
from loan_recovery.store.db import Store
from loan_recovery.store.models import ContactAttempt, OutboxMessage

KOLKATA, NEW_YORK, LONDON = "Asia/Kolkata", "America/New_York", "Europe/London"
HOLIDAYS = (date(2026, 3, 4), date(2026, 3, 19), date(2026, 3, 20))
RUN_TIMES = [time(hour, 10) for hour in (2, 6, 10, 14, 18, 22)]  # UTC
FIRST_DAY = date(2026, 3, 1)
DAYS, DRAIN_DAYS = 30, 12
START, END = time(8), time(19)

PEOPLE: list[dict[str, Any]] = [
    {schema.TIME_ZONE: KOLKATA},  # 0
    {schema.TIME_ZONE: KOLKATA, schema.CONSENT_SMS: "No", schema.PREFERRED_LANGUAGE: "hi"},  # 1
    {schema.TIME_ZONE: NEW_YORK, schema.CONSENT_EMAIL: "No"},  # 2
    {schema.TIME_ZONE: NEW_YORK, schema.CONSENT_SMS: "No"},  # 3
    {schema.TIME_ZONE: KOLKATA, schema.DO_NOT_CONTACT: "Yes"},  # 4: never
    {schema.TIME_ZONE: KOLKATA, schema.CONSENT_SMS: "No", schema.CONSENT_EMAIL: "No"},  # 5
    {schema.TIME_ZONE: ""},  # 6: default zone
    {schema.TIME_ZONE: NEW_YORK},  # 7: opts out of everything on day 10
    {schema.TIME_ZONE: KOLKATA},  # 8: bursts
    {schema.TIME_ZONE: NEW_YORK},  # 9: bursts
    {schema.TIME_ZONE: LONDON},  # 10
    {schema.TIME_ZONE: KOLKATA},  # 11: opts out of SMS on day 5
]
BURSTY = ("L0008", "L0009")
NEVER = ("L0004", "L0005")
OPT_OUT_ALL_DAY, OPT_OUT_SMS_DAY = 10, 5


def _targets(day_number: int, loan_ids: list[str]) -> pd.DataFrame:
    """Reminders every third day for everyone; three campaigns a day on days 1-5 for the
    bursty loans (15 messages in 5 days against a cap of 7 in 7)."""
    rows: list[tuple[str, str]] = []
    if day_number <= DAYS and day_number % 3 == 1:
        rows += [(loan, "reminder") for loan in loan_ids]
    if day_number <= 5:
        for campaign in ("reminder", "early-warning", "follow-up"):
            rows += [(loan, campaign) for loan in BURSTY]
    return pd.DataFrame(rows, columns=[schema.LOAN_ID, CAMPAIGN]).drop_duplicates()


def _zone(name: object) -> ZoneInfo:
    return ZoneInfo(name if isinstance(name, str) and name else KOLKATA)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_month_of_daily_runs_breaks_no_contact_rule(
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Runs 42 simulated days (30 with new reminders, then draining); expects every sent
    message inside 08:00-19:00 local on a non-holiday, never an 8th attempt in 7 days,
    nothing to opted-out or do-not-contact borrowers, every deferred one sent in the end,
    and each reminder delivered exactly once."""
    caplog.set_level(logging.INFO, logger="loan_recovery.notify")
    table = load_book(PEOPLE)
    loan_ids = table[schema.LOAN_ID].tolist()
    zones = dict(zip(loan_ids, table[schema.TIME_ZONE], strict=True))
    settings = make_settings(
        smtp=smtp_server, gateway=sms_gateway, holidays=[day.isoformat() for day in HOLIDAYS]
    )
    opted_out_all_at: datetime | None = None
    opted_out_sms_at: datetime | None = None
    for offset in range(DAYS + DRAIN_DAYS):
        for run_time in RUN_TIMES:
            now = datetime.combine(FIRST_DAY + timedelta(days=offset), run_time, tzinfo=UTC)
            day_number = (now.astimezone(ZoneInfo(KOLKATA)).date() - FIRST_DAY).days + 1
            if day_number == OPT_OUT_SMS_DAY and opted_out_sms_at is None:
                with notify_store.transaction() as session:
                    opt_out(session, loan_id="L0011", channel="sms", actor="sms-stop")
                opted_out_sms_at = now
            if day_number == OPT_OUT_ALL_DAY and opted_out_all_at is None:
                with notify_store.transaction() as session:
                    opt_out(session, loan_id="L0007", actor="sms-stop")
                opted_out_all_at = now
            run_remind(
                settings=settings,
                store=notify_store,
                extra_targets=_targets(day_number, loan_ids),
                now=now,
            )

    with notify_store.transaction() as session:
        messages = pd.DataFrame(
            [
                (m.idempotency_key, m.loan_id, m.channel, m.status, m.reason, m.sent_at)
                for m in session.scalars(sa.select(OutboxMessage))
            ],
            columns=["key", "loan", "channel", "status", "reason", "sent_at"],
        )
        attempts = pd.DataFrame(
            [(a.loan_id, a.at) for a in session.scalars(sa.select(ContactAttempt))],
            columns=["loan", "at"],
        )
    sent = messages[messages["status"] == "sent"]
    assert len(sent) > 100

    # 1. hours and holidays in the borrower's own zone
    for loan, moment in zip(sent["loan"], sent["sent_at"], strict=True):
        local = moment.astimezone(_zone(zones[loan]))
        assert START <= local.time() < END, (loan, local)
        assert local.date() not in HOLIDAYS, (loan, local)

    # 2. never an 8th attempt in any 7 days (window (t - 7d, t])
    for loan, times in attempts.groupby("loan")["at"]:
        ordered = sorted(times)
        for position, moment in enumerate(ordered):
            in_window = [t for t in ordered[: position + 1] if t > moment - timedelta(days=7)]
            assert len(in_window) <= 7, (loan, moment)
    busiest = max(len(times) for _, times in attempts.groupby("loan")["at"])
    assert busiest >= 20  # the bursty loans really ran into the cap

    # 3. opt-outs, do-not-contact and missing consent
    assert sent[sent["loan"].isin(NEVER)].empty
    assert opted_out_all_at is not None
    assert opted_out_sms_at is not None
    late = sent[(sent["loan"] == "L0007") & (sent["sent_at"] >= opted_out_all_at)]
    assert late.empty
    sms_after = sent[
        (sent["loan"] == "L0011")
        & (sent["channel"] == "sms")
        & (sent["sent_at"] >= opted_out_sms_at)
    ]
    assert sms_after.empty
    assert not sent[(sent["loan"] == "L0011") & (sent["channel"] == "email")].empty
    assert set(sent.loc[sent["loan"] == "L0001", "channel"]) == {"email"}
    assert set(sent.loc[sent["loan"] == "L0002", "channel"]) == {"sms"}

    # 4. nothing lost: every message is sent, or held for a policy reason
    assert set(messages["status"]) == {"sent", "held"}
    held = messages[messages["status"] == "held"]
    assert set(held["reason"]) == {"do-not-contact", "no-consent", "opted-out"}

    # 5. exactly once at the servers
    delivered = smtp_server.recorder.keys() + [
        request.payload["reference"] for request in sms_gateway.delivered()
    ]
    assert sorted(delivered) == sorted(sent["key"])

    # 6. every kind of deferral happened, and the logs name loans and reasons only
    log = "\n".join(record.getMessage() for record in caplog.records)
    for reason in ("reason=quiet-hours", "reason=holiday", "reason=attempt-cap"):
        assert reason in log
    for secret in ("+919800000000", "borrower@example.com", "Asha Rao"):
        assert secret not in log
