"""The worklist page's table logic: loan columns beside the plan, filters, downloads.

Pure functions (no Streamlit), so the filter that decides which loans an agent sees is
unit-tested like the rest of the pipeline. Column names come from the schema.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loan_recovery import features
from loan_recovery.data import schema
from loan_recovery.data.io import write_excel
from loan_recovery.money import MoneyFormat

#: Loan columns shown beside the plan (when the table has them), in this order.
LOAN_COLUMNS: tuple[str, ...] = (
    schema.BORROWER_ID,
    schema.LOAN_TYPE,
    schema.OUTSTANDING_LOAN_AMOUNT,
    schema.DAYS_PAST_DUE,
)
#: Sheet name of the Excel download.
EXCEL_SHEET = "worklist"


def with_loan_columns(worklist: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The plan's worklist (order kept) with each loan's exposure, DPD, bucket and asset class.

    Rows are matched by ``Loan_ID``; a table holding several snapshots of a loan gives its
    last row. Adds :data:`LOAN_COLUMNS` present in ``table`` plus ``DPD_Bucket`` and
    ``Asset_Class`` (from :mod:`loan_recovery.features`, as scoring derives them).
    """
    columns = [column for column in LOAN_COLUMNS if column in table.columns]
    loans = pd.concat(
        [
            table[[schema.LOAN_ID, *columns]],
            features.dpd_bucket(table),
            features.asset_class(table),
        ],
        axis=1,
    )
    loans = loans.drop_duplicates(subset=schema.LOAN_ID, keep="last").set_index(schema.LOAN_ID)
    matched = loans.reindex(pd.Index(worklist[schema.LOAN_ID]))
    extra = matched.reset_index(drop=True).set_axis(worklist.index)
    overlap = [column for column in extra.columns if column in worklist.columns]
    return pd.concat([worklist, extra.drop(columns=overlap)], axis=1)


@dataclass(frozen=True, slots=True)
class WorklistFilter:
    """Which loans to show: each tuple keeps loans with one of its values (empty: all).

    ``min_exposure`` keeps loans with at least that much outstanding (0: all).
    """

    segments: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    dpd_buckets: tuple[str, ...] = ()
    asset_classes: tuple[str, ...] = ()
    min_exposure: float = 0.0

    @property
    def active(self) -> bool:
        """Whether any filter narrows the worklist."""
        chosen = (self.segments, self.actions, self.dpd_buckets, self.asset_classes)
        return any(chosen) or self.min_exposure > 0


def _member(frame: pd.DataFrame, column: str, values: Iterable[str]) -> np.ndarray:
    wanted = list(values)
    if not wanted:
        return np.ones(len(frame), dtype=bool)
    return np.asarray(frame[column].astype("string").isin(wanted).fillna(False), dtype=bool)


def filter_worklist(worklist: pd.DataFrame, chosen: WorklistFilter) -> pd.DataFrame:
    """The rows of ``worklist`` (from :func:`with_loan_columns`) that pass every filter.

    Order (priority) is kept. A filter on a column the frame lacks keeps nothing, so a
    missing column can never silently show everything.
    """
    keep = np.ones(len(worklist), dtype=bool)
    for column, values in (
        (schema.SEGMENT_NAME, chosen.segments),
        (schema.RECOMMENDED_ACTION, chosen.actions),
        (schema.DPD_BUCKET, chosen.dpd_buckets),
        (schema.ASSET_CLASS, chosen.asset_classes),
    ):
        if values and column not in worklist.columns:
            return worklist.iloc[0:0]
        keep &= _member(worklist, column, values)
    if chosen.min_exposure > 0:
        if schema.OUTSTANDING_LOAN_AMOUNT not in worklist.columns:
            return worklist.iloc[0:0]
        exposure = worklist[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64)
        keep &= exposure >= chosen.min_exposure
    return worklist[keep]


def options(worklist: pd.DataFrame, column: str, order: Iterable[str] = ()) -> list[str]:
    """Distinct values of ``column`` for a filter's choices: ``order`` first, then sorted."""
    if column not in worklist.columns:
        return []
    present = {str(value) for value in worklist[column].dropna().unique()}
    ordered = [value for value in order if value in present]
    return ordered + sorted(present - set(ordered))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV without the index."""
    return frame.to_csv(index=False).encode("utf-8")


def excel_bytes(frame: pd.DataFrame, money: MoneyFormat) -> bytes:
    """The frame as an .xlsx workbook (one sheet, no index), money in the display's format."""
    buffer = io.BytesIO()
    write_excel(
        frame, buffer, number_formats=money.excel_formats(frame.columns), sheet_name=EXCEL_SHEET
    )
    return buffer.getvalue()
