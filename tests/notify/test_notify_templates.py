"""Templates: English and Hindi per channel, strict variables, checked before any send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from notify_servers import SmtpServer

from loan_recovery.config import DisplaySettings, Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.money import MoneyFormat
from loan_recovery.notify.errors import TemplateRenderError
from loan_recovery.notify.reminders import reminder_targets
from loan_recovery.notify.senders import build_senders
from loan_recovery.notify.templates import (
    TEMPLATE_VARIABLES,
    MessageVariables,
    TemplateRenderer,
    check_templates,
    format_date,
    reminder_amount,
)
from loan_recovery.store.db import Store
from loan_recovery.store.outbox import outbox_counts


def _variables(language: str = "en") -> MessageVariables:
    return MessageVariables(
        borrower_name="Asha Rao",
        amount_due=reminder_amount(123_456.5, MoneyFormat()),
        due_date=format_date(date(2026, 3, 5), language),
        loan_reference="L0001",
        payment_reference="L0001-20260305",
        lender_name="Test Lender",
    )


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_english_templates_carry_every_fact(channel: str) -> None:
    """Expects name, amount, due date, loan and payment references in the message."""
    message = TemplateRenderer().render(channel=channel, language="en", variables=_variables())
    for text in ("Asha Rao", "₹1,23,456.50", "5 March 2026", "L0001", "L0001-20260305"):
        assert text in message.body
    assert "STOP" in message.body
    if channel == "email":
        assert message.subject is not None
        assert "₹1,23,456.50" in message.subject
        assert "\n" not in message.subject
    else:
        assert message.subject is None
        assert "\n" not in message.body


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_hindi_templates_render_in_devanagari(channel: str) -> None:
    """Expects Hindi text, the Hindi month name and the same facts."""
    message = TemplateRenderer().render(channel=channel, language="hi", variables=_variables("hi"))
    assert "प्रिय Asha Rao" in message.body
    assert "5 मार्च 2026" in message.body
    assert "₹1,23,456.50" in message.body
    assert "L0001-20260305" in message.body


def test_unknown_language_falls_back_to_english() -> None:
    """Expects a borrower language without templates to get English."""
    message = TemplateRenderer().render(channel="sms", language="ta", variables=_variables())
    assert message.body.startswith("Dear Asha Rao")


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    """Gives a message without the payment reference; expects TemplateRenderError naming it."""
    values = asdict(_variables())
    del values["payment_reference"]
    with pytest.raises(TemplateRenderError, match="payment_reference"):
        TemplateRenderer().render(channel="sms", language="en", variables=values)


def test_template_variables_are_the_documented_set() -> None:
    """Expects the variables a template may use to be exactly the issue's facts plus lender."""
    assert set(TEMPLATE_VARIABLES) == {
        "borrower_name",
        "amount_due",
        "due_date",
        "loan_reference",
        "payment_reference",
        "lender_name",
    }


@pytest.mark.parametrize(
    ("amount", "display", "text"),
    [
        (1_234_567.891, {}, "₹12,34,567.89"),
        (999.5, {}, "₹999.50"),
        (0, {}, "₹0.00"),
        (12_45_000.0, {"units": "crore_lakh"}, "₹12,45,000.00"),
        (1_234_567.891, {"locale": "en_US", "currency": "USD"}, "$1,234,567.89"),
        (1_234_567.891, {"locale": "de_DE", "currency": "EUR"}, "1.234.567,89\xa0€"),
    ],
)
def test_reminder_amounts_are_exact_and_grouped_for_the_display_locale(
    amount: float, display: dict[str, str], text: str
) -> None:
    """Expects Indian digit groups by default, the locale's elsewhere, paise always, and
    never crore or lakh units: a reminder states exactly what is due."""
    assert reminder_amount(amount, MoneyFormat(DisplaySettings(**display))) == text


def _broken_templates(folder: Path) -> Path:
    sms = folder / "sms" / "en"
    sms.mkdir(parents=True)
    (sms / "reminder.txt.j2").write_text("Dear {{ borrower_name }}, pay by {{ pay_link }}.\n")
    return folder


def test_check_templates_finds_an_override_that_needs_an_unknown_variable(
    tmp_path: Path,
) -> None:
    """Gives a template_dir whose SMS template names a variable no message has; expects an error."""
    renderer = TemplateRenderer(_broken_templates(tmp_path / "templates"))
    check_templates(renderer, channels=("email",))  # email still packaged: fine
    with pytest.raises(TemplateRenderError, match="pay_link"):
        check_templates(renderer, channels=("sms",))


def test_a_broken_template_stops_the_run_before_anything_is_sent(
    tmp_path: Path,
    smtp_server: SmtpServer,
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    make_settings: Callable[..., Settings],
    notify_store: Store,
) -> None:
    """Gives due reminders and a broken SMS template; expects an error, no mail, no queue."""
    table = load_book([{}, {}, {schema.CONSENT_SMS: "No"}])
    settings = make_settings(
        smtp=smtp_server,
        channels=["email", "sms"],
        template_dir=str(_broken_templates(tmp_path / "templates")),
    )
    senders = build_senders(settings.notify, channels=("email",))
    with pytest.raises(TemplateRenderError, match="pay_link"):
        run_remind(
            settings=settings,
            store=notify_store,
            extra_targets=reminder_targets(table[schema.LOAN_ID], "reminder"),
            now=datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
            senders={"email": senders["email"], "sms": senders["email"]},
        )
    assert smtp_server.recorder.count() == 0
    with notify_store.transaction() as session:
        assert sum(outbox_counts(session).values()) == 0
