"""Import-payments job: validate an installment file and upsert it into the store.

Rows validation rejects, and rows whose loan the store does not hold, go to one
quarantine file (original values, line, reason); the counts reconcile:
``rows_read = inserted + updated + unchanged + rejected``. Importing the same file again
changes nothing (every row unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data.io import load_mapping, read_raw_table, write_table
from loan_recovery.data.payment_validation import validate_payments
from loan_recovery.data.validation import LINE, REASON, default_quarantine_path
from loan_recovery.store.audit import CLI_ACTOR, write_audit
from loan_recovery.store.db import Store, shown_url, store_session_scope
from loan_recovery.store.payments import (
    UNKNOWN_LOAN_REASON,
    PaymentCounts,
    import_payments,
)

PAYMENTS_IMPORT = "payments.import"


@dataclass(frozen=True)
class PaymentImportOutcome:
    """What an installment import did, and where its rejected rows went."""

    counts: PaymentCounts
    rows_read: int
    invalid: int
    quarantine_path: Path | None
    database: str

    @property
    def rejected(self) -> int:
        """Rows not stored: refused by validation, or for a loan the store does not hold."""
        return self.invalid + self.counts.unknown_loan

    @property
    def reconciles(self) -> bool:
        """Every row read is inserted, updated, unchanged or rejected."""
        counts = self.counts
        return self.rows_read == counts.inserted + counts.updated + counts.unchanged + self.rejected

    def as_dict(self) -> dict[str, int]:
        """The counts ``import-payments --json`` prints and the audit row records."""
        return {
            "rows_read": self.rows_read,
            "inserted": self.counts.inserted,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "rejected": self.rejected,
            "invalid": self.invalid,
            "unknown_loan": self.counts.unknown_loan,
        }


def _source_lines(raw: pd.DataFrame, rejected_lines: Any, accepted: int) -> pd.Index | None:
    """Source lines of the accepted rows, in order (None if they cannot be matched)."""
    lines = pd.Index(raw.index)
    kept = lines[~lines.isin(pd.Index(rejected_lines))]
    return kept if len(kept) == accepted else None


def _unknown_quarantine(
    raw: pd.DataFrame, unknown: pd.DataFrame, lines: pd.Index | None
) -> pd.DataFrame:
    """Quarantine rows for installments of unknown loans: original values, line, reason."""
    if unknown.empty:
        return pd.DataFrame()
    if lines is not None:
        positions = unknown.index.to_numpy()
        source = lines[positions]
        frame = raw.loc[source].reset_index(drop=True)
        line_values: Any = np.asarray(source)
    else:  # lines cannot be matched: keep the typed values instead
        frame = unknown.astype(str).reset_index(drop=True)
        line_values = pd.array([pd.NA] * len(unknown), dtype="Int64")
    frame.insert(0, LINE, line_values)
    frame.insert(1, REASON, UNKNOWN_LOAN_REASON)
    return frame


def run_import_payments(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    actor: str = CLI_ACTOR,
    batch_size: int | None = None,
    store: Store | None = None,
    on_batch: Callable[[PaymentCounts], None] | None = None,
) -> PaymentImportOutcome:
    """Validate ``path``, upsert accepted installments in batches, quarantine the rest."""
    with store_session_scope(settings, store) as active:
        mapping = load_mapping(mapping_path) if mapping_path is not None else None
        raw = read_raw_table(path, mapping)
        result = validate_payments(raw, settings=settings)
        imported = import_payments(
            active.engine,
            result.table,
            actor=actor,
            batch_size=batch_size or settings.store.batch_size,
            source=path.name,
            on_batch=on_batch,
        )
        rejected_lines: Any = result.quarantine.get(LINE, [])
        lines = _source_lines(raw, rejected_lines, result.accepted)
        unknown = _unknown_quarantine(raw, imported.unknown, lines)
        parts = [frame for frame in (result.quarantine, unknown) if not frame.empty]
        written: Path | None = None
        if parts:
            quarantine = pd.concat(parts, ignore_index=True)
            if LINE in quarantine:
                quarantine = quarantine.sort_values(LINE, kind="stable", na_position="last")
            written = write_table(quarantine, quarantine_path or default_quarantine_path(path))
        outcome = PaymentImportOutcome(
            counts=imported.counts,
            rows_read=result.rows_read,
            invalid=result.rejected,
            quarantine_path=written,
            database=shown_url(active.engine.url),
        )
        with active.transaction() as session:
            write_audit(
                session,
                actor=actor,
                action=PAYMENTS_IMPORT,
                entity="payment",
                details={"source": path.name, **outcome.as_dict()},
            )
        return outcome
