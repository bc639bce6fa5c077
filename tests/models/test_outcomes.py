"""Per-action outcome models: logged actions and fractions, support and priors, the IPW
correction, predictions, safe persistence, and agreement with the simulator's truth."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from loan_recovery.config import ActionConfig, OutcomeSettings, Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    SchemaError,
    TamperedModelError,
    TrainingDataError,
)
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.outcomes import (
    LEARNERS,
    MODEL_JSON,
    SHARED_KEY,
    SUPPORT_COLUMNS,
    SUPPORT_ESS,
    SUPPORT_IPW_MEAN,
    SUPPORT_LOW,
    SUPPORT_PRIOR,
    SUPPORT_ROWS,
    OutcomeModel,
    booster_file,
    effective_sample_size,
    estimate_propensities,
    fit_outcome_model,
    history_propensities,
    logged_actions,
    method_representatives,
    recovered_fraction,
    support_table,
)
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.actions import ActionCatalogue

#: Legal is logged only past 90 DPD (the catalogue forbids it earlier, exploration too), so
#: its inverse-propensity weights are lumpy: its effective sample size is about 1/80 of
#: the loans (~100 at 8,000, ~250 at 20,000). 20,000 loans clear the default
#: min_effective_sample_size of 200 for every arm.
TRAIN_LOANS, TRAIN_SEED = 20_000, 301
EVAL_LOANS, EVAL_SEED = 5_000, 302
#: Learned fractions must rank loans like the truth does, on the loans the catalogue allows
#: the arm (legal: past 90 DPD, the only loans it was ever logged on). Measured on these
#: seeds: Spearman 0.83-0.93 per arm and learner; 0.5 still fails a model that learnt little.
SPEARMAN_FLOOR = 0.5


class History(NamedTuple):
    table: pd.DataFrame
    X: pd.DataFrame
    actions: np.ndarray
    fraction: np.ndarray
    propensity: np.ndarray


@pytest.fixture(scope="module")
def outcome_settings(settings: Settings) -> OutcomeSettings:
    """Default outcome settings with fewer, faster trees, to keep the module fast."""
    return settings.strategy.outcomes.model_copy(
        update={"n_estimators": 150, "learning_rate": 0.1, "early_stopping_rounds": 20}
    )


def _history(settings: Settings, loans: int, seed: int) -> tuple[History, pd.DataFrame]:
    portfolio = simulate_portfolio(loans, seed, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings, require_label=True).table
    history = History(
        table=table,
        X=risk_design_matrix(table, settings.risk),
        actions=logged_actions(table, settings.actions),
        fraction=recovered_fraction(table, settings.strategy.outcomes),
        propensity=table[schema.ACTION_PROPENSITY].to_numpy(dtype=np.float64),
    )
    return history, portfolio.truth


@pytest.fixture(scope="module")
def train(settings: Settings) -> History:
    return _history(settings, TRAIN_LOANS, TRAIN_SEED)[0]


@pytest.fixture(scope="module")
def evaluation(settings: Settings) -> tuple[History, pd.DataFrame]:
    return _history(settings, EVAL_LOANS, EVAL_SEED)


@pytest.fixture(scope="module")
def fitted(outcome_settings: OutcomeSettings, train: History) -> dict[str, OutcomeModel]:
    """Every learner, fitted once on the training history with its logged propensities."""
    return {
        learner: OutcomeModel(learner, outcome_settings, random_state=0).fit(
            train.X, train.actions, train.fraction, train.propensity
        )
        for learner in LEARNERS
    }


# --- logged actions -----------------------------------------------------------------------
def test_exact_action_wins_and_methods_map_to_representatives(settings: Settings) -> None:
    """Gives Action_Taken on some rows only; expects it where valid, else the method's action."""
    table = pd.DataFrame(
        {
            schema.ACTION_TAKEN: ["reminder", None, None, None, None, "restructure", None],
            schema.COLLECTION_METHOD: [
                "Calls",
                "Calls",
                "Settlement Offer",
                "Legal Notice",
                "Debt Collectors",
                "Settlement Offer",
                "reminder",
            ],
        }
    )
    got = logged_actions(table, settings.actions)
    assert got.tolist() == [
        "reminder",
        "call",
        "settlement",
        "legal",
        "agency",
        "restructure",
        "reminder",
    ]


def test_method_only_history_maps_the_canonical_four(settings: Settings) -> None:
    """Gives no Action_Taken column; expects the documented lossy mapping."""
    table = pd.DataFrame({schema.COLLECTION_METHOD: list(schema.COLLECTION_METHODS)})
    assert logged_actions(table, settings.actions).tolist() == [
        "call",
        "settlement",
        "legal",
        "agency",
    ]
    assert method_representatives(settings.actions) == {
        "Calls": "call",
        "Settlement Offer": "settlement",
        "Legal Notice": "legal",
        "Debt Collectors": "agency",
    }


def test_representatives_follow_the_configured_catalogue(settings: Settings) -> None:
    """Moves settlement to "Calls"; expects "Settlement Offer" to mean restructure now and
    "Calls" to pick the name it spells over the costlier settlement."""
    actions = dict(settings.actions)
    actions["settlement"] = ActionConfig(
        fixed_cost=9_000, channel="phone", collection_method="Calls"
    )
    got = method_representatives(actions)
    assert got["Settlement Offer"] == "restructure"
    assert got["Calls"] == "call"


def test_simulated_history_recovers_the_exact_actions(train: History) -> None:
    """Gives the simulator's log (Action_Taken present); expects exactly its actions."""
    assert (train.actions == train.table[schema.ACTION_TAKEN].astype("string").to_numpy()).all()


def test_unusable_action_rows_are_named(settings: Settings) -> None:
    table = pd.DataFrame({schema.COLLECTION_METHOD: ["Calls", None]})
    with pytest.raises(TrainingDataError, match="1 history rows"):
        logged_actions(table, settings.actions)
    with pytest.raises(SchemaError, match="neither"):
        logged_actions(pd.DataFrame({"x": [1]}), settings.actions)


# --- recovered fraction -------------------------------------------------------------------
def test_fraction_from_amounts_with_status_fallback(outcome_settings: OutcomeSettings) -> None:
    """Gives amounts (one above the outstanding, one blank, one with nothing outstanding);
    expects amount / outstanding clipped to [0, 1], the status value elsewhere."""
    table = pd.DataFrame(
        {
            schema.AMOUNT_RECOVERED: [50.0, 300.0, None, 10.0],
            schema.OUTSTANDING_LOAN_AMOUNT: [200.0, 100.0, 100.0, 0.0],
            schema.RECOVERY_STATUS: [
                schema.PARTIALLY_RECOVERED,
                schema.FULLY_RECOVERED,
                schema.WRITTEN_OFF,
                schema.PARTIALLY_RECOVERED,
            ],
        }
    )
    got = recovered_fraction(table, outcome_settings)
    expected = [0.25, 1.0, outcome_settings.status_fractions[schema.WRITTEN_OFF], 0.5]
    np.testing.assert_allclose(got, expected)


def test_fraction_from_status_alone(outcome_settings: OutcomeSettings) -> None:
    """Gives no Amount_Recovered; expects the documented ordinal fractions."""
    table = pd.DataFrame({schema.RECOVERY_STATUS: list(schema.RECOVERY_STATUSES)})
    np.testing.assert_allclose(recovered_fraction(table, outcome_settings), [1.0, 0.5, 0.05])


def test_fraction_without_any_source_is_refused(outcome_settings: OutcomeSettings) -> None:
    with pytest.raises(SchemaError):
        recovered_fraction(pd.DataFrame({"x": [1.0]}), outcome_settings)
    table = pd.DataFrame({schema.RECOVERY_STATUS: ["Unknown"]})
    with pytest.raises(TrainingDataError, match="neither"):
        recovered_fraction(table, outcome_settings)


# --- support ------------------------------------------------------------------------------
def test_effective_sample_size_known_answers() -> None:
    """(sum w)^2 / sum w^2: equal weights give the count; [1, 1, 2, 4] give 64 / 22."""
    assert effective_sample_size(np.full(7, 3.0)) == pytest.approx(7.0)
    assert effective_sample_size([1.0, 1.0, 2.0, 4.0]) == pytest.approx(64.0 / 22.0)
    assert effective_sample_size([]) == 0.0


def test_support_table_known_answer() -> None:
    """Gives one action with fractions [0, 1] and weights [1, 3], another never taken;
    expects the Hajek mean 0.75, its delta-method lower bound, and flags on both."""
    table = support_table(["a", "a"], [0.0, 1.0], [1.0, 3.0], ("a", "b"), 1.5)
    mean = 0.75
    error = math.sqrt(1 * 0.75**2 + 9 * 0.25**2) / 4
    assert list(table.columns) == list(SUPPORT_COLUMNS)
    assert table.loc["a", SUPPORT_ROWS] == 2
    assert table.loc["a", SUPPORT_ESS] == pytest.approx(16 / 10)
    assert table.loc["a", SUPPORT_IPW_MEAN] == pytest.approx(mean)
    assert table.loc["a", SUPPORT_PRIOR] == pytest.approx(mean - 1.959963984540054 * error)
    assert bool(table.loc["a", SUPPORT_LOW])  # 2 rows: too few to train on
    assert table.loc["b", SUPPORT_ROWS] == 0
    assert math.isnan(table.loc["b", SUPPORT_IPW_MEAN])
    assert table.loc["b", SUPPORT_PRIOR] == 0.0
    assert bool(table.loc["b", SUPPORT_LOW])


def test_thin_action_falls_back_to_its_prior(
    outcome_settings: OutcomeSettings, train: History
) -> None:
    """Keeps only 8 restructure rows; expects it flagged, unmodelled, and its prior on every
    row, while the other actions keep learned, varying predictions."""
    restructure = np.flatnonzero(train.actions == "restructure")
    keep = np.ones(len(train.actions), dtype=bool)
    keep[restructure[8:]] = False
    model = OutcomeModel("t-ipw", outcome_settings).fit(
        train.X[keep], train.actions[keep], train.fraction[keep], train.propensity[keep]
    )
    support = model.support_
    assert bool(support.loc["restructure", SUPPORT_LOW])
    assert support.loc["restructure", SUPPORT_ROWS] == 8
    assert not support.drop(index="restructure")[SUPPORT_LOW].any()
    assert "restructure" not in model.boosters_
    predicted = model.predict_fractions(train.X.head(500))
    prior = support.loc["restructure", SUPPORT_PRIOR]
    assert 0.0 <= prior < support.loc["restructure", SUPPORT_IPW_MEAN]
    assert (predicted["restructure"] == prior).all()
    assert predicted["call"].std() > 0.01


def test_support_is_measured_with_ipw_weights(
    fitted: dict[str, OutcomeModel], train: History
) -> None:
    """Expects the same support table whatever the learner, with ESS below the row count
    (the weights vary) and every arm, hold included, well supported on a simulated history."""
    tables = [model.support_ for model in fitted.values()]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])
    support = tables[0]
    assert list(support.index) == list(schema.ARM_NAMES)
    assert (support[SUPPORT_ESS] < support[SUPPORT_ROWS]).all()
    assert int(support[SUPPORT_ROWS].sum()) == len(train.actions)
    assert not support[SUPPORT_LOW].any()


# --- the IPW correction -------------------------------------------------------------------
def test_ipw_corrects_confounding_that_x_does_not_show(outcome_settings: OutcomeSettings) -> None:
    """Gives a hidden trait u (not in X) that both raises the fraction (0.2 + 0.6 u) and
    sends loans to legal (90% of u = 1, 10% of u = 0); every loan's true mean under legal
    is 0.5. Expects t-ipw with the logged propensities near 0.5 and t-naive near the
    biased 0.2 + 0.6 x 0.9 = 0.74."""
    rng = np.random.default_rng(11)
    n = 8_000
    u = rng.random(n) < 0.5
    X = pd.DataFrame(rng.normal(size=(n, 3)).astype(np.float32), columns=["x0", "x1", "x2"])
    p_legal = np.where(u, 0.9, 0.1)
    legal = rng.random(n) < p_legal
    actions = np.where(legal, "legal", "call")
    propensity = np.where(legal, p_legal, 1.0 - p_legal)
    fraction = np.clip(0.2 + 0.6 * u + rng.normal(0.0, 0.05, n), 0.0, 1.0)
    catalogue = ("call", "legal")

    def mean_prediction(learner: str) -> pd.Series:
        model = OutcomeModel(learner, outcome_settings, actions=catalogue, random_state=3)
        model.fit(X, actions, fraction, propensity)
        return model.predict_fractions(X).mean()

    weighted, naive = mean_prediction("t-ipw"), mean_prediction("t-naive")
    assert weighted["legal"] == pytest.approx(0.5, abs=0.04)
    assert weighted["call"] == pytest.approx(0.5, abs=0.04)
    assert naive["legal"] == pytest.approx(0.74, abs=0.04)
    assert naive["call"] == pytest.approx(0.26, abs=0.04)


# --- predictions --------------------------------------------------------------------------
@pytest.mark.parametrize("learner", LEARNERS)
def test_predictions_are_fractions_per_loan_and_action(
    fitted: dict[str, OutcomeModel], evaluation: tuple[History, pd.DataFrame], learner: str
) -> None:
    history, _ = evaluation
    predicted = fitted[learner].predict_fractions(history.X)
    assert list(predicted.columns) == list(schema.ARM_NAMES)
    assert predicted.index.equals(history.X.index)
    values = predicted.to_numpy()
    assert np.isfinite(values).all()
    assert values.min() >= 0.0
    assert values.max() <= 1.0


@pytest.mark.parametrize("learner", ["t-ipw", "t-pooled"])
def test_predictions_rank_loans_like_the_truth(
    fitted: dict[str, OutcomeModel],
    evaluation: tuple[History, pd.DataFrame],
    settings: Settings,
    learner: str,
) -> None:
    """On a fresh portfolio, each well-supported arm's predicted fraction (hold included)
    correlates with the simulator's true expected fraction on the loans the catalogue
    allows it (Spearman above the floor)."""
    history, truth = evaluation
    predicted = fitted[learner].predict_fractions(history.X)
    eligible = ActionCatalogue.from_settings(settings).eligibility(history.table)
    for action in schema.ARM_NAMES:
        rows = eligible[action].to_numpy() if action in eligible else slice(None)
        expected = truth[schema.expected_fraction_column(action)]
        rho = spearmanr(predicted[action][rows], expected[rows])[0]
        assert rho > SPEARMAN_FLOOR, f"{learner} {action}: Spearman {rho:.3f}"


def test_estimated_propensities_track_the_logged_ones(
    outcome_settings: OutcomeSettings, train: History
) -> None:
    """The simulator's logging rule reads DPD, burden and collateral, which X holds; the
    cross-fitted estimate must follow the logged propensities closely and stay clipped."""
    rows = slice(0, 8_000)  # enough to learn the rule, and a third of the time
    estimated = estimate_propensities(
        train.X[rows], train.actions[rows], 0, settings=outcome_settings
    )
    assert np.corrcoef(estimated, train.propensity[rows])[0, 1] > 0.9
    assert estimated.min() >= 1.0 / outcome_settings.max_inverse_propensity
    assert estimated.max() <= 1.0


def test_fit_outcome_model_estimates_missing_propensities(
    settings: Settings, outcome_settings: OutcomeSettings, train: History
) -> None:
    """Drops Action_Propensity; expects a fitted model of the configured learner anyway."""
    configured = settings.model_copy(
        update={"strategy": settings.strategy.model_copy(update={"outcomes": outcome_settings})}
    )
    table = train.table.drop(columns=[schema.ACTION_PROPENSITY]).head(3_000)
    model = fit_outcome_model(table, None, configured, random_state=0)
    assert model.learner_ == outcome_settings.learner
    assert int(model.support_[SUPPORT_ROWS].sum()) == 3_000
    assert list(model.feature_names_in_) == list(train.X.columns)


def test_history_propensities_keep_recorded_ones_and_estimate_the_rest(
    outcome_settings: OutcomeSettings, train: History
) -> None:
    """Gives 3,000 logged rows, then the same with every tenth propensity blank and one of
    0; expects the recorded values untouched, and estimates over every arm (hold included)
    in (0, 1] exactly where the record is unusable."""
    rows = slice(0, 3_000)
    table, X, actions = train.table.iloc[rows], train.X.iloc[rows], train.actions[rows]
    recorded = train.propensity[rows]
    got = history_propensities(table, X, actions, outcome_settings, 0)
    np.testing.assert_array_equal(got, recorded)

    gaps = table.copy()
    unusable = np.zeros(len(gaps), dtype=bool)
    unusable[::10] = True
    gaps.loc[unusable, schema.ACTION_PROPENSITY] = np.nan
    gaps.iloc[1, gaps.columns.get_loc(schema.ACTION_PROPENSITY)] = 0.0
    unusable[1] = True
    got = history_propensities(gaps, X, actions, outcome_settings, 0)
    np.testing.assert_array_equal(got[~unusable], recorded[~unusable])
    estimated = estimate_propensities(
        X, actions, 0, settings=outcome_settings, catalogue=schema.ARM_NAMES
    )
    np.testing.assert_array_equal(got[unusable], estimated[unusable])
    assert (got > 0).all()
    assert (got <= 1).all()
    assert (actions == schema.HOLD).any()


# --- estimator contract -------------------------------------------------------------------
def test_clone_keeps_params_and_unfitted_model_refuses(
    outcome_settings: OutcomeSettings, train: History
) -> None:
    model = OutcomeModel("s-ipw", outcome_settings, random_state=5)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict_fractions(train.X)
    with pytest.raises(ModelError, match="learner"):
        OutcomeModel("magic").fit(train.X, train.actions, train.fraction, train.propensity)


def test_bad_inputs_are_refused(outcome_settings: OutcomeSettings, train: History) -> None:
    model = OutcomeModel("t-naive", outcome_settings)
    with pytest.raises(TrainingDataError, match="outside the catalogue"):
        model.fit(train.X, np.full(len(train.X), "pray"), train.fraction, train.propensity)
    with pytest.raises(TrainingDataError, match="within"):
        model.fit(train.X, train.actions, train.fraction + 1.0, train.propensity)
    with pytest.raises(TrainingDataError, match="probability"):
        model.fit(train.X, train.actions, train.fraction, np.zeros(len(train.X)))


# --- persistence --------------------------------------------------------------------------
@pytest.mark.parametrize("learner", LEARNERS)
def test_save_load_gives_identical_predictions(
    fitted: dict[str, OutcomeModel],
    evaluation: tuple[History, pd.DataFrame],
    tmp_path: Path,
    learner: str,
) -> None:
    model = fitted[learner]
    paths = model.save(tmp_path)
    assert paths[0].name == MODEL_JSON
    assert all(path.suffix == ".ubj" for path in paths[1:])
    loaded = OutcomeModel.load(tmp_path)
    history, _ = evaluation
    pd.testing.assert_frame_equal(
        loaded.predict_fractions(history.X), model.predict_fractions(history.X), check_exact=True
    )
    pd.testing.assert_frame_equal(loaded.support_, model.support_, check_exact=True)
    assert loaded.get_params() == model.get_params()


def test_round_trip_keeps_low_support_priors(
    outcome_settings: OutcomeSettings, train: History, tmp_path: Path
) -> None:
    """An action never taken has no mean (NaN, written as null) and prior 0."""
    keep = train.actions != "legal"
    model = OutcomeModel("t-naive", outcome_settings).fit(
        train.X[keep], train.actions[keep], train.fraction[keep], train.propensity[keep]
    )
    model.save(tmp_path)
    loaded = OutcomeModel.load(tmp_path)
    pd.testing.assert_frame_equal(loaded.support_, model.support_, check_exact=True)
    assert (loaded.predict_fractions(train.X.head(50))["legal"] == 0.0).all()


def test_tampered_booster_is_refused(fitted: dict[str, OutcomeModel], tmp_path: Path) -> None:
    fitted["t-ipw"].save(tmp_path)
    path = tmp_path / booster_file("call")
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(TamperedModelError, match="SHA-256"):
        OutcomeModel.load(tmp_path)


def test_swapped_shared_booster_is_refused(fitted: dict[str, OutcomeModel], tmp_path: Path) -> None:
    """Copies t-pooled's base over s-ipw's shared booster and fixes the checksum; expects
    the column mismatch to be refused."""
    fitted["t-pooled"].save(tmp_path / "pooled")
    fitted["s-ipw"].save(tmp_path / "shared")
    source = tmp_path / "pooled" / booster_file(SHARED_KEY)
    target = tmp_path / "shared" / booster_file(SHARED_KEY)
    target.write_bytes(source.read_bytes())
    manifest_path = tmp_path / "shared" / MODEL_JSON
    manifest = json.loads(manifest_path.read_text("utf-8"))
    pooled = json.loads((tmp_path / "pooled" / MODEL_JSON).read_text("utf-8"))
    manifest["boosters"][SHARED_KEY] = pooled["boosters"][SHARED_KEY]
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IncompatibleModelError, match="other columns"):
        OutcomeModel.load(tmp_path / "shared")


def test_manifest_with_other_features_is_refused(
    fitted: dict[str, OutcomeModel], tmp_path: Path
) -> None:
    fitted["t-naive"].save(tmp_path)
    manifest_path = tmp_path / MODEL_JSON
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["feature_names"] = [*manifest["feature_names"][:-1], "Shoe_Size"]
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IncompatibleModelError, match="other columns"):
        OutcomeModel.load(tmp_path)


def test_missing_model_and_other_columns_are_refused(
    fitted: dict[str, OutcomeModel], train: History, tmp_path: Path
) -> None:
    with pytest.raises(ModelNotFoundError):
        OutcomeModel.load(tmp_path)
    with pytest.raises(IncompatibleModelError, match="missing"):
        fitted["t-ipw"].predict_fractions(train.X.drop(columns=[schema.DAYS_PAST_DUE]))
