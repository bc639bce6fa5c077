"""Importing loans into the store: idempotent, vectorised upserts by ``Loan_ID``.

Each loan (and borrower) row carries a content hash of its canonical values, computed for
a whole batch at once with pandas. An incoming batch is compared with the stored hashes
in one query: equal hash, nothing to do; new key, bulk insert; different hash, the stored
rows are read back, compared column by column, and the changed ones are bulk updated
with one audit row each naming the old and new values (personal data masked). Importing
the same file twice therefore changes nothing.

Batches commit one transaction each (:func:`import_loans`), so a killed import leaves only
whole batches behind and a re-run finds them unchanged and writes the rest.

Rules:

* Columns a file does not carry keep their stored values (a file without contact
  details does not erase them).
* A snapshot table may hold a loan once per ``As_Of_Date``: only its latest row is
  imported, and a row older than the stored snapshot never overwrites it. Such rows are
  counted as ``outdated``.
* Borrowers are upserted by ``Borrower_ID`` from the same rows (the last row of a
  borrower in a batch wins), before their loans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.data.validation import current_snapshot
from loan_recovery.store.audit import audit_record, change, write_audit_records
from loan_recovery.store.bulk import Column, Same, bulk_insert, bulk_update
from loan_recovery.store.models import (
    BORROWER_SPECS,
    CONTENT_HASH,
    CREATED_AT,
    LOAN_SPECS,
    UPDATED_AT,
    borrowers,
    db_column,
    loans,
    utc_now,
)

#: Keys per ``IN (...)`` lookup: far below SQLite's 32,766 bound parameters.
LOOKUP_CHUNK = 10_000
#: Audit ``action`` names of the import.
LOAN_UPDATE = "loan.update"
BORROWER_UPDATE = "borrower.update"
IMPORT_BATCH = "loans.import_batch"

_MISSING_TEXT = "\x00"  # stands for a blank text cell in hashes and comparisons
_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: mixes column hashes

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did with its rows; loans and borrowers counted separately.

    ``inserted + updated + unchanged + outdated`` is the number of loan rows given.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    outdated: int = 0
    borrowers_inserted: int = 0
    borrowers_updated: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in fields(self)
            }
        )

    @property
    def loans(self) -> int:
        """Loan rows accounted for."""
        return self.inserted + self.updated + self.unchanged + self.outdated

    def as_dict(self) -> dict[str, int]:
        """The counts by name (audit details, JSON output)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True, slots=True)
class _Target:
    """A table upserted by its canonical key."""

    table: sa.Table
    specs: tuple[ColumnSpec, ...]
    key: str
    entity: str
    update_action: str

    @property
    def key_column(self) -> sa.Column[Any]:
        return self.table.c[db_column(self.key)]


_LOANS = _Target(loans, LOAN_SPECS, schema.LOAN_ID, "loan", LOAN_UPDATE)
_BORROWERS = _Target(borrowers, BORROWER_SPECS, schema.BORROWER_ID, "borrower", BORROWER_UPDATE)


@dataclass(frozen=True, slots=True)
class _TableResult:
    inserted: int
    updated: int
    unchanged: int


# --- entry points ---------------------------------------------------------------------------
def latest_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per ``Loan_ID`` (its latest ``As_Of_Date``) and how many rows were dropped.

    The store keeps a loan's current state; the choice of row is validation's
    :func:`~loan_recovery.data.validation.current_snapshot`, shared with the dashboard.
    """
    kept = current_snapshot(table)
    return kept, len(table) - len(kept)


def batches(table: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive slices of ``size`` rows."""
    for start in range(0, len(table), size):
        yield table.iloc[start : start + size]


def import_loans(
    engine: Engine,
    table: pd.DataFrame,
    *,
    actor: str,
    batch_size: int,
    source: str | None = None,
    on_batch: Callable[[UpsertCounts], None] | None = None,
) -> UpsertCounts:
    """Upsert a validated table in batches, each committed in its own transaction.

    ``on_batch`` receives the running totals after every commit (progress display).
    Returns the totals; ``outdated`` includes the older snapshot rows of the table.
    """
    latest, superseded = latest_rows(table)
    totals = UpsertCounts(outdated=superseded)
    for number, batch in enumerate(batches(latest, batch_size), start=1):
        with engine.begin() as connection:
            counts = upsert_loans(connection, batch, actor=actor, source=source, batch=number)
        totals = totals + counts
        if on_batch is not None:
            on_batch(totals)
    return totals


def upsert_loans(
    connection: sa.Connection,
    table: pd.DataFrame,
    *,
    actor: str,
    source: str | None = None,
    batch: int | None = None,
) -> UpsertCounts:
    """Upsert borrowers, then loans, of ``table`` inside the caller's transaction.

    ``table`` is validated; a loan it holds more than once (snapshots) is upserted from
    its latest row, the others counted as outdated. Writes one audit row per changed
    loan or borrower and one for the batch.
    """
    if table.empty:
        return UpsertCounts()
    table, superseded = latest_rows(table)
    now = utc_now()
    audit: list[dict[str, Any]] = []
    outdated = _outdated(connection, table)
    current = table[~outdated]
    borrower_rows = current.drop_duplicates(subset=schema.BORROWER_ID, keep="last")
    people = _upsert(connection, _BORROWERS, borrower_rows, actor, source, now, audit)
    loan_result = _upsert(connection, _LOANS, current, actor, source, now, audit)
    counts = UpsertCounts(
        inserted=loan_result.inserted,
        updated=loan_result.updated,
        unchanged=loan_result.unchanged,
        outdated=superseded + int(outdated.sum()),
        borrowers_inserted=people.inserted,
        borrowers_updated=people.updated,
    )
    details: dict[str, Any] = {"source": source, "batch": batch, **counts.as_dict()}
    audit.append(
        audit_record(actor=actor, action=IMPORT_BATCH, entity="loan", details=details, at=now)
    )
    write_audit_records(connection, audit)
    return counts


def _outdated(connection: sa.Connection, table: pd.DataFrame) -> BoolArray:
    """Rows dated before their loan's stored ``As_Of_Date``: they must not overwrite it.

    Decided before anything is written, so such a row updates neither its loan nor its
    borrower's contact details.
    """
    outdated = np.zeros(len(table), dtype=bool)
    if schema.AS_OF_DATE not in table.columns:
        return outdated
    date_spec = [schema.SPECS_BY_NAME[schema.AS_OF_DATE]]
    new_date = typed_frame(table, date_spec)[schema.AS_OF_DATE].to_numpy()
    keys = table[schema.LOAN_ID].astype(str).to_numpy(dtype=object)
    stored = _fetch(connection, _LOANS, keys, [schema.AS_OF_DATE], with_hash=False)
    old_date = stored[schema.AS_OF_DATE].reindex(pd.Index(keys, dtype=object)).to_numpy()
    older: BoolArray = ~np.isnat(new_date) & ~np.isnat(old_date) & (new_date < old_date)
    return older


# --- the upsert of one table ---------------------------------------------------------------
def _upsert(
    connection: sa.Connection,
    target: _Target,
    frame: pd.DataFrame,
    actor: str,
    source: str | None,
    now: datetime,
    audit: list[dict[str, Any]],
) -> _TableResult:
    present = [spec for spec in target.specs if spec.name in frame.columns]
    absent = [spec for spec in target.specs if spec.name not in frame.columns]
    incoming = typed_frame(frame[[spec.name for spec in present]], present)
    keys = incoming[target.key].astype(str).to_numpy(dtype=object)
    incoming[target.key] = keys
    extra = [spec.name for spec in absent]
    stored = _fetch(connection, target, keys, extra, with_hash=True)
    exists: BoolArray = pd.Index(keys, dtype=object).isin(stored.index)
    aligned = stored.reindex(pd.Index(keys, dtype=object))
    for name in extra:
        incoming[name] = aligned[name].set_axis(incoming.index)
    incoming = incoming[[spec.name for spec in target.specs]]
    hashes = content_hashes(incoming, target.specs)
    stored_hash = np.zeros(len(keys), dtype=np.int64)
    stored_hash[exists] = aligned[CONTENT_HASH].to_numpy(dtype=object)[exists].astype(np.int64)
    same = exists & (hashes == stored_hash)
    candidates = exists & ~same
    changed = np.zeros(len(keys), dtype=bool)
    if candidates.any():
        changed = _record_changes(
            connection, target, incoming, candidates, actor, source, now, audit
        )
    refresh = candidates & ~changed
    new = ~exists
    _insert(connection, target, incoming[new], hashes[new], now)
    _update(connection, target, incoming[changed], hashes[changed], now)
    _refresh_hashes(connection, target, keys[refresh], hashes[refresh])
    return _TableResult(
        inserted=int(new.sum()),
        updated=int(changed.sum()),
        unchanged=int((same | refresh).sum()),
    )


def _record_changes(
    connection: sa.Connection,
    target: _Target,
    incoming: pd.DataFrame,
    candidates: BoolArray,
    actor: str,
    source: str | None,
    now: datetime,
    audit: list[dict[str, Any]],
) -> BoolArray:
    """Which candidates really differ from the stored row; audits their changed fields.

    A candidate whose hash differs but whose values do not (a hash written by an older
    version of this code) is not a change: only its hash is refreshed.
    """
    names = [spec.name for spec in target.specs]
    new = incoming[candidates].reset_index(drop=True)
    keys = new[target.key].to_numpy(dtype=object)
    values = [name for name in names if name != target.key]
    stored = _fetch(connection, target, keys, values, with_hash=False)
    old = stored.reindex(pd.Index(keys, dtype=object)).reset_index(drop=True)
    old[target.key] = keys
    old = old[names]
    differs = ~_equal_cells(
        hashable_columns(old, target.specs), hashable_columns(new, target.specs)
    )
    rows, columns = np.nonzero(differs)
    old_values = old.to_numpy(dtype=object)
    new_values = new.to_numpy(dtype=object)
    changes: dict[int, dict[str, Any]] = {}
    for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
        name = names[column]
        changes.setdefault(row, {})[name] = change(
            name, old_values[row, column], new_values[row, column]
        )
    for row, fields_changed in changes.items():
        audit.append(
            audit_record(
                actor=actor,
                action=target.update_action,
                entity=target.entity,
                entity_id=str(keys[row]),
                details={"source": source, "changes": fields_changed},
                at=now,
            )
        )
    changed = np.zeros(len(incoming), dtype=bool)
    changed[np.flatnonzero(candidates)[differs.any(axis=1)]] = True
    return changed


# --- reading and writing ---------------------------------------------------------------------
def _fetch(
    connection: sa.Connection,
    target: _Target,
    keys: npt.NDArray[Any],
    names: Sequence[str],
    *,
    with_hash: bool,
) -> pd.DataFrame:
    """Stored rows of ``keys`` (canonical column names, typed), indexed by key."""
    columns = [target.key_column, *(target.table.c[db_column(name)] for name in names)]
    if with_hash:
        columns.append(target.table.c[CONTENT_HASH])
    labels = [target.key, *names, *([CONTENT_HASH] if with_hash else [])]
    parts: list[pd.DataFrame] = []
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK].tolist()
        condition = key_in(connection, target.key_column, chunk)
        result = connection.execute(sa.select(*columns).where(condition))
        rows = result.fetchall()
        values = list(zip(*rows, strict=True)) if rows else [() for _ in labels]
        parts.append(
            pd.DataFrame(
                {
                    label: np.array(column, dtype=object)
                    for label, column in zip(labels, values, strict=True)
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=labels)
    stored = typed_frame(frame, [spec for spec in target.specs if spec.name in names])
    if with_hash:
        stored[CONTENT_HASH] = frame[CONTENT_HASH].to_numpy(dtype=object)
    stored.index = pd.Index(frame[target.key].to_numpy(dtype=object), dtype=object)
    return stored


def key_in(
    connection: sa.Connection, column: sa.ColumnElement[Any], keys: Sequence[str]
) -> sa.ColumnElement[bool]:
    """``column IN keys``: one array parameter on PostgreSQL, a parameter list elsewhere.

    Thousands of separate parameters are slow to send to PostgreSQL; one array is not.
    """
    if connection.dialect.name == "postgresql":
        keys_array = sa.bindparam("keys", list(keys), type_=postgresql.ARRAY(sa.String()))
        return column == sa.any_(keys_array)
    return column.in_(list(keys))


def _columns(frame: pd.DataFrame, specs: Sequence[ColumnSpec]) -> dict[str, Column]:
    """Values of ``specs`` as plain Python lists (None for blanks) by database column."""
    columns: dict[str, Column] = {}
    for spec in specs:
        column = frame[spec.name]
        if spec.kind is ColumnKind.DATE:
            column = column.dt.date
        values = column.to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        columns[db_column(spec.name)] = values.tolist()
    return columns


def _insert(
    connection: sa.Connection,
    target: _Target,
    frame: pd.DataFrame,
    hashes: npt.NDArray[np.int64],
    now: datetime,
) -> None:
    columns = _columns(frame, target.specs)
    columns[CONTENT_HASH] = hashes.tolist()
    columns[CREATED_AT] = Same(now)
    columns[UPDATED_AT] = Same(now)
    bulk_insert(connection, target.table, columns)


def _update(
    connection: sa.Connection,
    target: _Target,
    frame: pd.DataFrame,
    hashes: npt.NDArray[np.int64],
    now: datetime,
) -> None:
    columns = _columns(frame, target.specs)
    columns[CONTENT_HASH] = hashes.tolist()
    columns[UPDATED_AT] = Same(now)
    bulk_update(connection, target.table, key=db_column(target.key), columns=columns)


def _refresh_hashes(
    connection: sa.Connection,
    target: _Target,
    keys: npt.NDArray[Any],
    hashes: npt.NDArray[np.int64],
) -> None:
    key = db_column(target.key)
    columns: dict[str, Column] = {key: keys.tolist(), CONTENT_HASH: hashes.tolist()}
    bulk_update(connection, target.table, key=key, columns=columns)


# --- values: typed, hashable, hashed ---------------------------------------------------------
def typed_frame(frame: pd.DataFrame, specs: Sequence[ColumnSpec]) -> pd.DataFrame:
    """``frame``'s ``specs`` columns in one dtype per kind, whatever their source.

    The validated table (categoricals, int64 or Int64, datetimes with a time) and rows
    read back from either database (Python objects) come out identical: Int64 integers,
    float64 numbers, day-precision datetimes, and object text with None for blanks.
    """
    data: dict[str, Any] = {}
    for spec in specs:
        column = frame[spec.name]
        if spec.kind is ColumnKind.INTEGER:
            data[spec.name] = pd.to_numeric(column, errors="coerce").astype("Int64")
        elif spec.kind is ColumnKind.NUMBER:
            data[spec.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif spec.kind is ColumnKind.DATE:
            dates = pd.to_datetime(column, errors="coerce")
            data[spec.name] = dates.dt.floor("D").astype("datetime64[s]")
        else:
            text = column.astype(object)
            data[spec.name] = text.where(column.notna(), None)
    return pd.DataFrame(data, index=frame.index)


def hashable_columns(
    typed: pd.DataFrame, specs: Sequence[ColumnSpec]
) -> dict[str, npt.NDArray[Any]]:
    """One plain NumPy array per spec: float64 for numbers and dates, object text otherwise.

    Numbers become float64 (exact for validated integers, which stay below 2**53), dates
    days since the epoch, blanks NaN or a sentinel; -0.0 becomes 0.0 and every NaN the
    same NaN, so equal values always have equal bits.
    """
    data: dict[str, npt.NDArray[Any]] = {}
    for spec in specs:
        column = typed[spec.name]
        if spec.kind is ColumnKind.DATE:
            days = column.to_numpy(dtype="datetime64[D]")
            values = days.astype(np.int64).astype(np.float64)
            data[spec.name] = np.where(np.isnat(days), np.nan, values)
        elif spec.kind in (ColumnKind.INTEGER, ColumnKind.NUMBER):
            numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
            data[spec.name] = np.where(np.isnan(numbers), np.nan, numbers + 0.0)
        else:
            text = column.to_numpy(dtype=object)
            data[spec.name] = np.where(pd.isna(text), _MISSING_TEXT, text).astype(object)
    return data


def content_hashes(typed: pd.DataFrame, specs: Sequence[ColumnSpec]) -> npt.NDArray[np.int64]:
    """A 64-bit hash of every row's values of ``specs`` (signed, to fit a BIGINT).

    pandas hashes whole columns at once (SipHash for text, the value bits for numbers);
    the column hashes are combined in spec order with wrapping uint64 arithmetic. No
    per-row Python work. Only the old and new version of one loan are ever compared, so
    a collision (odds 2**-64 per change) is the only way an update could be missed.
    """
    combined = np.zeros(len(typed), dtype=np.uint64)
    for values in hashable_columns(typed, specs).values():
        hashed = pd.util.hash_array(values, categorize=True)
        combined = (combined * _HASH_MULTIPLIER) ^ hashed
    return combined.view(np.int64)


def _equal_cells(
    left: dict[str, npt.NDArray[Any]], right: dict[str, npt.NDArray[Any]]
) -> BoolArray:
    """Cell-wise equality of two sets of hashable columns, NaN equal to NaN."""
    names = list(left)
    result = np.ones((len(left[names[0]]), len(names)), dtype=bool)
    for position, name in enumerate(names):
        a, b = left[name], right[name]
        equal = a == b
        if a.dtype.kind == "f":
            equal |= np.isnan(a) & np.isnan(b)
        result[:, position] = equal
    return result
