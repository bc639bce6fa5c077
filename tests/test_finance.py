"""Loan arithmetic: discounting at the cost of funds, annuities and the value of a restructure."""

from __future__ import annotations

import numpy as np
import pytest

from loan_recovery.finance import (
    annuity_factor,
    discount_factor,
    reducing_balance_emi,
    restructure_value_factor,
)


# --- discount_factor -----------------------------------------------------------------------
def test_discount_factor_known_answers() -> None:
    """Gives 9% a year: a year away is worth 1/1.09, two years 1/1.09^2, today 1; the
    catalogue's 540-day legal recovery 0.880 and a 15-day reminder 0.996."""
    assert discount_factor(365, 0.09) == pytest.approx(1 / 1.09, rel=1e-12)
    assert discount_factor(730, 0.09) == pytest.approx(1 / 1.09**2, rel=1e-12)
    assert discount_factor(0, 0.09) == 1.0
    assert discount_factor(540, 0.09) == pytest.approx(0.88030, abs=1e-5)
    assert discount_factor(15, 0.09) == pytest.approx(0.99646, abs=1e-5)


def test_discount_factor_is_vectorised_and_falls_with_time() -> None:
    """Gives a column of days; expects one factor each, strictly falling, all in (0, 1]."""
    days = np.array([0, 15, 30, 45, 60, 90, 540])
    factors = discount_factor(days, 0.09)
    assert factors.shape == days.shape
    assert (np.diff(factors) < 0).all()
    assert ((factors > 0) & (factors <= 1)).all()
    np.testing.assert_allclose(discount_factor(days, 0.0), 1.0)


@pytest.mark.parametrize("rate", [-0.01, 1.0, 1.5])
def test_discount_factor_rejects_a_rate_outside_0_1(rate: float) -> None:
    """Gives a negative rate or one of 100% and more; expects a ValueError naming it."""
    with pytest.raises(ValueError, match=f"cost_of_funds must lie in \\[0, 1\\); got {rate}"):
        discount_factor(30, rate)


# --- annuity_factor ------------------------------------------------------------------------
def test_annuity_factor_known_answers() -> None:
    """Gives 12% for 12 months: (1 - 1.01^-12) / 0.01 = 11.2551; a zero rate gives n."""
    assert annuity_factor(12.0, 12) == pytest.approx((1 - 1.01**-12) / 0.01, rel=1e-12)
    assert annuity_factor(12.0, 12) == pytest.approx(11.25508, abs=1e-5)
    np.testing.assert_array_equal(annuity_factor(0.0, [1, 12, 360]), [1.0, 12.0, 360.0])


def test_annuity_factor_is_the_reciprocal_of_the_emi_per_unit() -> None:
    """Gives a grid of rates (0-36%) and tenures (1-360 months); expects
    annuity_factor x reducing_balance_emi(1, R, n) == 1 everywhere."""
    rates, months = np.meshgrid([0.0, 1e-9, 0.5, 8.5, 12.0, 36.0], [1, 6, 12, 60, 240, 360])
    product = annuity_factor(rates, months) * reducing_balance_emi(1.0, rates, months)
    np.testing.assert_allclose(product, 1.0, rtol=1e-9)


# --- restructure_value_factor --------------------------------------------------------------
def _factor(
    *,
    rate_concession: float = 2.0,
    extension_months: int = 12,
    redefault_chance: float = 0.0,
    redefault_recovery: float = 0.35,
) -> float:
    """The factor of a 12% loan with 24 instalments left."""
    return float(
        restructure_value_factor(
            12.0,
            24,
            rate_concession=rate_concession,
            extension_months=extension_months,
            redefault_chance=redefault_chance,
            redefault_recovery=redefault_recovery,
        )
    )


def test_a_restructure_without_concession_or_redefault_is_worth_par() -> None:
    """Gives no rate cut and no re-default; expects 1.0 whatever the extension: the new
    schedule, valued at the contractual rate, is worth exactly the balance."""
    for extension in (0, 12, 120):
        assert _factor(rate_concession=0.0, extension_months=extension) == pytest.approx(
            1.0, rel=1e-12
        )


def test_a_rate_concession_costs_its_present_value() -> None:
    """Gives a 2-point cut from 12% over 24 + 12 months; expects annuity(12%, 36) /
    annuity(10%, 36) = 0.97148 < 1, and deeper cuts and longer extensions to cost more."""
    by_hand = ((1 - 1.01**-36) / 0.01) / ((1 - (1 + 0.1 / 12) ** -36) / (0.1 / 12))
    assert _factor() == pytest.approx(by_hand, rel=1e-12)
    assert _factor() == pytest.approx(0.97148, abs=1e-5)
    assert _factor() < 1.0
    assert _factor(rate_concession=4.0) < _factor()
    assert _factor(extension_months=36) < _factor()


def test_redefault_mixes_the_schedule_with_the_recovery() -> None:
    """Gives a sure re-default: the factor is redefault_recovery; a 30% chance gives
    0.7 x 0.97148 + 0.3 x 0.35 = 0.78504 (linear in the chance)."""
    assert _factor(redefault_chance=1.0) == pytest.approx(0.35, rel=1e-12)
    assert _factor(redefault_chance=1.0, redefault_recovery=0.0) == 0.0
    assert _factor(redefault_chance=0.3) == pytest.approx(0.7 * _factor() + 0.3 * 0.35, rel=1e-12)
    assert _factor(redefault_chance=0.3) == pytest.approx(0.78504, abs=1e-5)


def test_restructure_factor_edges_are_safe() -> None:
    """Gives a concession above the rate (the new rate floors at 0), no months left (one
    counts) and chances outside [0, 1] (clipped); expects finite factors in (0, 1]."""
    free = restructure_value_factor(
        1.0,
        1,
        rate_concession=5.0,
        extension_months=12,
        redefault_chance=0.0,
        redefault_recovery=0.35,
    )
    assert float(free) == pytest.approx(annuity_factor(1.0, 13) / 13.0, rel=1e-12)
    no_months = restructure_value_factor(
        12.0,
        [0, 1],
        rate_concession=2.0,
        extension_months=0,
        redefault_chance=0.0,
        redefault_recovery=0.35,
    )
    assert no_months[0] == no_months[1]
    clipped = restructure_value_factor(
        12.0,
        24,
        rate_concession=2.0,
        extension_months=12,
        redefault_chance=[-0.5, 1.5],
        redefault_recovery=0.35,
    )
    np.testing.assert_allclose(clipped, [_factor(), 0.35], rtol=1e-12)
    assert np.isfinite(clipped).all()
