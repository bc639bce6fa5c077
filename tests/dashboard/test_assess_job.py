"""The assess job: a raw row in, exactly the plan row `loan-recovery plan` gives, explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery import features
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.validation import COLUMN, LINE, REASON, RejectReason, validate_frame
from loan_recovery.finance import reducing_balance_emi
from loan_recovery.jobs.assess import (
    Assessment,
    action_net_values,
    action_uplift_values,
    assess_loans,
    engineered_features,
    guardrail_sentences,
    raw_frame,
    reason_sentences,
)
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.design import describe_feature, risk_design_matrix
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import PlanResult, action_values, plan_loans
from loan_recovery.strategy.rules import RULE_SEPARATOR

ROWS = [0, 3, 17, 250, 999]


@pytest.fixture(scope="module")
def bundle(dashboard_world) -> ModelBundle:
    """The dashboard world's champion."""
    return load_bundle(ModelRegistry(dashboard_world.models_dir))


@pytest.fixture(scope="module")
def raw(dashboard_world) -> pd.DataFrame:
    """The portfolio file as the CLI reads it (text cells, source lines in the index)."""
    return read_raw_table(dashboard_world.portfolio)


@pytest.fixture(scope="module")
def full_plan(dashboard_world, raw: pd.DataFrame, bundle: ModelBundle) -> PlanResult:
    """`loan-recovery plan` of the whole portfolio file."""
    table = validate_frame(raw, settings=dashboard_world.settings).table
    return plan_loans(table, bundle, dashboard_world.settings)


@pytest.fixture(scope="module")
def assessed(dashboard_world, raw: pd.DataFrame, bundle: ModelBundle) -> Assessment:
    """Five rows of the file assessed together."""
    return assess_loans(raw.iloc[ROWS], bundle, dashboard_world.settings)


def test_worklist_equals_plan_loans_on_the_same_rows(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
    assessed: Assessment,
) -> None:
    """Given five raw rows, the assessment's worklist is plan_loans' worklist, frame for frame."""
    table = validate_frame(raw.iloc[ROWS], settings=dashboard_world.settings).table
    expected = plan_loans(table, bundle, dashboard_world.settings).worklist
    pd.testing.assert_frame_equal(assessed.worklist, expected)
    assert assessed.accepted == len(ROWS)


def test_each_row_gets_the_numbers_of_the_whole_file_plan(
    assessed: Assessment, full_plan: PlanResult
) -> None:
    """A row assessed alone gets the risk and action the whole file's plan gives it."""
    whole = full_plan.worklist.set_index(schema.LOAN_ID)
    for _, row in assessed.worklist.iterrows():
        planned = whole.loc[row[schema.LOAN_ID]]
        assert row[schema.RISK_SCORE] == pytest.approx(planned[schema.RISK_SCORE], abs=1e-12)
        assert row[schema.RECOMMENDED_ACTION] == planned[schema.RECOMMENDED_ACTION]
        assert row[schema.EXPECTED_NET_RECOVERY] == pytest.approx(
            planned[schema.EXPECTED_NET_RECOVERY], rel=1e-9
        )


def test_contributions_and_bias_add_up_to_the_model_output(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
    assessed: Assessment,
) -> None:
    """SHAP columns are the feature descriptions; with the bias they sum to the base output."""
    table = validate_frame(raw.iloc[ROWS], settings=dashboard_world.settings).table
    design = risk_design_matrix(table, dashboard_world.settings.risk)
    assert list(assessed.contributions.columns) == [
        describe_feature(name) for name in bundle.feature_names
    ]
    base = bundle.risk_model.base_
    if base.family == "xgboost":
        assert assessed.contribution_unit == "log-odds"
        expected = base.decision_margin(design)
    else:
        assert assessed.contribution_unit == "probability"
        expected = base.predict_proba(design)[:, 1]
    total = assessed.contributions.sum(axis=1).to_numpy() + assessed.bias.to_numpy()
    np.testing.assert_allclose(total, expected, atol=1e-4)
    assert list(assessed.contributions.index) == list(table[schema.LOAN_ID])


def test_scores_asset_class_features_and_segment_come_from_the_pipeline(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
    assessed: Assessment,
) -> None:
    """Asset class and ratios are features.py's; the segment line is the segmenter's own."""
    table = validate_frame(raw.iloc[ROWS], settings=dashboard_world.settings).table
    classes = features.asset_class(table).astype(str).to_numpy()
    ratios = features.emi_to_income_ratio(table).to_numpy()
    for position, loan_id in enumerate(table[schema.LOAN_ID]):
        scores = assessed.scores_of(loan_id)
        assert scores[schema.SCORED_ASSET_CLASS] == classes[position]
        engineered = engineered_features(scores)
        assert schema.ASSET_CLASS not in engineered.index
        assert set(engineered.index) == set(features.FEATURE_COLUMNS) - {schema.ASSET_CLASS}
        assert engineered[schema.EMI_TO_INCOME_RATIO] == pytest.approx(ratios[position])
        segment = int(scores[schema.SEGMENT_ID])
        assert assessed.segment_descriptions.loc[loan_id] == bundle.segmenter.describe()[segment]
        assert scores[schema.SEGMENT_NAME] == bundle.segmenter.names_[segment]


def test_recommended_action_is_the_candidate_of_largest_uplift_over_hold(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
    assessed: Assessment,
) -> None:
    """Without limits the learned policy takes the candidate action adding most over hold
    (BAU's own action may be one), and holds a loan without candidates; value_<a> = value
    left alone + uplift_<a>."""
    settings = dashboard_world.settings
    table = validate_frame(raw.iloc[ROWS], settings=settings).table
    inputs = action_values(table, bundle, settings)
    loan_ids = table[schema.LOAN_ID].astype(str).tolist()
    uplift = inputs.uplift.set_axis(loan_ids)
    candidates = inputs.candidates.set_axis(loan_ids)
    bau = inputs.bau.set_axis(loan_ids)
    actions = list(uplift.columns)
    held = 0
    for _, row in assessed.worklist.iterrows():
        loan_id = str(row[schema.LOAN_ID])
        shown = action_uplift_values(row)
        assert list(shown.index) == actions
        np.testing.assert_allclose(shown, uplift.loc[loan_id].to_numpy(), rtol=1e-12)
        values = action_net_values(row)
        assert list(values.index) == actions
        np.testing.assert_allclose(values - row[schema.VALUE_IF_LEFT_ALONE], shown, atol=1e-6)
        offered = uplift.loc[loan_id].where(candidates.loc[loan_id])
        if offered.notna().any():
            best = str(offered.idxmax())
            assert row[schema.RECOMMENDED_ACTION] == best
            assert row[schema.EXPECTED_UPLIFT] == pytest.approx(offered[best], rel=1e-12)
            # An action adding no more than min_uplift is only kept when it is BAU's own
            # (the safe-improvement guard does not make the lender stop what it does).
            if row[schema.EXPECTED_UPLIFT] <= settings.strategy.min_uplift:
                assert best == bau.loc[loan_id]
            assert bool(assessed.allowed_of(loan_id)[best])
        else:
            held += 1
            assert row[schema.RECOMMENDED_ACTION] == HOLD
            assert row[schema.EXPECTED_UPLIFT] == 0.0
        assert row[schema.EXPECTED_NET_RECOVERY] == pytest.approx(
            row[schema.VALUE_IF_LEFT_ALONE] + row[schema.EXPECTED_UPLIFT], rel=1e-12
        )
        reasons = reason_sentences(row, settings.explain.top_k)
        assert len(reasons) <= settings.explain.top_k
        assert all("raises risk" in reason for reason in reasons)
        guardrails = guardrail_sentences(row)
        assert RULE_SEPARATOR.join(guardrails) == row[schema.GUARDRAILS]
    assert held < len(ROWS)  # the check above covered a worked loan, not only held ones


def test_bad_row_is_reported_with_line_field_and_reason(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
) -> None:
    """Given a good and a bad record, the bad one is named by line, field and reason."""
    good = raw.iloc[0].to_dict()
    bad = {**raw.iloc[1].to_dict(), schema.AGE: 12, schema.LOAN_AMOUNT: "-5"}
    assessment = assess_loans(raw_frame([good, bad]), bundle, dashboard_world.settings)
    assert assessment.accepted == 1
    assert list(assessment.worklist[schema.LOAN_ID]) == [good[schema.LOAN_ID]]
    issues = assessment.validation.issues
    assert set(issues[LINE]) == {3}  # the second record is line 3, as in a CSV file
    assert dict(zip(issues[COLUMN], issues[REASON], strict=True)) == {
        schema.AGE: RejectReason.OUT_OF_RANGE.value,
        schema.LOAN_AMOUNT: RejectReason.OUT_OF_RANGE.value,
    }
    errors = assessment.field_errors(line=3)
    assert errors[schema.AGE] == ["Age must be >= 18 and <= 100; got 12."]
    (amount,) = errors[schema.LOAN_AMOUNT]  # the schema's cap on amounts is named too
    assert amount.startswith("Loan_Amount must be > 0")
    assert amount.endswith("; got -5.")
    assert assessment.field_errors(line=2) == {}


def test_all_rows_rejected_gives_an_empty_plan_not_an_error(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
) -> None:
    """A single invalid record: nothing planned, the problem reported, no exception."""
    record = {**raw.iloc[0].to_dict(), schema.GENDER: "Robot"}
    assessment = assess_loans(raw_frame([record]), bundle, dashboard_world.settings)
    assert assessment.accepted == 0
    assert assessment.worklist.empty
    assert list(assessment.field_errors()) == [schema.GENDER]
    with pytest.raises(KeyError, match="not planned"):
        assessment.plan_row(str(record[schema.LOAN_ID]))


def test_raw_frame_reads_like_a_csv_file() -> None:
    """Values become CSV text (blank for None, floats round-trip); lines start at 2."""
    frame = raw_frame(
        [
            {schema.LOAN_ID: "L1", schema.INTEREST_RATE: 9.19, schema.MONTHLY_EMI: None},
            {schema.LOAN_ID: "L2", schema.AGE: 40, schema.INTEREST_RATE: 0.1 + 0.2},
        ]
    )
    assert list(frame.columns) == [
        schema.LOAN_ID,
        schema.INTEREST_RATE,
        schema.MONTHLY_EMI,
        schema.AGE,
    ]
    assert frame.index.name == schema.SOURCE_LINE
    assert list(frame.index) == [2, 3]
    assert frame.loc[2, schema.MONTHLY_EMI] == ""
    assert frame.loc[2, schema.AGE] == ""
    assert frame.loc[3, schema.AGE] == "40"
    assert float(frame.loc[3, schema.INTEREST_RATE]) == 0.1 + 0.2


def test_a_blank_emi_is_derived_from_the_terms(
    dashboard_world,
    raw: pd.DataFrame,
    bundle: ModelBundle,
) -> None:
    """A record without an EMI is planned with the reducing-balance EMI of its terms."""
    record = {**raw.iloc[0].to_dict(), schema.MONTHLY_EMI: None}
    assessment = assess_loans(raw_frame([record]), bundle, dashboard_world.settings)
    assert assessment.accepted == 1
    expected = reducing_balance_emi(
        float(record[schema.LOAN_AMOUNT]),
        float(record[schema.INTEREST_RATE]),
        int(record[schema.LOAN_TENURE]),
    )
    emi = assessment.validation.table[schema.MONTHLY_EMI].iloc[0]
    assert emi == pytest.approx(float(expected), rel=1e-12)
    assert emi == pytest.approx(float(raw.iloc[0][schema.MONTHLY_EMI]), abs=0.01)
