"""The credit scorecard: points that reproduce its probabilities, a bit-identical JSON round
trip, monotone points, degenerate columns, the CSV export, accuracy and clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from loan_recovery.config import Settings
from loan_recovery.exceptions import IncompatibleModelError, ModelError, TrainingDataError
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.scorecard import BINNED, MISSING, POINTS_COLUMNS, Scorecard
from loan_recovery.simulation.portfolio import simulate_portfolio

#: Logistic truth on three features: risk rises with ``rising``, falls with ``falling``.
TRUE_COEF = np.array([1.2, -0.9, 0.5])
SYNTHETIC_NAMES = ("rising", "falling", "weak")
TRAIN_ROWS, HELD_OUT_ROWS = 2_000, 1_000


class Data(NamedTuple):
    values: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]


def _synthetic(rows: int, seed: int) -> Data:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 3))
    probability = 1.0 / (1.0 + np.exp(-(values @ TRUE_COEF - 0.2)))
    labels = (rng.random(rows) < probability).astype(np.int64)
    return Data(values.astype(np.float32), labels, SYNTHETIC_NAMES)


@pytest.fixture(scope="module")
def synthetic() -> Data:
    """3,000 rows of the logistic truth: the first 2,000 train, the last 1,000 are held out."""
    return _synthetic(TRAIN_ROWS + HELD_OUT_ROWS, seed=11)


@pytest.fixture(scope="module")
def portfolio(settings: Settings) -> Data:
    """A simulated 2,000-loan design matrix, with 10% of two columns blanked to NaN."""
    loans = simulate_portfolio(2_000, 1, settings=settings).loans
    X = risk_design_matrix(loans, settings.risk)
    values = X.to_numpy(dtype=np.float32, copy=True)
    rng = np.random.default_rng(3)
    for column in (1, 10):
        values[rng.random(values.shape[0]) < 0.1, column] = np.nan
    return Data(values, risk_label(loans, settings.risk), tuple(map(str, X.columns)))


@pytest.fixture(scope="module")
def card(portfolio: Data) -> Scorecard:
    return Scorecard().fit(portfolio.values, portfolio.labels, portfolio.names)


def test_points_reproduce_probabilities(card: Scorecard, portfolio: Data) -> None:
    """The scorecard's points reproduce its probabilities, missing values included."""
    points = card.total_points(portfolio.values)
    expected = card.predict_proba_positive(portfolio.values)
    np.testing.assert_allclose(card.probability_from_points(points), expected, rtol=0, atol=1e-9)
    margin = card.decision_margin(portfolio.values)
    np.testing.assert_allclose(expected, 1.0 / (1.0 + np.exp(-margin)), rtol=0, atol=1e-12)


def test_contributions_add_up_to_the_margin(card: Scorecard, portfolio: Data) -> None:
    """Tree SHAP's layout (n, p + 1), intercept last, rows summing to the log-odds."""
    contributions = card.contributions(portfolio.values)
    assert contributions.shape == (portfolio.values.shape[0], len(card.names) + 1)
    assert card.names == portfolio.names
    np.testing.assert_allclose(contributions[:, -1], card.intercept_)
    np.testing.assert_allclose(
        contributions.sum(axis=1), card.decision_margin(portfolio.values), rtol=0, atol=1e-9
    )


def test_scaling_has_its_known_anchors() -> None:
    """600 points are odds 50:1 of good, P(bad) = 1/51; each 20 more points halve the odds."""
    card = Scorecard()
    assert card.probability_from_points([600.0])[0] == pytest.approx(1 / 51, abs=1e-12)
    assert card.probability_from_points([620.0])[0] == pytest.approx(1 / 101, abs=1e-12)
    assert card.probability_from_points([580.0])[0] == pytest.approx(1 / 26, abs=1e-12)


def test_json_round_trip_scores_identically(card: Scorecard, portfolio: Data) -> None:
    """Plain JSON (no NaN or inf allowed) rebuilds a scorecard with bit-identical scores."""
    text = json.dumps(card.to_dict(), allow_nan=False)
    loaded = Scorecard.from_dict(json.loads(text))
    values = portfolio.values
    assert np.array_equal(
        loaded.predict_proba_positive(values), card.predict_proba_positive(values)
    )
    assert np.array_equal(loaded.decision_margin(values), card.decision_margin(values))
    assert np.array_equal(loaded.total_points(values), card.total_points(values))
    pd.testing.assert_frame_equal(loaded.points_table(), card.points_table())
    assert loaded.feature_names_in_ == card.feature_names_in_


def test_from_dict_refuses_malformed_data(card: Scorecard) -> None:
    data = card.to_dict()
    with pytest.raises(IncompatibleModelError, match="format"):
        Scorecard.from_dict({**data, "format_version": 99})
    broken = json.loads(json.dumps(data))
    broken["features"][0]["splits"] = [2.0, 1.0]
    with pytest.raises(IncompatibleModelError, match="increasing splits"):
        Scorecard.from_dict(broken)
    broken = json.loads(json.dumps(data))
    broken["intercept"] = "x"
    with pytest.raises(IncompatibleModelError, match="intercept"):
        Scorecard.from_dict(broken)


def test_monotone_risk_gets_monotone_points(synthetic: Data) -> None:
    """More risk, fewer points: points fall across ``rising``'s bins and rise across
    ``falling``'s, with WoE (high = safe) moving the same way as the points."""
    card = Scorecard().fit(
        synthetic.values[:TRAIN_ROWS], synthetic.labels[:TRAIN_ROWS], synthetic.names
    )
    table = card.points_table()
    for name, sign in (("rising", -1.0), ("falling", 1.0)):
        bins = table[(table["feature"] == name) & (table["bin"] != MISSING)]
        assert len(bins) >= 3
        assert np.all(sign * np.diff(bins["points"].to_numpy()) > 0)
        assert np.all(sign * np.diff(bins["woe"].to_numpy()) > 0)
        assert np.all(-sign * np.diff(bins["event_rate"].to_numpy()) > 0)
    assert (card.coef_ < 0).all()


def test_constant_and_all_missing_columns_add_constant_points(synthetic: Data) -> None:
    """Columns with nothing to learn neither crash nor move any score."""
    rows = TRAIN_ROWS
    extra = np.column_stack([np.full(rows, 7.0), np.full(rows, np.nan)]).astype(np.float32)
    values = np.hstack([synthetic.values[:rows], extra])
    names = (*synthetic.names, "constant", "all_missing")
    card = Scorecard().fit(values, synthetic.labels[:rows], names)
    table = card.points_table()
    for name in ("constant", "all_missing"):
        rows_of = table[table["feature"] == name]
        assert rows_of["woe"].eq(0.0).all()
        assert rows_of["points"].nunique() == 1
    assert (
        table.loc[(table["feature"] == "all_missing") & (table["bin"] == MISSING), "count"].item()
        == rows
    )
    summary = card.feature_summary().set_index("feature")
    assert summary.loc["constant", "status"] == "single bin"
    assert summary.loc["all_missing", "status"] == "all missing"
    assert summary.loc[["constant", "all_missing"], "coefficient"].eq(0.0).all()
    assert summary.loc[list(synthetic.names), "status"].eq(BINNED).all()
    moved = values.copy()
    moved[:, 3], moved[:, 4] = np.nan, 123.0
    assert np.array_equal(card.total_points(moved), card.total_points(values))


def test_csv_export_has_one_row_per_bin(card: Scorecard, portfolio: Data, tmp_path: Path) -> None:
    """One row per bin of every feature, plus one for its missing values."""
    path = card.to_csv(tmp_path / "scorecard.csv")
    exported = pd.read_csv(path)
    assert tuple(exported.columns) == POINTS_COLUMNS
    assert len(exported) == sum(len(f.splits) + 2 for f in card.bins_)
    assert exported.groupby("feature", sort=False).size().to_dict() == {
        f.name: len(f.splits) + 2 for f in card.bins_
    }
    assert exported["bin"].str.match(r"^(\(-inf|\[-?\d|Missing)").all()
    assert exported["count"].sum() == len(card.bins_) * portfolio.values.shape[0]


def test_roc_auc_is_close_to_logistic_regression(synthetic: Data) -> None:
    """On a logistic truth the binned scorecard gives up little against the true model form."""
    train, held = slice(0, TRAIN_ROWS), slice(TRAIN_ROWS, None)
    card = Scorecard().fit(synthetic.values[train], synthetic.labels[train], synthetic.names)
    auc = roc_auc_score(synthetic.labels[held], card.predict_proba_positive(synthetic.values[held]))
    plain = LogisticRegression().fit(synthetic.values[train], synthetic.labels[train])
    plain_auc = roc_auc_score(
        synthetic.labels[held], plain.predict_proba(synthetic.values[held])[:, 1]
    )
    assert auc >= 0.75
    assert auc >= plain_auc - 0.03


def test_portfolio_scorecard_ranks_risk(card: Scorecard, portfolio: Data) -> None:
    """In-sample on the simulated book: well above chance, and no coefficient reversed."""
    auc = roc_auc_score(portfolio.labels, card.predict_proba_positive(portfolio.values))
    assert auc > 0.8
    assert (card.coef_ <= 0).all()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 1, 2] * 10), r"only 0 \(recovered\) and 1 .*got values \[0, 1, 2\]"),
        (np.array(["a", "b"] * 15), r"only 0 \(recovered\) and 1"),
        (np.zeros(30, dtype=int), "single class"),
        (np.array([0, 1] * 10), r"one entry per row of values \(30\); got 20"),
    ],
)
def test_bad_labels_are_named(labels: np.ndarray, message: str) -> None:
    values = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(TrainingDataError, match=message):
        Scorecard().fit(values, labels, ("a", "b"))


def test_bad_training_values_and_parameters_are_named() -> None:
    values = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.array([0, 1] * 15)
    with pytest.raises(TrainingDataError, match="names must give 2 distinct names"):
        Scorecard().fit(values, labels, ("a",))
    with pytest.raises(TrainingDataError, match="2-D"):
        Scorecard().fit(values[:, 0], labels, ("a",))
    values[3, 1] = math.inf
    with pytest.raises(TrainingDataError, match=r"inf; columns \['b'\]"):
        Scorecard().fit(values, labels, ("a", "b"))
    with pytest.raises(ModelError, match="min_bin_size"):
        Scorecard().fit(values, labels, ("a", "b"), min_bin_size=0.9)
    with pytest.raises(ModelError, match="pdo"):
        Scorecard(pdo=0.0).fit(values, labels, ("a", "b"))


def test_scoring_checks_shape_and_fit(card: Scorecard, portfolio: Data) -> None:
    with pytest.raises(IncompatibleModelError, match=rf"shape \(n, {len(portfolio.names)}\)"):
        card.predict_proba_positive(portfolio.values[:, :-1])
    with pytest.raises(NotFittedError):
        Scorecard().total_points(portfolio.values)
