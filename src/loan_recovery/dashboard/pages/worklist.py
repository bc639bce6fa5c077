"""Worklist: the current portfolio's recovery plan, highest priority first, for agents to work.

The plan is :func:`loan_recovery.strategy.plan.plan_loans` through the state caches, so it
is the one ``loan-recovery plan`` writes. Capacity and budget re-run the optimiser (and
price the limits); filters only narrow what is shown and downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from loan_recovery.config import Settings
from loan_recovery.dashboard import state
from loan_recovery.dashboard.formatting import money_format, styled
from loan_recovery.dashboard.worklist_filters import (
    WorklistFilter,
    csv_bytes,
    excel_bytes,
    filter_worklist,
    options,
)
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.money import MONEY_COLUMNS, MoneyFormat
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import PlanResult
from loan_recovery.strategy.policy import BAU

#: Session keys of the capacity form and the filters.
BUDGET_KEY = "worklist_budget"
FILTER_KEYS = {
    schema.SEGMENT_NAME: "worklist_segments",
    schema.RECOMMENDED_ACTION: "worklist_actions",
    schema.DPD_BUCKET: "worklist_dpd_buckets",
    schema.ASSET_CLASS: "worklist_asset_classes",
}
MIN_EXPOSURE_KEY = "worklist_min_exposure"
REPLAN_KEY = "worklist_replan"
#: Columns an agent reads first, in this order; the rest follow as the plan has them.
_FIRST_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    schema.BORROWER_ID,
    schema.RECOMMENDED_ACTION,
    schema.PRIORITY,
    schema.EXPECTED_UPLIFT,
    schema.VALUE_IF_LEFT_ALONE,
    schema.RISK_SCORE,
    schema.RISK_BAND,
    schema.SEGMENT_NAME,
    schema.OUTSTANDING_LOAN_AMOUNT,
    schema.DAYS_PAST_DUE,
    schema.DPD_BUCKET,
    schema.ASSET_CLASS,
    schema.LOAN_TYPE,
    schema.reason_column(1),
    schema.GUARDRAILS,
)
_TABLE_HEIGHT = 560


def capacity_key(action: str) -> str:
    """Session-state key of an action's capacity input."""
    return f"worklist_capacity_{action}"


def _actions(settings: Settings) -> list[str]:
    return [action for action in schema.ACTION_NAMES if action in settings.actions]


def _limits(settings: Settings) -> tuple[dict[str, int], float | None]:
    """Capacity and budget as the form last submitted them (settings' values at first)."""
    for action in _actions(settings):
        st.session_state.setdefault(capacity_key(action), settings.strategy.capacity.get(action))
    st.session_state.setdefault(BUDGET_KEY, settings.strategy.budget)
    capacity = {
        action: int(slots)
        for action in _actions(settings)
        if (slots := st.session_state.get(capacity_key(action))) is not None
    }
    budget = st.session_state.get(BUDGET_KEY)
    return capacity, None if budget is None else float(budget)


def _capacity_form(settings: Settings, limited: bool) -> None:
    symbol = money_format(settings).symbol
    with (
        st.expander("Capacity and budget", expanded=limited),
        st.form("worklist_capacity"),
    ):
        st.caption(
            "Loans each action can take this cycle and the total cost allowed; blank means "
            "no limit. With any limit set the plan is re-optimised for the whole book."
        )
        actions = _actions(settings)
        slots = st.columns(len(actions) + 1)
        for slot, action in zip(slots, actions, strict=False):
            slot.number_input(
                f"{action} slots",
                min_value=0,
                step=1,
                key=capacity_key(action),
                help=settings.actions[action].description,
            )
        slots[-1].number_input(
            f"Budget ({symbol})", min_value=0.0, step=10_000.0, format="%.0f", key=BUDGET_KEY
        )
        st.form_submit_button("Re-plan", type="primary", key=REPLAN_KEY)


def _summary(plan: PlanResult, money: MoneyFormat) -> None:
    summary = plan.summary()
    amounts = (
        schema.EXPECTED_RECOVERED,
        schema.EXPECTED_COST,
        schema.EXPECTED_NET_RECOVERY,
        schema.EXPECTED_UPLIFT,
    )
    config: dict[str, Any] = {column: st.column_config.NumberColumn(column) for column in amounts}
    st.dataframe(
        styled(summary, money, amounts=amounts, counts=(schema.LOANS,)), column_config=config
    )
    totals = plan.totals()
    st.caption(
        f"Expected net recovery {money.amount(totals['expected_net'])} (discounted): "
        f"{money.amount(totals['incremental_net'])} more than leaving every loan alone "
        f"({money.amount(totals['value_if_all_left_alone'])}), and "
        f"{money.amount(totals['gain_over_baseline'])} more than the "
        f"{_baseline_name(plan.baseline_policy)} on these loans."
    )


def _baseline_name(policy: str) -> str:
    """How the caption names the baseline: BAU is the lender's own rule, not a made-up one."""
    return f"lender's current rule ({BAU})" if policy == BAU else f"{policy} baseline"


def _shadow_prices(plan: PlanResult, money: MoneyFormat) -> None:
    capacity = plan.capacity_plan
    if capacity is None:
        return
    lines = []
    for name, price in capacity.shadow_prices.items():
        if name in schema.ACTION_NAMES:
            lines.append(f"- one more **{name}** slot is worth {money.amount(price)}")
        else:  # the budget's price is per currency unit: its paise are the point
            worth = money.amount(price, decimals=2, exact=True)
            lines.append(f"- one more {money.amount(1)} of **{name}** is worth {worth}")
    st.markdown("**Value of the limits (shadow prices)**")
    if lines:
        st.markdown("\n".join(lines))
    st.caption(
        f"Plan {money.amount(capacity.objective)} against an upper bound of "
        f"{money.amount(capacity.upper_bound)} ({capacity.status}); "
        f"{money.number(capacity.rounded_loans)} loans re-placed after rounding."
    )


def _filters(view: pd.DataFrame, symbol: str) -> WorklistFilter:
    orders: dict[str, tuple[str, ...]] = {
        schema.SEGMENT_NAME: (),
        schema.RECOMMENDED_ACTION: (*schema.ACTION_NAMES, HOLD),
        schema.DPD_BUCKET: schema.DPD_BUCKETS,
        schema.ASSET_CLASS: schema.ASSET_CLASSES,
    }
    labels = {
        schema.SEGMENT_NAME: "Segment",
        schema.RECOMMENDED_ACTION: "Recommended action",
        schema.DPD_BUCKET: "DPD bucket",
        schema.ASSET_CLASS: "Asset class",
    }
    slots = st.columns(len(orders) + 1)
    chosen: dict[str, tuple[str, ...]] = {}
    for slot, (column, order) in zip(slots, orders.items(), strict=False):
        picked = slot.multiselect(
            labels[column],
            options(view, column, order),
            key=FILTER_KEYS[column],
            placeholder="All",
        )
        chosen[column] = tuple(str(value) for value in picked)
    minimum = slots[-1].number_input(
        f"Minimum exposure ({symbol})",
        min_value=0.0,
        value=0.0,
        step=10_000.0,
        format="%.0f",
        key=MIN_EXPOSURE_KEY,
    )
    return WorklistFilter(
        segments=chosen[schema.SEGMENT_NAME],
        actions=chosen[schema.RECOMMENDED_ACTION],
        dpd_buckets=chosen[schema.DPD_BUCKET],
        asset_classes=chosen[schema.ASSET_CLASS],
        min_exposure=float(minimum or 0.0),
    )


def _table(shown: pd.DataFrame, money: MoneyFormat) -> None:
    """The loans on screen: what an agent needs first, money in whole currency units."""
    first = [column for column in _FIRST_COLUMNS if column in shown.columns]
    order = [*first, *(column for column in shown.columns if column not in first)]
    config: dict[str, Any] = {
        column: st.column_config.NumberColumn(column)
        for column in MONEY_COLUMNS
        if column in shown.columns
    }
    config[schema.RISK_SCORE] = st.column_config.NumberColumn(format="%.3f")
    # Every cell goes through the Styler; pandas refuses more than its default cap.
    cells = max(int(pd.get_option("styler.render.max_elements")), shown.size)
    with pd.option_context("styler.render.max_elements", cells):
        st.dataframe(
            styled(shown, money, amounts=MONEY_COLUMNS),
            column_config=config,
            column_order=order,
            hide_index=True,
            height=_TABLE_HEIGHT,
        )


def _downloads(filtered: pd.DataFrame, money: MoneyFormat) -> None:
    def deferred(convert: Callable[[pd.DataFrame], bytes]) -> Callable[[], bytes]:
        return lambda: convert(filtered)  # built only when the button is clicked

    left, right = st.columns(2)
    left.download_button(
        "Download CSV",
        data=deferred(csv_bytes),
        file_name="worklist.csv",
        mime="text/csv",
        on_click="ignore",
        key="worklist_csv",
    )
    right.download_button(
        "Download Excel",
        data=deferred(lambda frame: excel_bytes(frame, money)),
        file_name="worklist.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        on_click="ignore",
        key="worklist_xlsx",
    )


def main() -> None:
    """Draw the page."""
    st.title("Worklist")
    try:
        settings = state.get_settings()
        bundle = state.champion_bundle(settings)
    except LoanRecoveryError as error:
        st.error(f"{error} Run `loan-recovery demo` to train and promote a champion model.")
        return
    try:
        table_key, result = state.current_portfolio(settings)
    except LoanRecoveryError as error:
        st.error(str(error))
        return
    table = result.table
    if table.empty:
        st.info("No valid loans to plan: every row of the portfolio was rejected.")
        return
    money = money_format(settings)
    capacity, budget = _limits(settings)
    try:
        plan = state.planned(table_key, table, bundle, settings, capacity=capacity, budget=budget)
        view = state.worklist_view(
            table_key, table, bundle, settings, capacity=capacity, budget=budget
        )
    except LoanRecoveryError as error:
        st.error(str(error))
        return
    st.caption(
        f"{money.number(len(view))} loans planned with model {bundle.version} "
        f"({money.number(result.rejected)} rejected rows not planned), highest priority first."
    )
    _capacity_form(settings, bool(capacity) or budget is not None)
    _summary(plan, money)
    _shadow_prices(plan, money)

    st.subheader("Loans to work")
    filtered = filter_worklist(view, _filters(view, money.symbol))
    shown_rows = settings.dashboard.worklist_rows
    first, second, third = st.columns(3)
    first.metric("Loans after filters", money.number(len(filtered)))
    second.metric(
        "Their expected net recovery",
        money.amount(float(filtered[schema.EXPECTED_NET_RECOVERY].sum())),
    )
    third.metric(
        "Their uplift over leaving them alone",
        money.amount(float(filtered[schema.EXPECTED_UPLIFT].sum())),
    )
    if filtered.empty:
        st.info("No loan matches these filters; remove one to see more.")
        return
    _table(filtered.head(shown_rows), money)
    if len(filtered) > shown_rows:
        st.caption(
            f"Showing the first {money.number(shown_rows)} of {money.number(len(filtered))} "
            "loans; the downloads hold them all."
        )
    _downloads(filtered, money)


main()
