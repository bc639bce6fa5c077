"""Loan arithmetic shared by validation, the simulator and features."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def reducing_balance_emi(
    principal: npt.ArrayLike, annual_rate_percent: npt.ArrayLike, tenure_months: npt.ArrayLike
) -> FloatArray:
    """Monthly instalment that repays ``principal`` over ``tenure_months`` at a reducing balance.

    EMI = P * r * (1 + r)^n / ((1 + r)^n - 1) with r the monthly rate; a zero rate repays
    the principal in equal parts. Works element-wise on whole columns. A non-positive
    tenure gives NaN, because no instalment schedule exists for it.
    """
    principal_arr = np.asarray(principal, dtype=np.float64)
    monthly_rate = np.asarray(annual_rate_percent, dtype=np.float64) / 1200.0
    months = np.asarray(tenure_months, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # The textbook form written as P*r / (1 - (1+r)^-n) with log1p/expm1: it neither
        # overflows on long tenures nor cancels to 0/0 (or to a few digits) when 1 + r
        # rounds towards 1 at tiny rates.
        amortising = principal_arr * monthly_rate / -np.expm1(-months * np.log1p(monthly_rate))
        interest_free = principal_arr / months
        emi = np.where(monthly_rate > 0, amortising, interest_free)
    return np.where(months > 0, emi, np.nan)


def annuity_factor(annual_rate_percent: npt.ArrayLike, months: npt.ArrayLike) -> FloatArray:
    """Present value of 1 a month for ``months`` months at a monthly-compounded annual rate.

    (1 - (1 + r)^-n) / r with r the monthly rate, written with expm1/log1p like
    :func:`reducing_balance_emi`; n at a zero rate. The reciprocal of the EMI per unit of
    principal, so ``annuity_factor(R, n) * reducing_balance_emi(1, R, n) == 1``.
    """
    monthly_rate = np.asarray(annual_rate_percent, dtype=np.float64) / 1200.0
    n = np.asarray(months, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = -np.expm1(-n * np.log1p(monthly_rate)) / monthly_rate
    return np.where(monthly_rate > 0, factor, n)


def discount_factor(days: npt.ArrayLike, annual_cost_of_funds: float) -> FloatArray:
    """What one unit received in ``days`` days is worth today: (1 + r) ** (-days / 365).

    The lender's cost of funds ``r`` prices waiting: at 9%, money 540 days away (an Indian
    legal recovery) is worth 0.88 of money today, money 15 days away 0.996.
    """
    if not 0.0 <= annual_cost_of_funds < 1.0:
        raise ValueError(f"annual_cost_of_funds must lie in [0, 1); got {annual_cost_of_funds}.")
    return np.power(1.0 + annual_cost_of_funds, -np.asarray(days, dtype=np.float64) / 365.0)


def restructure_value_factor(
    annual_rate_percent: npt.ArrayLike,
    remaining_months: npt.ArrayLike,
    *,
    rate_concession: float,
    extension_months: int,
    redefault_chance: npt.ArrayLike,
    redefault_recovery: float,
) -> FloatArray:
    """Value of a restructured loan per unit of its balance, before the time to sanction.

    The balance B is rescheduled over ``remaining + extension`` months at the contractual
    rate minus ``rate_concession`` points. The new instalments are valued at the
    contractual rate, the rate at which the unrestructured loan is worth its balance
    (a cured loan counts at par), so the factor is the concession's cost:

        PV = B * annuity(R, m') / annuity(R - c, m'),  m' = remaining + extension

    which is below 1 for any concession and exactly 1 without one. The new schedule is
    paid with chance ``1 - q``; with chance ``q`` the loan defaults again and yields
    ``redefault_recovery`` of the balance:

        factor = (1 - q) * PV / B + q * redefault_recovery
    """
    rate = np.asarray(annual_rate_percent, dtype=np.float64)
    months = np.maximum(np.asarray(remaining_months, dtype=np.float64), 1.0) + extension_months
    new_rate = np.maximum(rate - rate_concession, 0.0)
    kept = annuity_factor(rate, months) / annuity_factor(new_rate, months)
    chance = np.clip(np.asarray(redefault_chance, dtype=np.float64), 0.0, 1.0)
    factor: FloatArray = (1.0 - chance) * kept + chance * redefault_recovery
    return factor
