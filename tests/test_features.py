"""Known-answer tests for the engineered features and the EMI formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery import features
from loan_recovery.data import schema
from loan_recovery.finance import reducing_balance_emi


def _loans(**columns: list[object]) -> pd.DataFrame:
    """A tiny loan table: defaults for every column a feature reads, overridden per test."""
    base: dict[str, list[object]] = {
        schema.MONTHLY_INCOME: [50_000.0],
        schema.MONTHLY_EMI: [10_000.0],
        schema.LOAN_AMOUNT: [400_000.0],
        schema.OUTSTANDING_LOAN_AMOUNT: [200_000.0],
        schema.COLLATERAL_VALUE: [300_000.0],
        schema.NUM_MISSED_PAYMENTS: [2],
        schema.DAYS_PAST_DUE: [45],
        schema.PAYMENT_HISTORY: ["Delayed"],
        schema.NUM_DEPENDENTS: [3],
    }
    size = max(len(values) for values in columns.values()) if columns else 1
    frame = {name: values * size if len(values) == 1 else values for name, values in base.items()}
    frame.update(columns)
    return pd.DataFrame(frame)


def test_reducing_balance_emi_known_answers() -> None:
    """Gives textbook loans; computes EMI; expects the published instalments."""
    emi = reducing_balance_emi([100_000, 1_200_000, 60_000], [12.0, 8.5, 0.0], [12, 240, 12])
    np.testing.assert_allclose(emi, [8884.88, 10413.88, 5000.0], atol=0.01)


def test_reducing_balance_emi_rejects_zero_tenure() -> None:
    """Gives a zero-month tenure; expects NaN (no schedule exists), not a division error."""
    assert np.isnan(reducing_balance_emi([1000.0], [10.0], [0])[0])


def test_reducing_balance_emi_is_finite_over_the_whole_allowed_domain() -> None:
    """Gives every corner of the schema's ranges (tiny and huge amounts, rates from 1e-300 %
    to 100 %, tenures 1..MAX); expects a finite EMI of at least principal / tenure."""
    principal = [1e-9, 0.01, 1.0, 1e6, schema.MAX_AMOUNT]
    rate = [0.0, 1e-300, 1e-12, 0.01, 12.0, 100.0]
    tenure = [1, 2, 12, 360, schema.MAX_TENURE_MONTHS]
    grid = np.array(np.meshgrid(principal, rate, tenure, indexing="ij")).reshape(3, -1)
    emi = reducing_balance_emi(grid[0], grid[1], grid[2])
    assert np.isfinite(emi).all()
    assert (emi >= grid[0] / grid[2] * (1 - 1e-12)).all()


def test_ratio_features_known_answers() -> None:
    """Gives one typical loan; expects each ratio computed by hand."""
    out = features.build_features(_loans())
    row = out.iloc[0]
    assert row[schema.EMI_TO_INCOME_RATIO] == pytest.approx(0.2)
    assert row[schema.COLLATERAL_TO_OUTSTANDING] == pytest.approx(1.5)
    assert row[schema.COLLATERAL_TO_LOAN] == pytest.approx(0.75)
    assert row[schema.OUTSTANDING_RATIO] == pytest.approx(0.5)
    assert row[schema.DEFAULT_SEVERITY] == pytest.approx(90.0)
    assert row[schema.INCOME_PER_DEPENDENT] == pytest.approx(12_500.0)
    assert row[schema.IS_SECURED] == 1


def test_missed_payment_flags() -> None:
    """Gives 0, 1 and 3 missed payments; expects any / 3+ / history flags to match."""
    table = _loans(
        **{
            schema.NUM_MISSED_PAYMENTS: [0, 1, 3],
            schema.PAYMENT_HISTORY: ["On-Time", "Delayed", "Missed"],
        }
    )
    out = features.build_features(table)
    assert out[schema.ANY_MISSED].tolist() == [0, 1, 1]
    assert out[schema.THREE_PLUS_MISSED].tolist() == [0, 0, 1]
    assert out[schema.HISTORY_MISSED].tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("days", "bucket", "asset"),
    [
        (0, "0", "Standard"),
        (1, "1-30", "SMA-0"),
        (30, "1-30", "SMA-0"),
        (31, "31-60", "SMA-1"),
        (60, "31-60", "SMA-1"),
        (61, "61-90", "SMA-2"),
        (90, "61-90", "SMA-2"),
        (91, "91-180", "NPA"),
        (180, "91-180", "NPA"),
        (181, "180+", "NPA"),
        (900, "180+", "NPA"),
    ],
)
def test_dpd_bucket_and_asset_class_edges(days: int, bucket: str, asset: str) -> None:
    """Gives a DPD at each bucket edge; expects the collections bucket and RBI class."""
    out = features.build_features(_loans(**{schema.DAYS_PAST_DUE: [days]}))
    assert out[schema.DPD_BUCKET].iloc[0] == bucket
    assert out[schema.ASSET_CLASS].iloc[0] == asset


def test_buckets_are_ordered_categories() -> None:
    """Gives any table; expects ordered categories so charts and sorts follow DPD order."""
    out = features.build_features(_loans())
    assert list(out[schema.DPD_BUCKET].cat.categories) == list(schema.DPD_BUCKETS)
    assert out[schema.ASSET_CLASS].cat.ordered


def test_zero_denominators_are_defined_and_finite() -> None:
    """Gives zero income, outstanding and loan amount; expects finite, documented values."""
    table = _loans(
        **{
            schema.MONTHLY_INCOME: [0.0, 0.0],
            schema.MONTHLY_EMI: [500.0, 0.0],
            schema.OUTSTANDING_LOAN_AMOUNT: [0.0, 0.0],
            schema.COLLATERAL_VALUE: [10.0, 0.0],
            schema.LOAN_AMOUNT: [0.0, 0.0],
            schema.NUM_DEPENDENTS: [0, 0],
        }
    )
    out = features.build_features(table)
    assert out[schema.EMI_TO_INCOME_RATIO].tolist() == [features.RATIO_CAP, 0.0]
    assert out[schema.COLLATERAL_TO_OUTSTANDING].tolist() == [features.RATIO_CAP, 0.0]
    assert out[schema.OUTSTANDING_RATIO].tolist() == [0.0, 0.0]
    assert out[schema.INCOME_PER_DEPENDENT].tolist() == [0.0, 0.0]


def test_no_nan_or_inf_leaves_the_module() -> None:
    """Gives extreme, missing and infinite inputs; expects every numeric feature finite."""
    rng = np.random.default_rng(7)
    size = 500
    table = _loans(
        **{
            schema.MONTHLY_INCOME: list(rng.choice([0.0, 1e-9, 1e12, np.nan, np.inf], size)),
            schema.MONTHLY_EMI: list(rng.choice([0.0, 1e9, np.nan], size)),
            schema.LOAN_AMOUNT: list(rng.choice([0.0, 1.0, np.inf], size)),
            schema.OUTSTANDING_LOAN_AMOUNT: list(rng.choice([0.0, 5.0, np.nan], size)),
            schema.COLLATERAL_VALUE: list(rng.choice([0.0, 1e15], size)),
            schema.NUM_MISSED_PAYMENTS: list(rng.integers(0, 40, size)),
            schema.DAYS_PAST_DUE: list(rng.integers(0, 5000, size)),
            schema.PAYMENT_HISTORY: list(rng.choice(["On-Time", "Missed"], size)),
            schema.NUM_DEPENDENTS: list(rng.integers(0, 9, size)),
        }
    )
    out = features.build_features(table)
    numeric = out[list(features.NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
    assert np.isfinite(numeric).all()
    assert out[list(features.CATEGORICAL_FEATURES)].notna().all().all()


def test_every_feature_has_a_description() -> None:
    """Expects a one-line description for each feature (reason codes quote them)."""
    assert set(features.FEATURE_DESCRIPTIONS) == set(features.FEATURE_COLUMNS)
    assert all("\n" not in text and text for text in features.FEATURE_DESCRIPTIONS.values())


def test_add_features_keeps_table_and_index() -> None:
    """Gives a table with a custom index; expects original columns kept and index unchanged."""
    table = _loans(**{schema.DAYS_PAST_DUE: [0, 95]}).set_axis([10, 20])
    out = features.add_features(table)
    assert list(out.index) == [10, 20]
    assert set(table.columns) <= set(out.columns)
    assert set(features.FEATURE_COLUMNS) <= set(out.columns)


def test_build_features_equals_the_single_feature_functions() -> None:
    """Gives messy loans (zeros, NaN, inf, blanks); expects build_features, which reads each
    column once, to equal the public single-feature functions column for column."""
    rng = np.random.default_rng(3)
    size = 300
    table = _loans(
        **{
            schema.MONTHLY_INCOME: list(rng.choice([0.0, 1e4, np.nan, np.inf], size)),
            schema.MONTHLY_EMI: list(rng.choice([0.0, 5e3, np.nan], size)),
            schema.LOAN_AMOUNT: list(rng.choice([0.0, 1e5, -1.0], size)),
            schema.COLLATERAL_VALUE: list(rng.choice([0.0, 2e5, np.nan], size)),
            schema.NUM_MISSED_PAYMENTS: list(rng.integers(0, 6, size)),
            schema.DAYS_PAST_DUE: list(rng.choice([-5.0, 0.0, 30.0, 91.0, np.nan, 400.0], size)),
            schema.PAYMENT_HISTORY: list(rng.choice(["On-Time", "Missed", None], size)),
            schema.NUM_DEPENDENTS: list(rng.integers(0, 4, size)),
        }
    ).set_axis(range(5, 5 + size))
    expected = pd.concat(
        [
            features.emi_to_income_ratio(table),
            features.collateral_coverage_outstanding(table),
            features.collateral_coverage_loan(table),
            features.outstanding_ratio(table),
            features.missed_payment_flags(table),
            features.default_severity(table),
            features.income_per_dependent(table),
            features.secured_flag(table),
            features.dpd_bucket(table),
            features.asset_class(table),
        ],
        axis=1,
    )[list(features.FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(features.build_features(table), expected, check_exact=True)


@pytest.mark.parametrize("dtype", ["category", "str", object])
def test_category_equals_matches_text_comparison(dtype: object) -> None:
    """Gives values with blanks as categories, Arrow strings and objects, and a value that
    is absent; expects the text comparison (blanks never equal)."""
    series = pd.Series(["Yes", "No", None, "Yes", "yes"], dtype=dtype)  # type: ignore[call-overload]
    assert features.category_equals(series, "Yes").tolist() == [True, False, False, True, False]
    assert not features.category_equals(series, "Maybe").any()
    assert features.category_equals(series, "Yes").dtype == np.bool_
