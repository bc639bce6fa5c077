"""The plan's shortcuts change no number: shared design, shared features, presorted worklist.

``plan_loans`` builds the engineered features and the design matrix once and hands them to
scoring, segments and outcome models, and puts the worklist in order column by column
instead of sorting a finished frame. Each test here compares a shortcut with the long way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from loan_recovery import features
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.train import run_train
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.scoring import score_loans
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import action_values, plan_loans, worklist_order


@pytest.fixture(scope="module")
def fast_settings() -> Settings:
    """Small models and a fixed segment count, so the module trains in about two seconds."""
    return load_settings(
        risk={"xgboost": {"n_estimators": 60}, "random_forest": {"n_estimators": 20}},
        strategy={"outcomes": {"n_estimators": 60}},
        segments={"n_segments": 3},
    )


@pytest.fixture(scope="module")
def bundle(fast_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """A version trained (no CV) on 1,500 simulated labelled loans."""
    folder = tmp_path_factory.mktemp("plan_equivalence")
    history = simulate_portfolio(1_500, 7, settings=fast_settings).loans
    path = write_table(history, Path(folder) / "history.parquet")
    outcome = run_train(
        path, settings=fast_settings, models_dir=folder / "models", seed=3, cross_validate=False
    )
    return outcome.bundle


@pytest.fixture(scope="module")
def fresh(fast_settings: Settings) -> pd.DataFrame:
    """800 validated loans the models never saw, with a non-default index."""
    table = validate_frame(simulate_portfolio(800, 21, settings=fast_settings).loans).table
    return table.set_axis(pd.RangeIndex(1000, 1000 + len(table), name="row"))


def test_shared_features_and_design_equal_the_separate_builds(
    fresh: pd.DataFrame, fast_settings: Settings, bundle: ModelBundle
) -> None:
    """Gives one table; builds design and scores with and without shared inputs; expects
    identical frames (exact and approximate reasons)."""
    engineered = features.build_features(fresh)
    design = risk_design_matrix(fresh, fast_settings.risk, engineered=engineered)
    pdt.assert_frame_equal(design, risk_design_matrix(fresh, fast_settings.risk))
    for approximate in (False, True):
        shared = score_loans(
            fresh,
            bundle,
            fast_settings.risk,
            approximate_reasons=approximate,
            design=design,
            engineered=engineered,
        )
        alone = score_loans(fresh, bundle, fast_settings.risk, approximate_reasons=approximate)
        pdt.assert_frame_equal(shared, alone, check_exact=True)


def test_design_reads_categories_and_text_alike(
    fresh: pd.DataFrame, fast_settings: Settings
) -> None:
    """Gives the categorical columns as categories, Arrow strings and objects, with blanks;
    expects the same design matrix (one-hot by codes equals one-hot by text)."""
    table = fresh.copy()
    for column in (schema.EMPLOYMENT_TYPE, schema.LOAN_TYPE, schema.PAYMENT_HISTORY):
        values = table[column].astype(object)
        values.iloc[::7] = None
        table[column] = values.astype("category")
    expected = risk_design_matrix(table, fast_settings.risk)
    assert expected.to_numpy().flags["C_CONTIGUOUS"]
    for dtype in ("str", object):
        other = table.copy()
        for column in (schema.EMPLOYMENT_TYPE, schema.LOAN_TYPE, schema.PAYMENT_HISTORY):
            other[column] = table[column].astype(object).astype(dtype)
        pdt.assert_frame_equal(risk_design_matrix(other, fast_settings.risk), expected)


def test_action_values_equal_their_parts(
    fresh: pd.DataFrame, fast_settings: Settings, bundle: ModelBundle
) -> None:
    """Gives one table; expects action_values' scores and fractions to equal score_loans and
    predict_fractions called on their own."""
    assert bundle.outcome_model is not None
    inputs = action_values(fresh, bundle, fast_settings)
    scores = score_loans(
        fresh,
        bundle,
        fast_settings.risk,
        top_k=fast_settings.explain.top_k,
        approximate_reasons=fast_settings.explain.method == "approximate",
    )
    pdt.assert_frame_equal(inputs.scores, scores, check_exact=True)
    fractions = bundle.outcome_model.predict_fractions(
        risk_design_matrix(fresh, fast_settings.risk)
    )
    pdt.assert_frame_equal(inputs.fractions, fractions, check_exact=True)


@pytest.mark.parametrize("budget", [None, 20_000.0])
def test_worklist_rows_match_their_inputs_in_pandas_order(
    fresh: pd.DataFrame, fast_settings: Settings, bundle: ModelBundle, budget: float | None
) -> None:
    """Gives the learned plan, unbounded and on a tight budget (held loans tie at priority
    0, more of them on the budget); expects the frame sorted as sort_values would sort it,
    and each row to carry its own loan's values, uplifts, hold value, reasons and
    guardrail text."""
    plan = plan_loans(fresh, bundle, fast_settings, budget=budget)
    worklist = plan.worklist
    resorted = worklist.sort_values(
        [schema.PRIORITY, schema.LOAN_ID], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    pdt.assert_frame_equal(worklist, resorted, check_exact=True)
    assert isinstance(worklist.index, pd.RangeIndex)

    inputs = action_values(fresh, bundle, fast_settings)
    by_loan = worklist.set_index(schema.LOAN_ID).loc[fresh[schema.LOAN_ID].to_numpy()]
    for action in inputs.catalogue.names:
        np.testing.assert_array_equal(
            by_loan[schema.value_column(action)].to_numpy(), inputs.values[action].to_numpy()
        )
        np.testing.assert_array_equal(
            by_loan[schema.uplift_column(action)].to_numpy(), inputs.uplift[action].to_numpy()
        )
    np.testing.assert_array_equal(
        by_loan[schema.VALUE_IF_LEFT_ALONE].to_numpy(), inputs.hold_value.to_numpy()
    )
    np.testing.assert_array_equal(
        by_loan[schema.GUARDRAILS].to_numpy(), inputs.guard.explanations.to_numpy()
    )
    np.testing.assert_array_equal(
        by_loan[schema.RISK_SCORE].to_numpy(), inputs.scores[schema.RISK_SCORE].to_numpy()
    )
    for rank in range(1, fast_settings.explain.top_k + 1):
        reason = schema.reason_column(rank)
        np.testing.assert_array_equal(by_loan[reason].to_numpy(), inputs.scores[reason].to_numpy())
    reasons = [schema.reason_column(r) for r in range(1, fast_settings.explain.top_k + 1)]
    text = [schema.LOAN_ID, schema.RECOMMENDED_ACTION, schema.BASELINE_ACTION, schema.RISK_BAND]
    for column in [*text, schema.SEGMENT_NAME, *reasons, schema.GUARDRAILS]:
        assert worklist[column].dtype == "str", column
    held = worklist[schema.RECOMMENDED_ACTION] == schema.HOLD
    assert (worklist.loc[held, schema.PRIORITY] == 0.0).all()
    assert held.sum() >= 2  # current loans are left alone: ties at priority 0
    assert worklist[schema.PRIORITY].duplicated(keep=False).any()
    if budget is not None:
        unbounded = plan_loans(fresh, bundle, fast_settings).worklist
        assert held.sum() > (unbounded[schema.RECOMMENDED_ACTION] == schema.HOLD).sum()


@pytest.mark.parametrize("seed", range(20))
def test_worklist_order_equals_pandas_sort(seed: int) -> None:
    """Gives priorities with ties, -0.0 and NaN, and Loan_IDs with repeats and blanks;
    expects the row order of sort_values([priority, Loan_ID], [desc, asc], stable)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 80))
    priority = rng.choice([0.0, -0.0, 1.5, 2.0, np.nan, 1e6], n)
    if seed % 4 == 0:
        priority = rng.random(n)  # no ties: the strings are never sorted
    loan_ids = pd.Series(
        rng.choice(["LN2", "LN10", "LN1", "ln1", None, "LN\u00e9"], n),
        dtype="str" if seed % 2 else object,
    )
    frame = pd.DataFrame({"priority": priority, "id": loan_ids})
    expected = frame.sort_values(
        ["priority", "id"], ascending=[False, True], kind="stable"
    ).index.to_numpy()
    np.testing.assert_array_equal(worklist_order(priority, loan_ids), expected)
