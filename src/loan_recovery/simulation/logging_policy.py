"""The simulated lender's rule (business as usual) and the exploring policy that logs it.

The rule reads observable columns only, so a learner can reproduce it exactly: DPD 0
(current) -> hold; 1-30 reminder; 31-60 call; 61-90 restructure when EMI-to-income >
0.45 else settlement; over 90 legal when secured (collateral > 0) and never taken to
court before, else agency (bands in ``settings.simulator.logging_rule``).

With probability ``epsilon`` the lender explores instead, uniformly over the arms the
catalogue allows the loan (hold always; legal only past its DPD window), so the logged
history holds outcomes of every arm, hold included, with known propensities:
P(a) = (1 - epsilon) x [rule picks a] + epsilon x [a eligible] / (eligible arms).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import ActionConfig, LoggingRuleSettings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.features import emi_to_income_ratio
from loan_recovery.labels import label_series

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ARMS: tuple[str, ...] = schema.ARM_NAMES
_NO = schema.YES_NO[1]

POLICY_COLUMNS: tuple[str, ...] = (
    schema.DAYS_PAST_DUE,
    schema.MONTHLY_EMI,
    schema.MONTHLY_INCOME,
    schema.COLLATERAL_VALUE,
    schema.LEGAL_ACTION_TAKEN,
)


def check_epsilon(epsilon: float) -> float:
    """Exploration share must be a probability; say which value came."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise ConfigError(f"epsilon must be a number in [0, 1]; got {epsilon!r}.")
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ConfigError(f"epsilon must be in [0, 1]; got {epsilon}.")
    return float(epsilon)


def _check_columns(loans: pd.DataFrame) -> None:
    missing = [column for column in POLICY_COLUMNS if column not in loans.columns]
    if missing:
        raise SchemaError(
            f"the logging policy needs columns {missing}; got {list(loans.columns)}.",
            missing_columns=tuple(missing),
        )


def _dpd(loans: pd.DataFrame) -> FloatArray:
    values: FloatArray = pd.to_numeric(loans[schema.DAYS_PAST_DUE], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return values


def rule_of_thumb_actions(
    loans: pd.DataFrame, rule: LoggingRuleSettings | None = None
) -> pd.Series:
    """The lender's deterministic rule, one arm name per loan (see the module docstring)."""
    rule = rule if rule is not None else LoggingRuleSettings()
    _check_columns(loans)
    dpd = _dpd(loans)
    burden = emi_to_income_ratio(loans).to_numpy(dtype=np.float64)
    secured = pd.to_numeric(loans[schema.COLLATERAL_VALUE]).to_numpy(dtype=np.float64) > 0
    no_prior_legal = (loans[schema.LEGAL_ACTION_TAKEN] == _NO).to_numpy(dtype=np.bool_)
    arms = (schema.HOLD, "reminder", "call", "restructure", "settlement", "legal", "agency")
    codes = np.select(
        [
            dpd <= rule.hold_max_dpd,
            dpd <= rule.reminder_max_dpd,
            dpd <= rule.call_max_dpd,
            (dpd <= rule.offer_max_dpd) & (burden > rule.restructure_min_emi_to_income),
            dpd <= rule.offer_max_dpd,
            secured & no_prior_legal,
        ],
        list(range(len(arms) - 1)),
        len(arms) - 1,
    )
    return label_series(arms, codes, loans.index, schema.ACTION_TAKEN)


def eligible_arms(loans: pd.DataFrame, actions: Mapping[str, ActionConfig]) -> BoolArray:
    """n x arms: which arms the catalogue allows each loan (DPD window, collateral).

    Hold is always allowed; an action missing from ``actions`` never is.
    """
    dpd = _dpd(loans)
    secured = pd.to_numeric(loans[schema.COLLATERAL_VALUE]).to_numpy(dtype=np.float64) > 0
    eligible = np.zeros((len(loans), len(ARMS)), dtype=np.bool_)
    eligible[:, 0] = True
    for column, arm in enumerate(ARMS[1:], start=1):
        config = actions.get(arm)
        if config is None:
            continue
        upper = np.inf if config.max_days_past_due is None else config.max_days_past_due
        window = (dpd >= config.min_days_past_due) & (dpd <= upper)
        eligible[:, column] = window & (secured | (not config.requires_collateral))
    return eligible


def logging_policy_probabilities(
    loans: pd.DataFrame,
    epsilon: float,
    rule: LoggingRuleSettings | None = None,
    actions: Mapping[str, ActionConfig] | None = None,
) -> pd.DataFrame:
    """Probability the logging policy gives each arm, from observable columns only.

    Rows are the loans (same index), columns ``schema.ARM_NAMES``; each row sums to 1.
    Exploration spreads ``epsilon`` over the arms the catalogue (``actions``, default the
    configured one) allows the loan; the rule's own arm is always among them. Off-policy
    estimators divide by these.
    """
    eps = check_epsilon(epsilon)
    if actions is None:
        from loan_recovery.config import load_settings

        actions = load_settings().actions
    chosen = pd.Index(ARMS).get_indexer(pd.Index(rule_of_thumb_actions(loans, rule)))
    eligible = eligible_arms(loans, actions)
    rows = np.arange(len(chosen))
    eligible[rows, chosen] = True
    probabilities = eps * eligible / eligible.sum(axis=1, keepdims=True)
    probabilities[rows, chosen] += 1.0 - eps
    return pd.DataFrame(probabilities, index=loans.index, columns=list(ARMS))
