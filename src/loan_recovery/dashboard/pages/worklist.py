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
from loan_recovery.dashboard.formatting import count, money
from loan_recovery.dashboard.worklist_filters import (
    WorklistFilter,
    csv_bytes,
    excel_bytes,
    filter_worklist,
    options,
)
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError
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
#: Plan columns in money, shown with thousands separators and the currency in the header.
_MONEY_COLUMNS: tuple[str, ...] = (
    schema.PRIORITY,
    schema.EXPECTED_UPLIFT,
    schema.VALUE_IF_LEFT_ALONE,
    schema.EXPECTED_NET_RECOVERY,
    schema.EXPECTED_RECOVERED,
    schema.EXPECTED_COST,
    schema.UPLIFT_VS_BASELINE,
    schema.UPLIFT_VS_NEXT_BEST,
    schema.OUTSTANDING_LOAN_AMOUNT,
    *(schema.value_column(action) for action in schema.ACTION_NAMES),
    *(schema.uplift_column(action) for action in schema.ACTION_NAMES),
)

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
    symbol = settings.dashboard.currency_symbol
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


def _summary(plan: PlanResult, symbol: str) -> None:
    summary = plan.summary()
    config: dict[str, Any] = {
        schema.LOANS: st.column_config.NumberColumn(format="localized"),
        **{
            column: st.column_config.NumberColumn(f"{column} ({symbol})", format="localized")
            for column in (
                schema.EXPECTED_RECOVERED,
                schema.EXPECTED_COST,
                schema.EXPECTED_NET_RECOVERY,
                schema.EXPECTED_UPLIFT,
            )
        },
    }
    st.dataframe(summary.round(0).astype({schema.LOANS: "int64"}), column_config=config)
    totals = plan.totals()
    st.caption(
        f"Expected net recovery {money(totals['expected_net'], symbol)} (discounted): "
        f"{money(totals['incremental_net'], symbol)} more than leaving every loan alone "
        f"({money(totals['value_if_all_left_alone'], symbol)}), and "
        f"{money(totals['gain_over_baseline'], symbol)} more than the "
        f"{_baseline_name(plan.baseline_policy)} on these loans."
    )


def _baseline_name(policy: str) -> str:
    """How the caption names the baseline: BAU is the lender's own rule, not a made-up one."""
    return f"lender's current rule ({BAU})" if policy == BAU else f"{policy} baseline"


def _shadow_prices(plan: PlanResult, symbol: str) -> None:
    capacity = plan.capacity_plan
    if capacity is None:
        return
    lines = []
    for name, price in capacity.shadow_prices.items():
        if name in schema.ACTION_NAMES:
            lines.append(f"- one more **{name}** slot is worth {money(price, symbol)}")
        else:  # the budget's price is per currency unit
            lines.append(
                f"- one more {symbol}1 of **{name}** is worth {money(price, symbol, decimals=2)}"
            )
    st.markdown("**Value of the limits (shadow prices)**")
    if lines:
        st.markdown("\n".join(lines))
    st.caption(
        f"Plan {money(capacity.objective, symbol)} against an upper bound of "
        f"{money(capacity.upper_bound, symbol)} ({capacity.status}); "
        f"{count(capacity.rounded_loans)} loans re-placed after rounding."
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


def _table(shown: pd.DataFrame, symbol: str) -> None:
    """The loans on screen: what an agent needs first, money in whole currency units."""
    first = [column for column in _FIRST_COLUMNS if column in shown.columns]
    order = [*first, *(column for column in shown.columns if column not in first)]
    money_columns = [column for column in _MONEY_COLUMNS if column in shown.columns]
    config: dict[str, Any] = {
        column: st.column_config.NumberColumn(f"{column} ({symbol})", format="localized")
        for column in money_columns
    }
    config[schema.RISK_SCORE] = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(
        shown.round(dict.fromkeys(money_columns, 0)),
        column_config=config,
        column_order=order,
        hide_index=True,
        height=_TABLE_HEIGHT,
    )


def _downloads(filtered: pd.DataFrame) -> None:
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
        data=deferred(excel_bytes),
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
    symbol = settings.dashboard.currency_symbol
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
        f"{count(len(view))} loans planned with model {bundle.version} "
        f"({count(result.rejected)} rejected rows not planned), highest priority first."
    )
    _capacity_form(settings, bool(capacity) or budget is not None)
    _summary(plan, symbol)
    _shadow_prices(plan, symbol)

    st.subheader("Loans to work")
    filtered = filter_worklist(view, _filters(view, symbol))
    shown_rows = settings.dashboard.worklist_rows
    first, second, third = st.columns(3)
    first.metric("Loans after filters", count(len(filtered)))
    second.metric(
        "Their expected net recovery",
        money(float(filtered[schema.EXPECTED_NET_RECOVERY].sum()), symbol),
    )
    third.metric(
        "Their uplift over leaving them alone",
        money(float(filtered[schema.EXPECTED_UPLIFT].sum()), symbol),
    )
    if filtered.empty:
        st.info("No loan matches these filters; remove one to see more.")
        return
    _table(filtered.head(shown_rows), symbol)
    if len(filtered) > shown_rows:
        st.caption(
            f"Showing the first {count(shown_rows)} of {count(len(filtered))} loans; the "
            "downloads hold them all."
        )
    _downloads(filtered)


main()
