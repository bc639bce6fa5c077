"""The Worklist page driven through AppTest: plan, filters, capacity, row limit, uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from loan_recovery.dashboard import state
from loan_recovery.dashboard.launch import APP_PATH
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.money import MoneyFormat
from loan_recovery.strategy.plan import PlanResult, plan_loans

PAGE = APP_PATH.parent / "pages" / "worklist.py"
#: Seconds an AppTest run may take (first runs plan the portfolio; a re-plan solves an LP).
APP_TIMEOUT = 180


@pytest.fixture(scope="module")
def expected_plan(dashboard_world) -> PlanResult:
    """`loan-recovery plan` of the dashboard's portfolio, without limits."""
    table = validate_frame(
        read_raw_table(dashboard_world.portfolio), settings=dashboard_world.settings
    ).table
    bundle = load_bundle(ModelRegistry(dashboard_world.models_dir))
    return plan_loans(table, bundle, dashboard_world.settings)


def started() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def loans_after_filters(at: AppTest) -> int:
    """The count the page reports under its filters."""
    metrics = {item.label: item.value for item in at.metric}
    return int(metrics["Loans after filters"].replace(",", ""))


def summary(at: AppTest) -> pd.DataFrame:
    """The action summary table (loans, recovered, cost, net per action)."""
    for frame in at.dataframe:
        if schema.LOANS in frame.value.columns:
            return frame.value
    raise AssertionError("no action summary on the page")


def shown_worklist(at: AppTest) -> pd.DataFrame:
    """The worklist table on screen."""
    for frame in at.dataframe:
        if schema.RECOMMENDED_ACTION in frame.value.columns:
            return frame.value
    raise AssertionError("no worklist table on the page")


def test_page_shows_the_plan_by_priority(dashboard_env, expected_plan: PlanResult) -> None:
    """All loans planned, the table capped at worklist_rows, priority order, two downloads."""
    at = started()
    total = len(expected_plan.worklist)
    assert loans_after_filters(at) == total
    shown = shown_worklist(at)
    rows = dashboard_env.settings.dashboard.worklist_rows
    assert len(shown) == min(rows, total)
    assert list(shown[schema.LOAN_ID]) == list(expected_plan.worklist[schema.LOAN_ID][:rows])
    assert shown[schema.PRIORITY].is_monotonic_decreasing
    counts = expected_plan.worklist[schema.RECOMMENDED_ACTION].value_counts()
    table = summary(at)
    assert {action: int(table.loc[action, schema.LOANS]) for action in counts.index} == {
        str(action): int(n) for action, n in counts.items()
    }
    assert len(at.get("download_button")) == 2
    # Every loan shows its value left alone and each action's uplift over it, as planned.
    planned = expected_plan.worklist.set_index(schema.LOAN_ID).loc[list(shown[schema.LOAN_ID])]
    columns = [
        schema.EXPECTED_UPLIFT,
        schema.VALUE_IF_LEFT_ALONE,
        *(schema.uplift_column(action) for action in schema.ACTION_NAMES),
        *(schema.value_column(action) for action in schema.ACTION_NAMES),
    ]
    np.testing.assert_allclose(  # shown in whole rupees
        shown[columns].to_numpy(dtype=float), planned[columns].to_numpy(dtype=float), atol=0.5
    )
    totals = expected_plan.totals()
    caption = next(item.value for item in at.caption if item.value.startswith("Expected net"))
    added = MoneyFormat().amount(totals["incremental_net"])
    assert f"{added} more than leaving every loan alone" in caption
    gain = MoneyFormat().amount(totals["gain_over_baseline"])
    assert f"{gain} more than the lender's current rule (bau)" in caption
    if total > rows:
        assert any(f"of {MoneyFormat().number(total)} loans" in item.value for item in at.caption)


def test_filters_change_the_worklist(dashboard_env, expected_plan: PlanResult) -> None:
    """One action, then a minimum exposure: the count drops to exactly the matching loans."""
    at = started()
    plan = expected_plan.worklist
    action = plan[schema.RECOMMENDED_ACTION].value_counts().index[-1]  # the rarest action
    at.multiselect(key="worklist_actions").set_value([action]).run()
    matching = int((plan[schema.RECOMMENDED_ACTION] == action).sum())
    assert loans_after_filters(at) == matching < len(plan)
    assert set(shown_worklist(at)[schema.RECOMMENDED_ACTION]) == {action}

    at.multiselect(key="worklist_actions").set_value([]).run()
    assert loans_after_filters(at) == len(plan)
    shown = shown_worklist(at)
    floor = float(shown[schema.OUTSTANDING_LOAN_AMOUNT].median())
    at.number_input(key="worklist_min_exposure").set_value(floor).run()
    table = read_raw_table(dashboard_env.portfolio)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT].astype(float)
    assert loans_after_filters(at) == int((outstanding >= floor).sum()) < len(plan)
    assert (shown_worklist(at)[schema.OUTSTANDING_LOAN_AMOUNT] >= floor).all()


def test_no_match_shows_a_hint(dashboard_env) -> None:
    """A minimum exposure above every loan: an info message, no table."""
    at = started()
    at.number_input(key="worklist_min_exposure").set_value(1e12).run()
    assert loans_after_filters(at) == 0
    assert len(at.info) == 1
    with pytest.raises(AssertionError, match="no worklist table"):
        shown_worklist(at)


def test_capacity_caps_an_action_and_prices_the_slot(
    dashboard_env, expected_plan: PlanResult
) -> None:
    """Capping the most common action: at most that many loans get it, the slot is priced."""
    at = started()
    actions = expected_plan.worklist[schema.RECOMMENDED_ACTION]
    counts = actions[actions != schema.HOLD].value_counts()  # hold takes no slot
    action, uncapped = str(counts.index[0]), int(counts.iloc[0])
    cap = max(1, uncapped // 10)
    at.number_input(key=f"worklist_capacity_{action}").set_value(cap)
    at.button(key="worklist_replan").click().run()
    assert not at.exception, [item.value for item in at.exception]
    table = summary(at)
    capped = int(table.loc[action, schema.LOANS]) if action in table.index else 0
    assert 0 < capped <= cap < uncapped
    assert int(table.loc["total", schema.LOANS]) == len(expected_plan.worklist)
    texts = [item.value for item in at.markdown]
    assert any(f"one more **{action}** slot is worth ₹" in text for text in texts)
    assert loans_after_filters(at) == len(expected_plan.worklist)


def test_row_limit_from_settings(dashboard_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """dashboard.worklist_rows = 50: 50 rows on screen and the total named."""
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__WORKLIST_ROWS", "50")
    at = started()
    assert len(shown_worklist(at)) == 50
    assert any("Showing the first 50 of" in item.value for item in at.caption)


def test_an_uploaded_portfolio_in_the_session_is_used(dashboard_env) -> None:
    """The Portfolio page's upload (portfolio_key / portfolio_result) replaces the default."""
    raw = read_raw_table(dashboard_env.portfolio).iloc[:120]
    result = validate_frame(raw, settings=dashboard_env.settings)
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.session_state["portfolio_key"] = "upload:first-120"
    at.session_state["portfolio_result"] = result
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    assert loans_after_filters(at) == 120
    assert set(shown_worklist(at)[schema.LOAN_ID]) == set(raw[schema.LOAN_ID])


def test_no_champion_tells_to_run_the_demo(
    dashboard_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty model registry: an error naming `loan-recovery demo`, no traceback."""
    monkeypatch.setenv("LOAN_RECOVERY_MODELS_DIR", str(tmp_path / "empty"))
    at = started()
    assert len(at.error) == 1
    assert "loan-recovery demo" in at.error[0].value


def test_the_dashboard_explains_every_loan_and_re_plans_reuse_the_reasons(
    dashboard_env, expected_plan: PlanResult
) -> None:
    """Gives the 1,500-loan portfolio (above explain.all_below, so a CLI plan explains only
    its worked loans); expects the page's plan to carry the reasons of scope=all for every
    loan, held ones included, and a capped re-plan the very same reason columns."""
    settings = dashboard_env.settings
    assert len(expected_plan.worklist) > settings.explain.all_below
    table = validate_frame(read_raw_table(dashboard_env.portfolio), settings=settings).table
    bundle = load_bundle(ModelRegistry(dashboard_env.models_dir))
    every = plan_loans(table, bundle, state.explain_every_loan(settings)).worklist
    reasons = [schema.reason_column(rank) for rank in (1, 2, 3)]
    shown = state.planned("test:portfolio", table, bundle, settings).worklist
    pd.testing.assert_frame_equal(shown[reasons], every[reasons])
    held = every[schema.RECOMMENDED_ACTION] == schema.HOLD
    assert (every.loc[held, reasons[0]] != "").any()  # held loans are explained too
    capped = state.planned("test:portfolio", table, bundle, settings, capacity={"legal": 5})
    by_loan = capped.worklist.set_index(schema.LOAN_ID)[reasons]
    pd.testing.assert_frame_equal(
        by_loan.loc[every[schema.LOAN_ID]].reset_index(drop=True),
        every[reasons].reset_index(drop=True),
    )
