"""The risk model's design matrix: which columns may predict risk, and how they are encoded.

One function builds it for training, scoring, the API and the dashboard, so a model can
never see a column at scoring time that it did not see in training. Two hard rules:

* action and outcome columns (``schema.ACTION_AND_OUTCOME_COLUMNS``) never enter: they are
  decided or observed *after* the moment the risk score is for (``Legal_Action_Taken`` is
  tied one-to-one to Written Off in public data: pure leakage);
* columns in ``settings.risk.excluded_columns`` (default: ``Gender``, which lenders must not
  price on) are dropped together with their encodings and every engineered feature
  computed from them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery import features
from loan_recovery.config import RiskSettings
from loan_recovery.data import schema
from loan_recovery.exceptions import SchemaError

Float32Array = npt.NDArray[np.float32]

#: Canonical numeric columns that may predict risk, as they are.
NUMERIC_INPUTS: tuple[str, ...] = (
    schema.AGE,
    schema.MONTHLY_INCOME,
    schema.NUM_DEPENDENTS,
    schema.LOAN_AMOUNT,
    schema.LOAN_TENURE,
    schema.INTEREST_RATE,
    schema.COLLATERAL_VALUE,
    schema.OUTSTANDING_LOAN_AMOUNT,
    schema.MONTHLY_EMI,
    schema.NUM_MISSED_PAYMENTS,
    schema.DAYS_PAST_DUE,
    schema.COLLECTION_ATTEMPTS,
)
#: Categories encoded as one 0/1 column per value.
ONE_HOT_INPUTS: tuple[str, ...] = (schema.GENDER, schema.EMPLOYMENT_TYPE, schema.LOAN_TYPE)
#: Payment history is ordered (worse to the right), so it is one ordinal code.
PAYMENT_HISTORY_ORDER: tuple[str, ...] = schema.PAYMENT_HISTORIES

#: Canonical columns each engineered feature is computed from (for exclusions).
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    schema.EMI_TO_INCOME_RATIO: (schema.MONTHLY_EMI, schema.MONTHLY_INCOME),
    schema.COLLATERAL_TO_OUTSTANDING: (schema.COLLATERAL_VALUE, schema.OUTSTANDING_LOAN_AMOUNT),
    schema.COLLATERAL_TO_LOAN: (schema.COLLATERAL_VALUE, schema.LOAN_AMOUNT),
    schema.OUTSTANDING_RATIO: (schema.OUTSTANDING_LOAN_AMOUNT, schema.LOAN_AMOUNT),
    schema.ANY_MISSED: (schema.NUM_MISSED_PAYMENTS,),
    schema.THREE_PLUS_MISSED: (schema.NUM_MISSED_PAYMENTS,),
    schema.HISTORY_MISSED: (schema.PAYMENT_HISTORY,),
    schema.DEFAULT_SEVERITY: (schema.NUM_MISSED_PAYMENTS, schema.DAYS_PAST_DUE),
    schema.INCOME_PER_DEPENDENT: (schema.MONTHLY_INCOME, schema.NUM_DEPENDENTS),
    schema.IS_SECURED: (schema.COLLATERAL_VALUE,),
}

#: Domain knowledge the boosted model must respect: +1 = more of it never lowers risk,
#: -1 = more of it never raises risk. Other features are unconstrained.
MONOTONE_DIRECTIONS: dict[str, int] = {
    schema.NUM_MISSED_PAYMENTS: 1,
    schema.DAYS_PAST_DUE: 1,
    schema.PAYMENT_HISTORY_CODE: 1,
    schema.EMI_TO_INCOME_RATIO: 1,
    schema.ANY_MISSED: 1,
    schema.THREE_PLUS_MISSED: 1,
    schema.HISTORY_MISSED: 1,
    schema.DEFAULT_SEVERITY: 1,
    schema.COLLATERAL_TO_OUTSTANDING: -1,
    schema.COLLATERAL_TO_LOAN: -1,
}


def _one_hot_names(column: str) -> tuple[str, ...]:
    return tuple(
        schema.one_hot_column(column, value) for value in schema.SPECS_BY_NAME[column].categories
    )


def risk_feature_names(settings: RiskSettings) -> tuple[str, ...]:
    """The design matrix's columns, in order, after exclusions."""
    excluded = set(settings.excluded_columns)
    names: list[str] = [column for column in NUMERIC_INPUTS if column not in excluded]
    if schema.PAYMENT_HISTORY not in excluded:
        names.append(schema.PAYMENT_HISTORY_CODE)
    for column in ONE_HOT_INPUTS:
        if column not in excluded:
            names.extend(_one_hot_names(column))
    names.extend(
        feature
        for feature in features.NUMERIC_FEATURES
        if not excluded.intersection(FEATURE_SOURCES[feature])
    )
    return tuple(names)


def monotone_constraints(names: tuple[str, ...]) -> tuple[int, ...]:
    """XGBoost's monotone constraint per design column (0 where none is known)."""
    return tuple(MONOTONE_DIRECTIONS.get(name, 0) for name in names)


def _require(table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = tuple(column for column in columns if column not in table.columns)
    if missing:
        raise SchemaError(
            f"the risk model needs columns {list(missing)}; validate the file first.",
            missing_columns=missing,
        )


def _category_equals(series: pd.Series, value: str) -> Float32Array:
    return features.category_equals(series, value).astype(np.float32)


def risk_design_matrix(
    table: pd.DataFrame, settings: RiskSettings, *, engineered: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Float32 matrix of every risk input of a validated table, same index, fixed columns.

    ``engineered`` may pass ``features.build_features(table)`` when the caller has it
    already (the plan builds it once for design, scores and segments); it is not checked
    against ``table``. The frame holds one row-major float32 block, so ``to_numpy()`` is a
    view and models read rows without a copy.
    """
    names = risk_feature_names(settings)
    excluded = set(settings.excluded_columns)
    needed = tuple(
        column
        for column in (*NUMERIC_INPUTS, *ONE_HOT_INPUTS, schema.PAYMENT_HISTORY)
        if column not in excluded
    )
    _require(table, needed)
    if engineered is None:
        engineered = features.build_features(table)
    position = {name: index for index, name in enumerate(names)}
    matrix = np.empty((len(table), len(names)), dtype=np.float32)
    for column in NUMERIC_INPUTS:
        if column not in excluded:
            matrix[:, position[column]] = pd.to_numeric(table[column]).to_numpy(dtype=np.float32)
    if schema.PAYMENT_HISTORY not in excluded:
        codes = pd.Categorical(table[schema.PAYMENT_HISTORY], categories=PAYMENT_HISTORY_ORDER)
        matrix[:, position[schema.PAYMENT_HISTORY_CODE]] = codes.codes
    for column in ONE_HOT_INPUTS:
        if column not in excluded:
            for value in schema.SPECS_BY_NAME[column].categories:
                name = schema.one_hot_column(column, value)
                matrix[:, position[name]] = _category_equals(table[column], value)
    for feature in features.NUMERIC_FEATURES:
        if feature in position:
            matrix[:, position[feature]] = engineered[feature].to_numpy(dtype=np.float32)
    return pd.DataFrame(matrix, index=table.index, columns=list(names), copy=False)


def risk_label(table: pd.DataFrame, settings: RiskSettings) -> npt.NDArray[np.int8]:
    """1 where the loan was not (fully) recovered by the configured definition, else 0."""
    _require(table, (schema.RECOVERY_STATUS,))
    status = table[schema.RECOVERY_STATUS].astype("string")
    if status.isna().any():
        raise SchemaError(
            f"{schema.RECOVERY_STATUS} is blank in {int(status.isna().sum())} rows; "
            "training needs a label on every row (validate with --require-label)."
        )
    return np.asarray(status.isin(settings.not_recovered_statuses), dtype=np.int8)


def describe_feature(name: str) -> str:
    """Plain words for a design column, used in reason codes and reports."""
    if name in features.FEATURE_DESCRIPTIONS:
        return features.FEATURE_DESCRIPTIONS[name]
    if name == schema.PAYMENT_HISTORY_CODE:
        return "Payment history (On-Time < Delayed < Missed)"
    column, separator, value = name.partition("=")
    if separator and column in schema.SPECS_BY_NAME:
        return f"{schema.SPECS_BY_NAME[column].description} is {value}"
    if name in schema.SPECS_BY_NAME:
        return schema.SPECS_BY_NAME[name].description
    return name
