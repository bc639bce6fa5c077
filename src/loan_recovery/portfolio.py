"""Portfolio summary: the numbers a collections head looks at first.

Pure, vectorised aggregation of a validated table (exposure by DPD bucket, asset class,
loan type, and what was recovered where the history says so). The CLI prints it; the
dashboard will chart it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from loan_recovery import features
from loan_recovery.data import schema


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    """Headline totals plus breakdown tables, each indexed by the group label."""

    totals: dict[str, float]
    by_dpd_bucket: pd.DataFrame
    by_asset_class: pd.DataFrame
    by_loan_type: pd.DataFrame
    by_recovery_status: pd.DataFrame | None = None
    by_collection_method: pd.DataFrame | None = field(default=None)


def _share(part: pd.Series, whole: float) -> pd.Series:
    return part / whole if whole > 0 else part * 0.0


def _breakdown(
    table: pd.DataFrame, group: pd.Series, total_exposure: float, *, keep_empty: bool = False
) -> pd.DataFrame:
    """Loans, exposure and shares per group.

    Empty groups are kept (as zeros) only where ``keep_empty``: for ordered scales such as
    DPD buckets a missing bucket is information; for labels it is noise.
    """
    exposure = table[schema.OUTSTANDING_LOAN_AMOUNT].astype(np.float64)
    grouped = exposure.groupby(group, observed=False)
    frame = pd.DataFrame({schema.LOANS: grouped.size(), schema.EXPOSURE: grouped.sum()})
    frame[schema.LOAN_SHARE] = _share(frame[schema.LOANS].astype(np.float64), float(len(table)))
    frame[schema.EXPOSURE_SHARE] = _share(frame[schema.EXPOSURE], total_exposure)
    frame[schema.MEAN_DAYS_PAST_DUE] = (
        table[schema.DAYS_PAST_DUE].astype(np.float64).groupby(group, observed=False).mean()
    ).fillna(0.0)
    if schema.AMOUNT_RECOVERED in table.columns:
        recovered = table[schema.AMOUNT_RECOVERED].astype(np.float64).fillna(0.0)
        frame[schema.RECOVERED] = recovered.groupby(group, observed=False).sum()
        frame[schema.RECOVERY_RATE] = (
            frame[schema.RECOVERED] / frame[schema.EXPOSURE].where(frame[schema.EXPOSURE] > 0)
        ).fillna(0.0)
    frame.index.name = group.name
    return frame if keep_empty else frame[frame[schema.LOANS] > 0]


def summarise_portfolio(table: pd.DataFrame) -> PortfolioSummary:
    """Totals and breakdowns of a validated loan table."""
    exposure = table[schema.OUTSTANDING_LOAN_AMOUNT].astype(np.float64)
    total_exposure = float(exposure.sum())
    asset = features.asset_class(table)
    npa_exposure = float(exposure[asset.eq("NPA")].sum())
    totals: dict[str, float] = {
        schema.LOANS: float(len(table)),
        schema.BORROWERS: float(table[schema.BORROWER_ID].nunique()),
        schema.EXPOSURE: total_exposure,
        schema.MEAN_DAYS_PAST_DUE: float(table[schema.DAYS_PAST_DUE].mean()) if len(table) else 0.0,
        schema.SECURED_SHARE: float(features.secured_flag(table).mean()) if len(table) else 0.0,
        schema.NPA_EXPOSURE_SHARE: npa_exposure / total_exposure if total_exposure > 0 else 0.0,
    }
    if schema.AMOUNT_RECOVERED in table.columns:
        recovered = float(table[schema.AMOUNT_RECOVERED].astype(np.float64).fillna(0.0).sum())
        totals[schema.RECOVERED] = recovered
        totals[schema.RECOVERY_RATE] = recovered / total_exposure if total_exposure > 0 else 0.0

    def optional(column: str) -> pd.DataFrame | None:
        if column not in table.columns:
            return None
        return _breakdown(table, table[column].rename(column), total_exposure)

    return PortfolioSummary(
        totals=totals,
        by_dpd_bucket=_breakdown(
            table, features.dpd_bucket(table), total_exposure, keep_empty=True
        ),
        by_asset_class=_breakdown(table, asset, total_exposure, keep_empty=True),
        by_loan_type=_breakdown(
            table, table[schema.LOAN_TYPE].rename(schema.LOAN_TYPE), total_exposure
        ),
        by_recovery_status=optional(schema.RECOVERY_STATUS),
        by_collection_method=optional(schema.COLLECTION_METHOD),
    )
