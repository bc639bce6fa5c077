"""Explanations: exact tree SHAP adds up to the model, reason codes pick and word the top-k."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost
from sklearn.ensemble import RandomForestClassifier

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.exceptions import IncompatibleModelError, ModelError
from loan_recovery.models.design import describe_feature, risk_design_matrix, risk_label
from loan_recovery.models.explain import (
    Direction,
    ReasonCodes,
    global_importance,
    reason_codes,
    tree_contributions,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio


@pytest.fixture(scope="module")
def design_and_label(
    settings: Settings, small_portfolio: SimulatedPortfolio
) -> tuple[pd.DataFrame, npt.NDArray[np.int8]]:
    """The small portfolio's risk design matrix and not-recovered label."""
    table = validate_frame(small_portfolio.loans, settings=settings, require_label=True).table
    return risk_design_matrix(table, settings.risk), risk_label(table, settings.risk)


@pytest.fixture(scope="module")
def booster(design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]) -> xgboost.Booster:
    """A small binary XGBoost booster trained on the design matrix."""
    design, label = design_and_label
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.2, "nthread": 1, "seed": 0}
    return xgboost.train(params, xgboost.DMatrix(design, label=label), num_boost_round=40)


@pytest.fixture(scope="module")
def forest(
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
) -> RandomForestClassifier:
    """A small Random Forest trained on the design matrix."""
    design, label = design_and_label
    model = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0, n_jobs=1)
    return model.fit(design, label)


# --- tree_contributions ------------------------------------------------------------------
def test_xgboost_contributions_add_up_to_the_margin(
    booster: xgboost.Booster, design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]
) -> None:
    """Gives a trained booster; explains every loan; expects rows to sum to the log-odds."""
    design, _ = design_and_label
    contributions = tree_contributions(booster, design)
    margin = booster.predict(xgboost.DMatrix(design), output_margin=True)
    assert contributions.shape == (len(design), design.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-4)


def test_xgboost_iteration_range_explains_only_those_trees(
    booster: xgboost.Booster, design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]
) -> None:
    """Gives iteration_range (0, 10); expects sums equal to the 10-tree margin, not the full."""
    design, _ = design_and_label
    contributions = tree_contributions(booster, design, iteration_range=(0, 10))
    dmatrix = xgboost.DMatrix(design)
    margin10 = booster.predict(dmatrix, output_margin=True, iteration_range=(0, 10))
    full = booster.predict(dmatrix, output_margin=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margin10, atol=1e-4)
    assert not np.allclose(contributions.sum(axis=1), full, atol=1e-3)


@pytest.mark.parametrize("threaded_from", [10**9, 10], ids=["one thread", "all cores"])
def test_xgboost_contributions_equal_those_of_a_pandas_dmatrix(
    booster: xgboost.Booster,
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
    monkeypatch: pytest.MonkeyPatch,
    threaded_from: int,
) -> None:
    """Gives a design with blanks, its DMatrix built on one thread or all; expects exactly
    the values of XGBoost's own pandas path."""
    monkeypatch.setattr("loan_recovery.models.explain._THREADED_DMATRIX_ROWS", threaded_from)
    design = design_and_label[0].iloc[:200].astype(np.float64).copy()
    design.iloc[::7, 0] = np.nan
    ours = tree_contributions(booster, design, native_dtype=True)
    theirs = booster.predict(xgboost.DMatrix(design), pred_contribs=True)
    np.testing.assert_array_equal(ours, theirs)


def test_forest_explainer_is_built_once_and_again_after_a_refit(
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
) -> None:
    """Gives one forest explained twice, then refit; expects one explainer, then a new one."""
    from loan_recovery.models.explain import _forest_explainer

    design, label = design_and_label
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0, n_jobs=1)
    model.fit(design, label)
    first = _forest_explainer(model)
    assert _forest_explainer(model) is first
    model.fit(design.iloc[:500], label[:500])
    refreshed = _forest_explainer(model)
    assert refreshed is not first
    np.testing.assert_allclose(
        tree_contributions(model, design.iloc[:50]).sum(axis=1),
        model.predict_proba(design.iloc[:50])[:, 1],
        atol=1e-6,
    )


def test_forest_contributions_add_up_to_the_probability(
    forest: RandomForestClassifier,
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
) -> None:
    """Gives a trained forest; explains 300 loans; expects sums equal to P(not recovered)."""
    design = design_and_label[0].iloc[:300]
    contributions = tree_contributions(forest, design)
    assert contributions.shape == (len(design), design.shape[1] + 1)
    np.testing.assert_allclose(
        contributions.sum(axis=1), forest.predict_proba(design)[:, 1], atol=1e-6
    )


def test_contributions_refuse_columns_the_model_was_not_trained_on(
    booster: xgboost.Booster,
    forest: RandomForestClassifier,
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
) -> None:
    """Gives the design with two columns swapped; expects IncompatibleModelError for both."""
    design = design_and_label[0].iloc[:5]
    names = list(design.columns)
    swapped = design[[names[1], names[0], *names[2:]]]
    with pytest.raises(IncompatibleModelError, match="trained on columns"):
        tree_contributions(booster, swapped)
    with pytest.raises(IncompatibleModelError, match="trained on columns"):
        tree_contributions(forest, swapped)


def test_contributions_refuse_other_models(
    design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]],
) -> None:
    """Gives something that is not a tree ensemble; expects ModelError naming its type."""
    with pytest.raises(ModelError, match="str"):
        tree_contributions("not a model", design_and_label[0])


# --- reason_codes on a hand-made matrix -------------------------------------------------
_COLUMNS = [
    schema.DAYS_PAST_DUE,
    schema.MONTHLY_INCOME,
    schema.EMI_TO_INCOME_RATIO,
    schema.IS_SECURED,
]


def _known() -> tuple[npt.NDArray[np.float64], pd.DataFrame]:
    """Four loans, four features, a bias column that must never be picked."""
    contributions = np.array(
        [
            [0.84, -0.20, 0.90, 0.10, 9.0],  # clear order: EMI, DPD, secured
            [0.30, 0.30, -0.10, 0.30, 9.0],  # three-way tie: column order
            [-0.40, 0.20, -0.10, 0.00, 9.0],  # one positive only; zero is not a reason
            [0.20, 0.70, 0.20, 0.20, 9.0],  # tie at the k-th place: lowest columns win
        ]
    )
    design = pd.DataFrame(
        [
            [120.0, 1_234_567.0, 0.456, 0.0],
            [30.0, 45_000.0, 0.2, 1.0],
            [0.0, 80_000.0, 0.1, 1.0],
            [61.0, 9_500.0, 1.25, 0.0],
        ],
        columns=_COLUMNS,
    )
    return contributions, design


def test_reason_codes_pick_the_largest_positive_contributions() -> None:
    """Gives a known matrix; asks for 3 reasons up; expects the known columns and values."""
    contributions, design = _known()
    reasons = reason_codes(contributions, design, top_k=3)
    dpd, income, emi, secured = _COLUMNS
    assert reasons.feature.tolist() == [
        [emi, dpd, secured],
        [dpd, income, secured],
        [income, "", ""],
        [income, dpd, emi],
    ]
    np.testing.assert_array_equal(
        reasons.contribution,
        [[0.9, 0.84, 0.1], [0.3, 0.3, 0.3], [0.2, np.nan, np.nan], [0.7, 0.2, 0.2]],
    )
    assert reasons.sentences[2].tolist()[1:] == ["", ""]


def test_reason_codes_down_pick_the_most_negative() -> None:
    """Gives the known matrix; asks for reasons down; expects negatives, most negative first."""
    contributions, design = _known()
    reasons = reason_codes(contributions, design, top_k=2, direction="down")
    dpd, income, emi, _ = _COLUMNS
    assert reasons.feature.tolist() == [[income, ""], [emi, ""], [dpd, emi], ["", ""]]
    assert reasons.sentences[2, 0] == "Days past due (DPD) is 0: lowers risk (-0.40 log-odds)"


def test_reason_sentences_carry_description_value_and_size() -> None:
    """Gives the known matrix; expects plain words, formatted values and signed sizes."""
    contributions, design = _known()
    sentences = reason_codes(contributions, design, top_k=3).sentences
    assert sentences[0, 1] == "Days past due (DPD) is 120: raises risk (+0.84 log-odds)"
    assert sentences[0, 0].startswith(describe_feature(schema.EMI_TO_INCOME_RATIO) + " is 0.46")
    assert sentences[0, 2] == (
        f"{describe_feature(schema.IS_SECURED)} (no): raises risk (+0.10 log-odds)"
    )
    assert sentences[1, 1] == "Monthly income is 45,000: raises risk (+0.30 log-odds)"
    assert "12,34,567" not in " ".join(sentences[0])  # income pushed risk down for loan 0


def test_reason_codes_pad_when_asking_for_more_than_there_are_features() -> None:
    """Gives 4 features and top_k=6; expects 6 columns, the last two always blank."""
    contributions, design = _known()
    reasons = reason_codes(contributions, design, top_k=6)
    frame = reasons.to_frame()
    assert list(frame.columns) == [schema.reason_column(rank) for rank in range(1, 7)]
    assert (frame[schema.reason_column(5)] == "").all()
    assert reasons.feature[1].tolist() == [_COLUMNS[0], _COLUMNS[1], _COLUMNS[3], "", "", ""]


def test_reason_codes_reject_bad_arguments() -> None:
    """Gives a wrong direction, top_k 0, a wrong shape and a NaN; expects ModelError each."""
    contributions, design = _known()
    with pytest.raises(ModelError, match="direction"):
        reason_codes(contributions, design, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="top_k"):
        reason_codes(contributions, design, top_k=0)
    with pytest.raises(ModelError, match="shape"):
        reason_codes(contributions[:, :2], design)
    broken = contributions.copy()
    broken[0, 0] = np.nan
    with pytest.raises(ModelError, match="finite"):
        reason_codes(broken, design)


def test_reason_codes_of_a_real_model_agree_with_its_contributions(
    booster: xgboost.Booster, design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]
) -> None:
    """Gives the booster's contributions; expects reason 1 to be each loan's largest push up."""
    design, _ = design_and_label
    contributions = tree_contributions(booster, design)
    reasons = reason_codes(contributions, design, top_k=3)
    assert isinstance(reasons, ReasonCodes)
    block = contributions[:, :-1]
    has_up = block.max(axis=1) > 0
    np.testing.assert_allclose(reasons.contribution[has_up, 0], block.max(axis=1)[has_up])
    filled = ~np.isnan(reasons.contribution)
    assert (reasons.contribution[filled] > 0).all()
    assert (np.diff(np.nan_to_num(reasons.contribution, nan=-1.0), axis=1) <= 0).all()
    assert ((reasons.sentences != "") == filled).all()


@pytest.mark.parametrize("top_k", [1, 3, 8, 9, 20])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_reason_ranking_matches_a_stable_sort(top_k: int, direction: Direction) -> None:
    """Gives contributions full of ties and signed zeros, as float64 and float32; expects the
    columns of a stable descending sort (ties to the lower column), whichever selection path
    (repeated argmax up to 8 reasons, partition above) and dtype."""
    rng = np.random.default_rng(top_k)
    n, p = 400, 12
    contributions = rng.choice([-0.5, -0.25, 0.0, -0.0, 0.25, 0.5, 0.75], size=(n, p + 1))
    design = pd.DataFrame(rng.random((n, p)), columns=[f"f{j}" for j in range(p)])
    signed = contributions[:, :p] if direction == "up" else -contributions[:, :p]
    k = min(top_k, p)
    order = np.argsort(-signed, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(signed, order, axis=1) > 0
    expected = np.where(picked, np.asarray(design.columns)[order], "")
    for values in (contributions, contributions.astype(np.float32)):
        reasons = reason_codes(values, design, top_k=top_k, direction=direction)
        assert reasons.feature[:, :k].tolist() == expected.tolist()
        assert reasons.contribution.dtype == np.float64
    wide = reason_codes(contributions, design, top_k=top_k, direction=direction)
    narrow = reason_codes(
        contributions.astype(np.float32), design, top_k=top_k, direction=direction
    )
    np.testing.assert_array_equal(narrow.sentences, wide.sentences)


def test_native_float32_contributions_word_the_same_reasons(
    booster: xgboost.Booster, design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]
) -> None:
    """Gives the booster's float32 contributions (native_dtype) and their float64 widening;
    expects identical reasons, sentences and contributions."""
    design, _ = design_and_label
    native = tree_contributions(booster, design, native_dtype=True)
    widened = tree_contributions(booster, design)
    assert native.dtype == np.float32
    assert widened.dtype == np.float64
    np.testing.assert_array_equal(native.astype(np.float64), widened)
    first = reason_codes(native, design, top_k=3)
    second = reason_codes(widened, design, top_k=3)
    np.testing.assert_array_equal(first.feature, second.feature)
    np.testing.assert_array_equal(first.sentences, second.sentences)
    np.testing.assert_array_equal(first.contribution, second.contribution)


# --- global_importance -------------------------------------------------------------------
def test_global_importance_is_mean_absolute_contribution_sorted() -> None:
    """Gives a known matrix; expects mean |SHAP| per feature, bias excluded, largest first."""
    contributions, _ = _known()
    importance = global_importance(contributions, _COLUMNS)
    expected = np.abs(contributions[:, :4]).mean(axis=0)
    assert list(importance.index) == [_COLUMNS[i] for i in np.argsort(-expected, kind="stable")]
    np.testing.assert_allclose(importance.to_numpy(), np.sort(expected)[::-1])


def test_global_importance_of_a_real_model(
    booster: xgboost.Booster, design_and_label: tuple[pd.DataFrame, npt.NDArray[np.int8]]
) -> None:
    """Gives the booster's contributions; expects every feature once, sorted, non-negative."""
    design, _ = design_and_label
    importance = global_importance(tree_contributions(booster, design), list(design.columns))
    assert sorted(importance.index) == sorted(design.columns)
    assert (importance >= 0).all()
    assert importance.is_monotonic_decreasing
    assert importance.iloc[0] > 0
