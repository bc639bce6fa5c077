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
