"""Reminder fixtures: a small case store with chosen contact details, a local SMTP server
(aiosmtpd) and a local HTTP SMS gateway (http.server), each on a free port.

The store is a SQLite file copied from a template migrated once per session; loans come
from the session's simulated portfolio with their contact columns overwritten, so every
test says exactly which borrower may be contacted how and where they live.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from notify_servers import (
    SmsGateway,
    SmtpServer,
    free_port,
    running_sms_gateway,
    running_smtp_server,
)

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.store.db import Store, open_store
from loan_recovery.store.loans import import_loans


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that records what it receives."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def smtputf8_server() -> Iterator[SmtpServer]:
    """A real SMTP server that advertises SMTPUTF8 (internationalised addresses)."""
    with running_smtp_server(smtputf8=True) as server:
        yield server


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    """A local HTTP SMS gateway that records every POST and answers by its script."""
    with running_sms_gateway() as gateway:
        yield gateway


# --- store ------------------------------------------------------------------------------------
@pytest.fixture
def database_file(sqlite_template: Path, tmp_path: Path) -> Path:
    """A fresh migrated SQLite store file for one test."""
    path = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def notify_store(database_file: Path) -> Iterator[Store]:
    """An open store on a fresh migrated SQLite file."""
    store = open_store(f"sqlite:///{database_file}")
    yield store
    store.dispose()


def contact_book(portfolio: SimulatedPortfolio, people: list[dict[str, Any]]) -> pd.DataFrame:
    """Validated loans, one per entry of ``people``, with those contact details.

    Each entry may set any contact column (canonical names); unset ones get defaults: a
    named borrower in Asia/Kolkata who consents to SMS and email, in English.
    """
    rows = portfolio.loans.head(len(people)).copy()
    defaults = {
        schema.BORROWER_NAME: "Asha Rao",
        schema.PHONE: "+919800000000",
        schema.EMAIL: "borrower@example.com",
        schema.PREFERRED_LANGUAGE: "en",
        schema.TIME_ZONE: "Asia/Kolkata",
        schema.CONSENT_SMS: "Yes",
        schema.CONSENT_EMAIL: "Yes",
        schema.DO_NOT_CONTACT: "No",
    }
    for column, value in defaults.items():
        rows[column] = [person.get(column, value) for person in people]
    rows[schema.BORROWER_ID] = [f"B{number:04d}" for number in range(len(people))]
    rows[schema.LOAN_ID] = [f"L{number:04d}" for number in range(len(people))]
    result = validate_frame(rows)
    assert result.rejected == 0, result.issues
    return result.table


@pytest.fixture
def load_book(
    small_portfolio: SimulatedPortfolio, notify_store: Store
) -> Callable[[list[dict[str, Any]]], pd.DataFrame]:
    """Puts a contact book (see :func:`contact_book`) into the test's store."""

    def load(people: list[dict[str, Any]]) -> pd.DataFrame:
        table = contact_book(small_portfolio, people)
        import_loans(notify_store.engine, table, actor="test", batch_size=1_000)
        return table

    return load


@pytest.fixture
def make_settings(tmp_path: Path, database_file: Path) -> Callable[..., Settings]:
    """Settings for the test's store and local servers; keyword ``notify`` entries merge in."""

    def make(
        smtp: SmtpServer | None = None, gateway: SmsGateway | None = None, **notify: Any
    ) -> Settings:
        section: dict[str, Any] = {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port if smtp is not None else free_port(),
                "starttls": False,
                "sender": "reminders@lender.example",
                "timeout": 5,
            },
            "sms": {
                "url": gateway.url if gateway is not None else None,
                "timeout": 0.5,
                "backoff_seconds": 0.0,
                "max_retries": 2,
            },
            "lender_name": "Test Lender",
        }
        for name, value in notify.items():
            if isinstance(value, dict) and isinstance(section.get(name), dict):
                section[name] = {**section[name], **value}
            else:
                section[name] = value
        return load_settings(
            var_dir=tmp_path / "var", database_url=f"sqlite:///{database_file}", notify=section
        )

    return make
