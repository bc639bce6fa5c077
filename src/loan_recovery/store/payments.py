"""Importing installment histories into the store: idempotent upserts by (loan, due date).

The same method as :mod:`loan_recovery.store.loans`, for ``payments``: every row carries
a 64-bit content hash of its values, computed for a whole batch at once; an incoming
batch is compared with the stored rows of its loans in one query per chunk. Equal hash:
unchanged, nothing written. New key: bulk insert. Different hash: updated, with one audit
row naming the old and new values. Importing a file twice therefore changes nothing.

A row whose ``Loan_ID`` is not in the store cannot be kept (the table references
``loans``): it is returned as *unknown*, so the job counts it as rejected and writes it
to the quarantine file with the reason. Batches commit one transaction each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind
from loan_recovery.simulation.payments import DATE_DTYPE
from loan_recovery.store.audit import audit_record, change, write_audit_records
from loan_recovery.store.bulk import Column, Same, bulk_insert
from loan_recovery.store.loans import (
    LOOKUP_CHUNK,
    batches,
    content_hashes,
    hashable_columns,
    key_in,
    typed_frame,
)
from loan_recovery.store.models import (
    CONTENT_HASH,
    CREATED_AT,
    UPDATED_AT,
    db_column,
    loan_key,
    payments,
    utc_now,
)

#: Audit ``action`` names of the import.
PAYMENT_UPDATE = "payment.update"
IMPORT_BATCH = "payments.import_batch"
#: Reason given to rows whose loan is not in the store.
UNKNOWN_LOAN_REASON = "unknown loan: import the loan file first"

_SPECS = schema.PAYMENT_SPECS
_NAMES: tuple[str, ...] = tuple(spec.name for spec in _SPECS)
_VALUE_NAMES: tuple[str, ...] = tuple(
    name for name in _NAMES if name not in (schema.LOAN_ID, schema.DUE_DATE)
)
_LOAN = payments.c[db_column(schema.LOAN_ID)]
_DUE = payments.c[db_column(schema.DUE_DATE)]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class PaymentCounts:
    """What an import did with its rows: ``inserted + updated + unchanged + unknown_loan``."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    unknown_loan: int = 0

    def __add__(self, other: PaymentCounts) -> PaymentCounts:
        return PaymentCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def rows(self) -> int:
        """Rows accounted for."""
        return self.inserted + self.updated + self.unchanged + self.unknown_loan

    def as_dict(self) -> dict[str, int]:
        """The counts by name (audit details, JSON output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PaymentImport:
    """Totals of an import and the rows it could not keep (loan not in the store)."""

    counts: PaymentCounts
    unknown: pd.DataFrame


def import_payments(
    engine: Engine,
    table: pd.DataFrame,
    *,
    actor: str,
    batch_size: int,
    source: str | None = None,
    on_batch: Callable[[PaymentCounts], None] | None = None,
) -> PaymentImport:
    """Upsert a validated installment table in batches, each its own transaction.

    ``on_batch`` receives the running totals after every commit. Rows of unknown loans
    come back in :attr:`PaymentImport.unknown` (their original index kept).
    """
    totals = PaymentCounts()
    unknown: list[pd.DataFrame] = []
    for number, batch in enumerate(batches(table, batch_size), start=1):
        with engine.begin() as connection:
            counts, missing = upsert_payments(
                connection, batch, actor=actor, source=source, batch=number
            )
        totals = totals + counts
        if missing.any():
            unknown.append(batch[missing])
        if on_batch is not None:
            on_batch(totals)
    rejected = pd.concat(unknown) if unknown else table.iloc[:0]
    return PaymentImport(counts=totals, unknown=rejected)


def upsert_payments(
    connection: sa.Connection,
    table: pd.DataFrame,
    *,
    actor: str,
    source: str | None = None,
    batch: int | None = None,
) -> tuple[PaymentCounts, BoolArray]:
    """Upsert ``table``'s installments in the caller's transaction.

    ``table`` is validated (one row per Loan_ID and Due_Date). Returns the counts and a
    mask of the rows not written because their loan is not in the store. Writes one audit
    row per changed installment and one for the batch.
    """
    if table.empty:
        return PaymentCounts(), np.zeros(0, dtype=bool)
    incoming = typed_frame(table, _SPECS)
    loan_ids = incoming[schema.LOAN_ID].astype(str).to_numpy(dtype=object)
    incoming[schema.LOAN_ID] = loan_ids
    known = _known_loans(connection, pd.unique(loan_ids).tolist())
    unknown: BoolArray = ~pd.Index(loan_ids, dtype=object).isin(list(known))
    current = incoming[~unknown].reset_index(drop=True)
    now = utc_now()
    keys = pd.MultiIndex.from_arrays(
        [current[schema.LOAN_ID].to_numpy(dtype=object), current[schema.DUE_DATE].to_numpy()]
    )
    stored = _fetch(connection, pd.unique(current[schema.LOAN_ID]).tolist())
    exists: BoolArray = keys.isin(stored.index)
    aligned = stored.reindex(keys)
    hashes = content_hashes(current, _SPECS)
    stored_hash = np.zeros(len(current), dtype=np.int64)
    stored_hash[exists] = aligned[CONTENT_HASH].to_numpy(dtype=object)[exists].astype(np.int64)
    same = exists & (hashes == stored_hash)
    changed = exists & ~same
    new = ~exists
    audit: list[dict[str, Any]] = []
    if changed.any():
        old = aligned.reset_index(drop=True)
        old[schema.LOAN_ID] = current[schema.LOAN_ID]
        old[schema.DUE_DATE] = current[schema.DUE_DATE]
        audit += _change_records(old[changed], current[changed], actor, source, now)
    _insert(connection, current[new], hashes[new], now)
    _update(connection, current[changed], hashes[changed], now)
    counts = PaymentCounts(
        inserted=int(new.sum()),
        updated=int(changed.sum()),
        unchanged=int(same.sum()),
        unknown_loan=int(unknown.sum()),
    )
    details: dict[str, Any] = {"source": source, "batch": batch, **counts.as_dict()}
    audit.append(
        audit_record(actor=actor, action=IMPORT_BATCH, entity="payment", details=details, at=now)
    )
    write_audit_records(connection, audit)
    return counts, unknown


def _known_loans(connection: sa.Connection, loan_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        statement = sa.select(loan_key).where(key_in(connection, loan_key, chunk))
        found.update(connection.execute(statement).scalars())
    return found


def _fetch(connection: sa.Connection, loan_ids: Sequence[str]) -> pd.DataFrame:
    """Stored installments of ``loan_ids`` (typed), indexed by (Loan_ID, Due_Date)."""
    columns = [payments.c[db_column(name)] for name in _NAMES]
    labels = [*_NAMES, CONTENT_HASH]
    rows: list[Any] = []
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        statement = sa.select(*columns, payments.c[CONTENT_HASH]).where(
            key_in(connection, _LOAN, chunk)
        )
        rows.extend(tuple(row) for row in connection.execute(statement))
    frame = pd.DataFrame(rows, columns=labels, dtype=object)
    stored = typed_frame(frame, _SPECS)
    stored[CONTENT_HASH] = frame[CONTENT_HASH].to_numpy(dtype=object)
    stored.index = pd.MultiIndex.from_arrays(
        [frame[schema.LOAN_ID].to_numpy(dtype=object), stored[schema.DUE_DATE].to_numpy()]
    )
    return stored


def _change_records(
    old: pd.DataFrame,
    new: pd.DataFrame,
    actor: str,
    source: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """One audit record per changed installment, naming the fields that changed."""
    left = hashable_columns(old, _SPECS)
    right = hashable_columns(new, _SPECS)
    differs = np.zeros((len(new), len(_VALUE_NAMES)), dtype=bool)
    for position, name in enumerate(_VALUE_NAMES):
        a, b = left[name], right[name]
        equal = a == b
        if a.dtype.kind == "f":
            equal |= np.isnan(a) & np.isnan(b)
        differs[:, position] = ~equal
    old_values = {name: _python_values(old, name) for name in _NAMES}
    new_values = {name: _python_values(new, name) for name in _NAMES}
    records: list[dict[str, Any]] = []
    for row in range(len(new)):
        changes = {
            name: change(name, old_values[name][row], new_values[name][row])
            for position, name in enumerate(_VALUE_NAMES)
            if differs[row, position]
        }
        loan_id = new_values[schema.LOAN_ID][row]
        due = new_values[schema.DUE_DATE][row]
        records.append(
            audit_record(
                actor=actor,
                action=PAYMENT_UPDATE,
                entity="payment",
                entity_id=f"{loan_id}/{due}",
                details={"source": source, "changes": changes},
                at=now,
            )
        )
    return records


def _python_values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column as plain Python values: ``date`` for dates, None for blanks."""
    column = frame[name]
    if _kind(name) is ColumnKind.DATE:
        return [None if pd.isna(value) else pd.Timestamp(value).date() for value in column]
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = None
    return [value.item() if isinstance(value, np.generic) else value for value in values]


def _kind(name: str) -> ColumnKind:
    return next(spec.kind for spec in _SPECS if spec.name == name)


def _columns(frame: pd.DataFrame) -> dict[str, Column]:
    return {db_column(name): _python_values(frame, name) for name in _NAMES}


def _insert(
    connection: sa.Connection, frame: pd.DataFrame, hashes: npt.NDArray[np.int64], now: datetime
) -> None:
    if frame.empty:
        return
    columns = _columns(frame)
    columns[CONTENT_HASH] = hashes.tolist()
    columns[CREATED_AT] = Same(now)
    columns[UPDATED_AT] = Same(now)
    bulk_insert(connection, payments, columns)


def _update(
    connection: sa.Connection, frame: pd.DataFrame, hashes: npt.NDArray[np.int64], now: datetime
) -> None:
    """Update changed installments by their two-column key (executemany)."""
    if frame.empty:
        return
    values = {name: _python_values(frame, name) for name in _NAMES}
    statement = (
        sa.update(payments)
        .where(sa.bindparam("key_loan") == _LOAN, sa.bindparam("key_due") == _DUE)
        .values(
            {
                **{
                    db_column(name): sa.bindparam(f"new_{db_column(name)}") for name in _VALUE_NAMES
                },
                CONTENT_HASH: sa.bindparam("new_hash"),
                UPDATED_AT: sa.bindparam("new_updated_at"),
            }
        )
    )
    parameters = [
        {
            "key_loan": values[schema.LOAN_ID][row],
            "key_due": values[schema.DUE_DATE][row],
            **{f"new_{db_column(name)}": values[name][row] for name in _VALUE_NAMES},
            "new_hash": int(hashes[row]),
            "new_updated_at": now,
        }
        for row in range(len(frame))
    ]
    connection.execute(statement, parameters)


# --- reading: what a reminder says is due ----------------------------------------------------
#: Columns of :func:`unpaid_installments`.
UNPAID_AMOUNT = "unpaid_amount"


def unpaid_installments(connection: sa.Connection, loan_ids: Sequence[str]) -> pd.DataFrame:
    """Installments of ``loan_ids`` not fully paid: ``Loan_ID``, ``Due_Date``, unpaid amount.

    Payments are applied oldest installment first, as lenders apply them: a short payment
    made good by a larger one later is no arrear, so a reminder never asks a borrower for
    money they already paid. An installment's unpaid amount is what the loan's total
    payments leave of it after covering every earlier one. A shortfall under one
    paisa/cent is rounding, not an arrear.
    """
    amount_due = payments.c[db_column(schema.AMOUNT_DUE)]
    amount_paid = payments.c[db_column(schema.AMOUNT_PAID)]
    rows: list[Any] = []
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        statement = sa.select(_LOAN, _DUE, amount_due, amount_paid).where(
            key_in(connection, _LOAN, chunk)
        )
        rows.extend(tuple(row) for row in connection.execute(statement))
    names = [schema.LOAN_ID, schema.DUE_DATE, schema.AMOUNT_DUE, schema.AMOUNT_PAID]
    frame = pd.DataFrame(rows, columns=names)
    frame[schema.DUE_DATE] = [
        value if isinstance(value, date) else pd.Timestamp(value).date()
        for value in frame[schema.DUE_DATE]
    ]
    frame = frame.sort_values([schema.LOAN_ID, schema.DUE_DATE], kind="stable")
    due = pd.to_numeric(frame[schema.AMOUNT_DUE]).astype("float64")
    paid = pd.to_numeric(frame[schema.AMOUNT_PAID]).astype("float64")
    loans = frame[schema.LOAN_ID]
    owed_through = due.groupby(loans, sort=False).cumsum()
    paid_in_all = paid.groupby(loans, sort=False).transform("sum")
    unpaid = np.clip((owed_through - paid_in_all).to_numpy(), 0.0, due.to_numpy())
    result = pd.DataFrame(
        {
            schema.LOAN_ID: loans.to_numpy(dtype=object),
            schema.DUE_DATE: frame[schema.DUE_DATE].to_numpy(dtype=object),
            UNPAID_AMOUNT: unpaid,
        }
    )
    return result[result[UNPAID_AMOUNT] >= 0.01].reset_index(drop=True)


# --- reading: the whole history, for early warning ---------------------------------------------
def read_payment_table(
    connection: sa.Connection, *, loan_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Stored installments in the payment layout, as a validated file would give them.

    Columns ``schema.PAYMENT_COLUMNS``: Loan_ID as text, Due_Date and Paid_Date as
    ``datetime64[us]`` (NaT: not paid), amounts float64; ordered by loan and due date. All
    loans, or only ``loan_ids``. Early warning scores from this exactly as from a file, so
    the store and the file path cannot disagree on a feature.
    """
    columns = [payments.c[db_column(name)] for name in _NAMES]
    order = (_LOAN, _DUE)
    rows: list[Any] = []
    if loan_ids is None:
        statement = sa.select(*columns).order_by(*order)
        rows.extend(tuple(row) for row in connection.execute(statement))
    else:
        wanted = sorted({str(loan_id) for loan_id in loan_ids})
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            statement = sa.select(*columns).where(key_in(connection, _LOAN, chunk)).order_by(*order)
            rows.extend(tuple(row) for row in connection.execute(statement))
    raw = pd.DataFrame(rows, columns=list(_NAMES), dtype=object)
    typed = typed_frame(raw, _SPECS)
    for name in _NAMES:
        if _kind(name) is ColumnKind.DATE:
            typed[name] = typed[name].astype(np.dtype(DATE_DTYPE))
    typed[schema.LOAN_ID] = typed[schema.LOAN_ID].astype("str")
    return typed.reset_index(drop=True)


def payments_stamp(connection: sa.Connection) -> str:
    """Installments stored and the latest change: equal stamps, equal history.

    A cheap cache key for whoever keeps scores computed from the history (the API's
    alerts): any import that inserts or changes a row moves it.
    """
    query = sa.select(sa.func.count(), sa.func.max(payments.c[UPDATED_AT])).select_from(payments)
    count, latest = connection.execute(query).one()
    return f"{count}@{latest}"


def payment_count(connection: sa.Connection) -> int:
    """Installments stored (0: nothing to score early warning from)."""
    return int(connection.execute(sa.select(sa.func.count()).select_from(payments)).scalar_one())
