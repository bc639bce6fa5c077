"""The stored book as a loan table: what the dashboard plans when its source is the store.

Loans joined to their borrower's contact rules (consent, do-not-contact, language, time
zone) under canonical column names, so the table goes through ``validate_frame`` and the
plan exactly like a file would. Names, phones and emails are never read.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loan_recovery.data import schema
from loan_recovery.store.models import (
    BORROWER_COLUMNS,
    LOAN_COLUMNS,
    UPDATED_AT,
    borrower_key,
    borrowers,
    db_column,
    loans,
)

#: Borrower columns that are personal data: never read into a planning table.
PERSONAL_COLUMNS: frozenset[str] = frozenset((schema.BORROWER_NAME, schema.PHONE, schema.EMAIL))


def read_loan_table(engine: Engine) -> pd.DataFrame:
    """Every stored loan (latest state) as canonical columns, ordered by Loan_ID."""
    contact = [name for name in BORROWER_COLUMNS if name not in PERSONAL_COLUMNS]
    selected = [loans.c[db_column(name)].label(name) for name in LOAN_COLUMNS] + [
        borrowers.c[db_column(name)].label(name) for name in contact
    ]
    query = (
        sa.select(*selected)
        .select_from(
            loans.outerjoin(borrowers, loans.c[db_column(schema.BORROWER_ID)] == borrower_key)
        )
        .order_by(loans.c[db_column(schema.LOAN_ID)])
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    return frame.dropna(axis="columns", how="all")


def book_stamp(engine: Engine) -> str:
    """Loans stored and the latest change: equal stamps, equal book (a cheap cache key)."""
    updated = loans.c[UPDATED_AT]
    query = sa.select(sa.func.count(), sa.func.max(updated)).select_from(loans)
    with engine.connect() as connection:
        count, latest = connection.execute(query).one()
    return f"{count}@{latest}"
