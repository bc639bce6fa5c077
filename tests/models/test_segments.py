"""Segments: k by silhouette, ordered by risk, uniquely named, stable, saved as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost
from sklearn.base import clone

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    SchemaError,
    TrainingDataError,
)
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.segments import (
    SEGMENTER_FILE,
    Segmenter,
    segment_names,
    segment_profile,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio


@pytest.fixture(scope="module")
def table(settings: Settings, small_portfolio: SimulatedPortfolio) -> pd.DataFrame:
    """The small portfolio, validated with labels."""
    return validate_frame(small_portfolio.loans, settings=settings, require_label=True).table


@pytest.fixture(scope="module")
def risk(table: pd.DataFrame, settings: Settings) -> npt.NDArray[np.float64]:
    """Risk scores of a small XGBoost booster trained on the table's design matrix."""
    design = risk_design_matrix(table, settings.risk)
    label = risk_label(table, settings.risk)
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.2, "nthread": 1, "seed": 0}
    booster = xgboost.train(params, xgboost.DMatrix(design, label=label), num_boost_round=30)
    return np.asarray(booster.predict(xgboost.DMatrix(design)), dtype=np.float64)


@pytest.fixture(scope="module")
def fitted(table: pd.DataFrame, risk: npt.NDArray[np.float64], settings: Settings) -> Segmenter:
    """A segmenter fitted with the default settings (k by silhouette over 2..8)."""
    return Segmenter.from_settings(settings.segments, random_state=3).fit(table, risk)


def test_k_is_chosen_by_silhouette_within_range(fitted: Segmenter, settings: Settings) -> None:
    """Gives default settings; expects k in min..max and the best silhouette tried."""
    low, high = settings.segments.min_segments, settings.segments.max_segments
    assert low <= fitted.n_segments_ <= high
    assert set(fitted.silhouette_) <= set(range(low, high + 1))
    assert fitted.silhouette_[fitted.n_segments_] == max(fitted.silhouette_.values())
    assert fitted.centers_.shape == (fitted.n_segments_, len(settings.segments.features))


def test_segments_are_ordered_by_mean_risk(
    fitted: Segmenter, risk: npt.NDArray[np.float64]
) -> None:
    """Gives the fitted segmenter; expects segment 0 least risky and risk rising with the id."""
    means = np.array([risk[fitted.labels_ == s].mean() for s in range(fitted.n_segments_)])
    np.testing.assert_allclose(means, fitted.segment_risk_)
    assert (np.diff(means) > 0).all()


def test_predict_on_training_rows_equals_the_fit_assignment(
    fitted: Segmenter, table: pd.DataFrame
) -> None:
    """Gives the training table; expects predict to reproduce labels_ exactly."""
    np.testing.assert_array_equal(fitted.predict(table), fitted.labels_)


def test_names_are_unique_and_descriptions_one_line_each(fitted: Segmenter) -> None:
    """Gives the fitted segmenter; expects k distinct names and k single-line descriptions."""
    assert len(fitted.names_) == fitted.n_segments_ == len(set(fitted.names_))
    assert all(name and name[0].isupper() for name in fitted.names_)
    assert len(fitted.describe()) == fitted.n_segments_
    for segment, line in enumerate(fitted.describe()):
        assert "\n" not in line
        assert line.startswith(f"Segment {segment} '{fitted.names_[segment]}'")


def test_refit_with_same_data_and_seed_is_identical(
    fitted: Segmenter, table: pd.DataFrame, risk: npt.NDArray[np.float64]
) -> None:
    """Gives a clone fitted again; expects the same names, centres and labels."""
    again = clone(fitted).fit(table, risk)
    assert again.names_ == fitted.names_
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.centers_, fitted.centers_)


def test_params_follow_the_estimator_contract(settings: Settings) -> None:
    """Gives from_settings; expects params stored unchanged and nothing learned before fit."""
    segmenter = Segmenter.from_settings(settings.segments, random_state=11)
    assert segmenter.get_params()["features"] == settings.segments.features
    assert segmenter.get_params()["random_state"] == 11
    assert not hasattr(segmenter, "centers_")
    with pytest.raises(ModelError, match="not fitted"):
        segmenter.predict(pd.DataFrame())


def test_fixed_n_segments_is_honoured(table: pd.DataFrame, risk: npt.NDArray[np.float64]) -> None:
    """Gives n_segments=4; expects exactly 4 segments and only k=4 scored."""
    segmenter = Segmenter(n_segments=4, random_state=0).fit(table, risk)
    assert segmenter.n_segments_ == 4
    assert set(segmenter.silhouette_) == {4}
    assert set(np.unique(segmenter.labels_)) == {0, 1, 2, 3}


def test_fit_rejects_unusable_input(table: pd.DataFrame, risk: npt.NDArray[np.float64]) -> None:
    """Gives too few rows, a short risk, an unknown column; expects a clear error each."""
    with pytest.raises(TrainingDataError, match="more than 2 loans"):
        Segmenter().fit(table.iloc[:2], risk[:2])
    with pytest.raises(TrainingDataError, match="one score per loan"):
        Segmenter().fit(table, risk[:-1])
    with pytest.raises(SchemaError, match="Not_A_Column"):
        Segmenter(features=("Not_A_Column",)).fit(table, risk)
    with pytest.raises(ModelError, match="numeric"):
        Segmenter(features=(schema.LOAN_TYPE,)).fit(table, risk)


# --- persistence ---------------------------------------------------------------------------
def test_json_round_trip_predicts_identically(
    fitted: Segmenter, table: pd.DataFrame, tmp_path: Path
) -> None:
    """Gives a fitted segmenter; saves and loads it; expects identical predictions and names."""
    paths = fitted.save(tmp_path)
    assert paths == [tmp_path / SEGMENTER_FILE]
    json.loads(paths[0].read_text(encoding="utf-8"))  # plain JSON
    loaded = Segmenter.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict(table), fitted.predict(table))
    assert loaded.names_ == fitted.names_
    assert loaded.describe() == fitted.describe()
    assert loaded.get_params() == fitted.get_params()


def test_the_file_rules_over_current_settings(
    table: pd.DataFrame, risk: npt.NDArray[np.float64], tmp_path: Path
) -> None:
    """Gives a file fitted on other features; expects it to load and use its own features."""
    features = (schema.MONTHLY_INCOME, schema.DAYS_PAST_DUE, schema.IS_SECURED)
    original = Segmenter(features=features, n_segments=3).fit(table, risk)
    original.save(tmp_path)
    loaded = Segmenter.load(tmp_path)
    assert loaded.features == features
    np.testing.assert_array_equal(loaded.predict(table), original.labels_)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("centers"),
        lambda d: d.update(centers=[[0.0]]),
        lambda d: d.update(scaler_scale=[0.0] * len(d["scaler_scale"])),
        lambda d: d.update(transforms=["cube"] * len(d["transforms"])),
        lambda d: d.update(names=["same"] * len(d["names"])),
        lambda d: d.update(format="something.else"),
        lambda d: d.update(version=99),
    ],
    ids=["no-centers", "wrong-shape", "zero-scale", "bad-transform", "dup-names", "format", "ver"],
)
def test_a_malformed_file_is_incompatible(
    fitted: Segmenter, tmp_path: Path, damage: object
) -> None:
    """Gives a saved file with one part broken; expects IncompatibleModelError on load."""
    data = fitted.to_dict()
    damage(data)  # type: ignore[operator]
    (tmp_path / SEGMENTER_FILE).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IncompatibleModelError):
        Segmenter.load(tmp_path)


def test_a_file_that_is_not_json_is_incompatible(tmp_path: Path) -> None:
    """Gives a segmenter file of garbage; expects IncompatibleModelError, not a JSON error."""
    (tmp_path / SEGMENTER_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IncompatibleModelError, match="not valid JSON"):
        Segmenter.load(tmp_path)


# --- naming ---------------------------------------------------------------------------------
def test_colliding_names_are_made_unique() -> None:
    """Gives centres that word alike; expects extra terms, then risk tiers, to separate them."""
    features = (schema.MONTHLY_INCOME, schema.EMI_TO_INCOME_RATIO, schema.AGE)
    centers = np.array(
        [
            [1.0, -0.9, 0.1],  # high income, low EMI burden (then: older)
            [1.0, -0.9, -0.1],  # differs only in its weakest term
            [2.0, -1.0, 0.3],  # same words as row 0 in the same order
        ]
    )
    typical = np.zeros_like(centers)
    names = segment_names(centers, typical, features)
    assert len(set(names)) == 3
    assert names[1] == "High income, low EMI burden, younger"
    assert names[0].startswith("High income, low EMI burden, older")
    assert [("risk tier" in name) for name in names] == [True, False, True]


def test_arrears_are_worded_by_the_median_days() -> None:
    """Gives DPD medians of 0, 20, 75, 200; expects current, early, in, deep arrears."""
    features = (schema.DAYS_PAST_DUE, schema.MONTHLY_INCOME)
    centers = np.array([[-1.0, 0.5], [0.1, -0.5], [0.5, 0.2], [2.0, 0.0]])
    typical = np.array([[0.0, 1.0], [20.0, 1.0], [75.0, 1.0], [200.0, 1.0]])
    names = segment_names(centers, typical, features)
    assert [name.split(",")[0] for name in names] == [
        "Current",
        "Low income",
        "In arrears",
        "Deep arrears",
    ]
    assert names[1] == "Low income, early arrears"


# --- profile --------------------------------------------------------------------------------
def test_profile_reconciles_with_the_table(
    fitted: Segmenter, table: pd.DataFrame, risk: npt.NDArray[np.float64]
) -> None:
    """Gives the fitted segments; expects one row per id whose loans and exposure add up."""
    profile = segment_profile(table, risk, fitted.labels_, fitted.names_)
    shares = [schema.dpd_bucket_share_column(bucket) for bucket in schema.DPD_BUCKETS]
    assert list(profile.columns) == [
        schema.SEGMENT_NAME,
        schema.LOANS,
        schema.EXPOSURE,
        schema.MEAN_RISK,
        schema.MEAN_DAYS_PAST_DUE,
        schema.RECOVERY_RATE,
        *shares,
    ]
    assert profile.index.name == schema.SEGMENT_ID
    assert list(profile.index) == list(range(fitted.n_segments_))
    assert list(profile[schema.SEGMENT_NAME]) == list(fitted.names_)
    assert profile[schema.LOANS].sum() == len(table)
    assert profile[schema.EXPOSURE].sum() == pytest.approx(
        table[schema.OUTSTANDING_LOAN_AMOUNT].sum()
    )
    np.testing.assert_allclose(profile[shares].sum(axis=1), 1.0)
    np.testing.assert_allclose(profile[schema.MEAN_RISK], fitted.segment_risk_)
    recovered = table[schema.AMOUNT_RECOVERED].groupby(fitted.labels_).sum()
    np.testing.assert_allclose(profile[schema.RECOVERY_RATE], recovered / profile[schema.EXPOSURE])


def test_profile_without_recoveries_omits_the_rate_and_keeps_empty_segments(
    table: pd.DataFrame, risk: npt.NDArray[np.float64]
) -> None:
    """Gives no Amount_Recovered and an unused segment; expects no rate and a zero row."""
    ids = np.zeros(len(table), dtype=np.int64)
    profile = segment_profile(
        table.drop(columns=[schema.AMOUNT_RECOVERED]), risk, ids, ("Everyone", "Nobody")
    )
    assert schema.RECOVERY_RATE not in profile.columns
    assert profile.loc[1, schema.LOANS] == 0
    assert profile.loc[1, schema.EXPOSURE] == 0.0
    assert np.isnan(profile[schema.MEAN_RISK].to_numpy()[1])
