"""Engineered features: pure, vectorised functions over the validated loan table.

Each feature is a ratio, flag or bucket a collections analyst already reasons with, and
has a one-line description (:data:`FEATURE_DESCRIPTIONS`) that reason codes reuse.
No NaN or inf ever leaves this module: every zero denominator has a defined answer,
documented on the function, and every ratio is clipped to ``[0, RATIO_CAP]``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.data import schema

#: Upper bound of every ratio feature; also the value of "x / 0" when x > 0. A loan whose
#: EMI is a hundred times income is as bad as one whose EMI is infinitely larger.
RATIO_CAP = 100.0

#: DPD bucket edges (inclusive upper bounds) matching ``schema.DPD_BUCKETS``.
_DPD_BUCKET_UPPER = (0, 30, 60, 90, 180)
#: RBI asset-class edges (inclusive upper bounds) matching ``schema.ASSET_CLASSES``:
#: SMA-0 1-30, SMA-1 31-60, SMA-2 61-90 days overdue, NPA beyond 90.
_ASSET_CLASS_UPPER = (0, 30, 60, 90)

FEATURE_DESCRIPTIONS: dict[str, str] = {
    schema.EMI_TO_INCOME_RATIO: "Monthly instalment as a share of monthly income",
    schema.COLLATERAL_TO_OUTSTANDING: "Collateral value per unit of amount still owed",
    schema.COLLATERAL_TO_LOAN: "Collateral value per unit of amount lent",
    schema.OUTSTANDING_RATIO: "Amount still owed as a share of the amount lent",
    schema.ANY_MISSED: "At least one instalment missed",
    schema.THREE_PLUS_MISSED: "Three or more instalments missed",
    schema.HISTORY_MISSED: "Payment history marked Missed",
    schema.DEFAULT_SEVERITY: "Missed instalments times days past due",
    schema.DPD_BUCKET: "Days-past-due bucket (0, 1-30, 31-60, 61-90, 91-180, 180+)",
    schema.ASSET_CLASS: "RBI asset class (Standard, SMA-0, SMA-1, SMA-2, NPA)",
    schema.INCOME_PER_DEPENDENT: "Monthly income per household member (borrower + dependents)",
    schema.IS_SECURED: "Loan is backed by collateral",
}

#: Numeric features, in a fixed order, for models.
NUMERIC_FEATURES: tuple[str, ...] = (
    schema.EMI_TO_INCOME_RATIO,
    schema.COLLATERAL_TO_OUTSTANDING,
    schema.COLLATERAL_TO_LOAN,
    schema.OUTSTANDING_RATIO,
    schema.ANY_MISSED,
    schema.THREE_PLUS_MISSED,
    schema.HISTORY_MISSED,
    schema.DEFAULT_SEVERITY,
    schema.INCOME_PER_DEPENDENT,
    schema.IS_SECURED,
)
CATEGORICAL_FEATURES: tuple[str, ...] = (schema.DPD_BUCKET, schema.ASSET_CLASS)
FEATURE_COLUMNS: tuple[str, ...] = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)


def _values(table: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    """A numeric column as float64 with missing values read as 0 (nothing known = none)."""
    series = table[column]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")  # validated tables are numeric already
    values = series.to_numpy(dtype=np.float64, na_value=0.0)
    finite: npt.NDArray[np.float64] = np.nan_to_num(values, nan=0.0, posinf=RATIO_CAP, neginf=0.0)
    return finite


def category_equals(series: pd.Series, value: str) -> npt.NDArray[np.bool_]:
    """``series == value`` per row as text, blanks never equal: ``astype("string").eq(value)``.

    A categorical with text categories compares its integer codes with the code of
    ``value`` (no per-row strings are built); any other column goes through pandas'
    ``"string"`` dtype, so both paths give the same answer for the same values.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        categorical = series.array  # the Categorical itself: no accessor objects per call
        categories = categorical.categories
        if categories.inferred_type == "string":
            codes = np.asarray(categorical.codes)
            try:
                position = categories.get_loc(value)  # a hashed look-up, built once per dtype
            except KeyError:
                return np.zeros(len(codes), dtype=np.bool_)
            matches: npt.NDArray[np.bool_] = codes == position
            return matches
    return series.astype("string").eq(value).fillna(False).to_numpy(dtype=np.bool_)


def _bounded_ratio(
    numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """numerator / denominator clipped to [0, RATIO_CAP]; x/0 is RATIO_CAP, 0/0 is 0.

    A ratio too large for float64 (a tiny income) overflows to inf and is capped like x/0.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(
            denominator > 0,
            numerator / np.where(denominator > 0, denominator, 1.0),
            np.where(numerator > 0, RATIO_CAP, 0.0),
        )
    return np.clip(ratio, 0.0, RATIO_CAP)


def _series(values: npt.ArrayLike, table: pd.DataFrame, name: str) -> pd.Series:
    return pd.Series(values, index=table.index, name=name)


def emi_to_income_ratio(table: pd.DataFrame) -> pd.Series:
    """EMI / monthly income: the instalment burden. Zero income with an EMI is capped."""
    ratio = _bounded_ratio(
        _values(table, schema.MONTHLY_EMI), _values(table, schema.MONTHLY_INCOME)
    )
    return _series(ratio, table, schema.EMI_TO_INCOME_RATIO)


def collateral_coverage_outstanding(table: pd.DataFrame) -> pd.Series:
    """Collateral / outstanding: what a repossession could cover of what is owed today.

    Nothing outstanding with collateral held is full cover (the cap); nothing either way is 0.
    """
    ratio = _bounded_ratio(
        _values(table, schema.COLLATERAL_VALUE), _values(table, schema.OUTSTANDING_LOAN_AMOUNT)
    )
    return _series(ratio, table, schema.COLLATERAL_TO_OUTSTANDING)


def collateral_coverage_loan(table: pd.DataFrame) -> pd.Series:
    """Collateral / loan amount: the loan-to-value view at origination."""
    ratio = _bounded_ratio(
        _values(table, schema.COLLATERAL_VALUE), _values(table, schema.LOAN_AMOUNT)
    )
    return _series(ratio, table, schema.COLLATERAL_TO_LOAN)


def outstanding_ratio(table: pd.DataFrame) -> pd.Series:
    """Outstanding / loan amount: how much of the loan is still to be recovered."""
    ratio = _bounded_ratio(
        _values(table, schema.OUTSTANDING_LOAN_AMOUNT), _values(table, schema.LOAN_AMOUNT)
    )
    return _series(ratio, table, schema.OUTSTANDING_RATIO)


def missed_payment_flags(table: pd.DataFrame) -> pd.DataFrame:
    """0/1 flags: any instalment missed, three or more missed, history marked Missed."""
    return pd.DataFrame(
        _missed_flags(_values(table, schema.NUM_MISSED_PAYMENTS), table), index=table.index
    )


def _missed_flags(
    missed: npt.NDArray[np.float64], table: pd.DataFrame
) -> dict[str, npt.NDArray[np.int8]]:
    history_missed = category_equals(table[schema.PAYMENT_HISTORY], "Missed")
    return {
        schema.ANY_MISSED: (missed >= 1).astype(np.int8),
        schema.THREE_PLUS_MISSED: (missed >= 3).astype(np.int8),
        schema.HISTORY_MISSED: history_missed.astype(np.int8),
    }


def default_severity(table: pd.DataFrame) -> pd.Series:
    """Missed instalments x days past due: long and repeated delinquency scores highest."""
    severity = _values(table, schema.NUM_MISSED_PAYMENTS) * _values(table, schema.DAYS_PAST_DUE)
    return _series(np.clip(severity, 0.0, None), table, schema.DEFAULT_SEVERITY)


def _bucketise(
    days: npt.NDArray[np.float64], upper_edges: tuple[int, ...], labels: tuple[str, ...]
) -> pd.Categorical[str]:
    """Label each DPD value by the first inclusive upper edge it does not exceed."""
    codes = np.searchsorted(np.asarray(upper_edges, dtype=np.float64), days, side="left")
    return pd.Categorical.from_codes(
        codes.astype(np.int64), categories=pd.Index(labels), ordered=True
    )


def dpd_bucket(table: pd.DataFrame) -> pd.Series:
    """Collections DPD bucket: 0, 1-30, 31-60, 61-90, 91-180, 180+ (ordered category)."""
    days = np.clip(_values(table, schema.DAYS_PAST_DUE), 0.0, None)
    buckets = _bucketise(days, _DPD_BUCKET_UPPER, schema.DPD_BUCKETS)
    return _series(buckets, table, schema.DPD_BUCKET)


def asset_class(table: pd.DataFrame) -> pd.Series:
    """RBI asset class: Standard (0 DPD), SMA-0, SMA-1, SMA-2, NPA (over 90 days)."""
    days = np.clip(_values(table, schema.DAYS_PAST_DUE), 0.0, None)
    classes = _bucketise(days, _ASSET_CLASS_UPPER, schema.ASSET_CLASSES)
    return _series(classes, table, schema.ASSET_CLASS)


def income_per_dependent(table: pd.DataFrame) -> pd.Series:
    """Income / (1 + dependents): the borrower counts as a head, so no zero denominator."""
    heads = 1.0 + np.clip(_values(table, schema.NUM_DEPENDENTS), 0.0, None)
    income = np.clip(_values(table, schema.MONTHLY_INCOME), 0.0, None)
    return _series(income / heads, table, schema.INCOME_PER_DEPENDENT)


def secured_flag(table: pd.DataFrame) -> pd.Series:
    """1 when the loan has collateral, else 0."""
    secured = (_values(table, schema.COLLATERAL_VALUE) > 0).astype(np.int8)
    return _series(secured, table, schema.IS_SECURED)


def build_features(table: pd.DataFrame) -> pd.DataFrame:
    """All engineered features of a validated table, one row per loan, same index.

    Each source column is read once and every feature comes from those arrays, with the
    same formulas as the single-feature functions above (a test holds them equal).
    """
    read = {
        column: _values(table, column)
        for column in (
            schema.MONTHLY_EMI,
            schema.MONTHLY_INCOME,
            schema.COLLATERAL_VALUE,
            schema.OUTSTANDING_LOAN_AMOUNT,
            schema.LOAN_AMOUNT,
            schema.NUM_MISSED_PAYMENTS,
            schema.DAYS_PAST_DUE,
            schema.NUM_DEPENDENTS,
        )
    }
    days = np.clip(read[schema.DAYS_PAST_DUE], 0.0, None)
    heads = 1.0 + np.clip(read[schema.NUM_DEPENDENTS], 0.0, None)
    income = np.clip(read[schema.MONTHLY_INCOME], 0.0, None)
    severity = read[schema.NUM_MISSED_PAYMENTS] * read[schema.DAYS_PAST_DUE]
    columns: dict[str, npt.ArrayLike] = {
        schema.EMI_TO_INCOME_RATIO: _bounded_ratio(
            read[schema.MONTHLY_EMI], read[schema.MONTHLY_INCOME]
        ),
        schema.COLLATERAL_TO_OUTSTANDING: _bounded_ratio(
            read[schema.COLLATERAL_VALUE], read[schema.OUTSTANDING_LOAN_AMOUNT]
        ),
        schema.COLLATERAL_TO_LOAN: _bounded_ratio(
            read[schema.COLLATERAL_VALUE], read[schema.LOAN_AMOUNT]
        ),
        schema.OUTSTANDING_RATIO: _bounded_ratio(
            read[schema.OUTSTANDING_LOAN_AMOUNT], read[schema.LOAN_AMOUNT]
        ),
        **_missed_flags(read[schema.NUM_MISSED_PAYMENTS], table),
        schema.DEFAULT_SEVERITY: np.clip(severity, 0.0, None),
        schema.INCOME_PER_DEPENDENT: income / heads,
        schema.IS_SECURED: (read[schema.COLLATERAL_VALUE] > 0).astype(np.int8),
        schema.DPD_BUCKET: _bucketise(days, _DPD_BUCKET_UPPER, schema.DPD_BUCKETS),
        schema.ASSET_CLASS: _bucketise(days, _ASSET_CLASS_UPPER, schema.ASSET_CLASSES),
    }
    return pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS}, index=table.index)


def add_features(table: pd.DataFrame) -> pd.DataFrame:
    """The table with its engineered features appended (existing columns win no clash)."""
    features = build_features(table)
    return pd.concat([table.drop(columns=list(FEATURE_COLUMNS), errors="ignore"), features], axis=1)
