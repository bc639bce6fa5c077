"""The served risk model's procedure: cross-fitted calibration, a refit on every row,
the small-data search and the monotone decision."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import RiskSettings, Settings
from loan_recovery.data.validation import validate_frame
from loan_recovery.models import metrics
from loan_recovery.models.calibration import Calibrator
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.risk import CalibratedRiskModel, RiskModel, risk_folds
from loan_recovery.models.risk_selection import (
    XGBOOST_MONOTONE,
    XGBOOST_UNCONSTRAINED,
    cross_validate_risk,
)
from loan_recovery.models.small_data import small_data_grid
from loan_recovery.simulation.portfolio import simulate_portfolio


class Design(NamedTuple):
    X: pd.DataFrame
    y: np.ndarray


def _design(settings: Settings, loans: int, seed: int, variant: str = "default") -> Design:
    portfolio = simulate_portfolio(loans, seed, settings=settings, variant=variant)
    table = validate_frame(portfolio.loans, settings=settings, require_label=True).table
    return Design(risk_design_matrix(table, settings.risk), risk_label(table, settings.risk))


@pytest.fixture(scope="module")
def quick(settings: Settings) -> RiskSettings:
    """Three folds, at most 150 trees, a small forest, no small-data search."""
    return settings.risk.model_copy(
        update={
            "cv_folds": 3,
            "xgboost": settings.risk.xgboost.model_copy(update={"n_estimators": 150}),
            "random_forest": settings.risk.random_forest.model_copy(update={"n_estimators": 40}),
            "small_data": settings.risk.small_data.model_copy(update={"rows_below": 0}),
        }
    )


@pytest.fixture(scope="module")
def data(settings: Settings) -> Design:
    return _design(settings, 3_000, 11)


@pytest.fixture(scope="module")
def boosted(quick: RiskSettings, data: Design) -> CalibratedRiskModel:
    return CalibratedRiskModel("xgboost", quick, random_state=2).fit(data.X, data.y)


def test_calibrator_sees_only_out_of_fold_scores(
    boosted: CalibratedRiskModel, quick: RiskSettings, data: Design
) -> None:
    """Each fold's scores come from a booster that never saw the fold: retraining on the
    other folds with the chosen tree count reproduces them; the served map is the one fitted
    on exactly those scores, which differ from the in-sample scores of the refit."""
    folds = boosted.fold_of_row_
    n_trees = boosted.hyperparameters_["n_trees"]
    values = data.X.to_numpy(np.float32)
    for fold in range(quick.cv_folds):
        test = folds == fold
        fold_model = RiskModel(
            "xgboost", xgboost=quick.xgboost, random_state=2, n_rounds=int(n_trees)
        ).fit(data.X[~test], data.y[~test])
        np.testing.assert_allclose(
            boosted.oof_margin_[test], fold_model.margin_values(values[test]), rtol=1e-5, atol=1e-5
        )
    refit = Calibrator(boosted.calibration_method_).fit(boosted.oof_margin_, data.y)
    assert refit.to_dict() == boosted.calibrator_.to_dict()
    in_sample = boosted.base_.margin_values(values)
    assert not np.allclose(in_sample, boosted.oof_margin_)


def test_final_booster_is_trained_on_every_row(
    boosted: CalibratedRiskModel, quick: RiskSettings, data: Design
) -> None:
    """The served booster equals one grown on all rows with the CV-chosen tree count, and
    differs from one grown on any single training fold."""
    n_trees = int(boosted.hyperparameters_["n_trees"])
    assert boosted.base_.booster_.num_boosted_rounds() == n_trees
    everything = RiskModel("xgboost", xgboost=quick.xgboost, random_state=2, n_rounds=n_trees)
    everything.fit(data.X, data.y)
    np.testing.assert_array_equal(
        boosted.base_.decision_margin(data.X), everything.decision_margin(data.X)
    )
    fewer = boosted.fold_of_row_ != 0
    partial = RiskModel("xgboost", xgboost=quick.xgboost, random_state=2, n_rounds=n_trees)
    partial.fit(data.X[fewer], data.y[fewer])
    assert not np.allclose(boosted.base_.decision_margin(data.X), partial.decision_margin(data.X))


def test_reported_oof_risk_is_calibrated_by_maps_fitted_on_other_folds(
    boosted: CalibratedRiskModel, data: Design
) -> None:
    """A fold's honest risk comes from a map fitted without that fold."""
    folds = boosted.fold_of_row_
    test = folds == 1
    map_without = Calibrator(boosted.calibration_method_).fit(
        boosted.oof_margin_[~test], data.y[~test]
    )
    np.testing.assert_allclose(
        boosted.oof_risk_[test], map_without.transform(boosted.oof_margin_[test])
    )


def test_folds_are_stratified_and_shared(data: Design) -> None:
    """Every fold holds about the same share of not-recovered loans; the same seed gives the
    same folds, so every candidate of a run is scored on identical rows."""
    folds = risk_folds(data.y.astype(np.int64), 5, 0)
    rates = [data.y[folds == fold].mean() for fold in range(5)]
    assert max(rates) - min(rates) < 0.01
    np.testing.assert_array_equal(folds, risk_folds(data.y.astype(np.int64), 5, 0))


def test_small_data_grid_starts_with_the_defaults(settings: Settings) -> None:
    """The defaults are the first point, XGBoost's own (6, 0.3, 1) the second, every point
    differs, and the grid after them goes shallow trees first."""
    small = settings.risk.small_data
    grid = small_data_grid(settings.risk.xgboost, small)
    assert grid[0] == settings.risk.xgboost
    library = grid[1]
    assert (library.max_depth, library.learning_rate, library.min_child_weight) == (6, 0.3, 1.0)
    assert len({point.model_dump_json() for point in grid}) == len(grid)
    depths = [point.max_depth for point in grid[2:]]
    assert depths == sorted(depths)
    assert (
        len(grid)
        == 2 + len(small.max_depth) * len(small.learning_rate) * len(small.min_child_weight) - 1
    )  # the defaults (4, 0.05, 5) are also a grid point
    none = small_data_grid(settings.risk.xgboost, small.model_copy(update={"extra_points": ()}))
    assert none == [grid[0], *grid[2:]]


def test_small_data_search_is_nested_and_reported(settings: Settings) -> None:
    """On 600 loans the boosted model searches its grid inside every fold and for the refit;
    the served hyperparameters are a grid point and the choice is reported."""
    data = _design(settings, 600, 5)
    risk = settings.risk.model_copy(
        update={"xgboost": settings.risk.xgboost.model_copy(update={"n_estimators": 150})}
    )
    model = CalibratedRiskModel("xgboost", risk, random_state=0).fit(data.X, data.y)
    choice = model.grid_choice_
    assert choice is not None
    assert 1 <= choice.searched <= choice.grid_size
    grid = small_data_grid(risk.xgboost, risk.small_data)
    served = model.hyperparameters_
    assert any(
        point.max_depth == served["max_depth"]
        and point.learning_rate == served["learning_rate"]
        and point.min_child_weight == served["min_child_weight"]
        for point in grid
    )
    assert served["n_trees"] == choice.n_rounds
    assert metrics.roc_auc(data.y, model.oof_risk_) > 0.65


def test_monotone_auto_serves_constrained_trees_on_the_default_simulator(
    quick: RiskSettings, data: Design
) -> None:
    """The domain directions hold in the default world: constraints cost at most the
    tolerance, the served trees are constrained and the unconstrained row is reported."""
    evaluation = cross_validate_risk(data.X, data.y, settings=quick, random_state=0)
    decision = evaluation.monotone
    assert decision.mode == "auto"
    assert decision.constrained
    assert decision.cost is not None
    assert decision.cost <= quick.monotone_tolerance
    assert XGBOOST_UNCONSTRAINED in evaluation.metrics.index
    assert evaluation.models["xgboost"].monotone_
    assert "constrained" in decision.sentence()


def test_monotone_auto_serves_unconstrained_trees_on_the_nonmonotone_variant(
    settings: Settings, quick: RiskSettings
) -> None:
    """Where the data contradicts the directions, the constraints lose more than the
    tolerance and the unconstrained trees are served; `required` keeps them and shows the
    same cost."""
    data = _design(settings, 3_000, 11, variant="nonmonotone")
    evaluation = cross_validate_risk(data.X, data.y, settings=quick, random_state=0)
    decision = evaluation.monotone
    assert not decision.constrained
    assert decision.cost is not None
    assert decision.cost > quick.monotone_tolerance
    assert XGBOOST_MONOTONE in evaluation.metrics.index
    assert not evaluation.models["xgboost"].monotone_
    required = quick.model_copy(update={"monotone": "required", "scorecard": False})
    kept = cross_validate_risk(data.X, data.y, settings=required, random_state=0)
    assert kept.monotone.constrained
    assert kept.monotone.cost == pytest.approx(decision.cost)
