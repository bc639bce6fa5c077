"""Strategy lab: every policy judged by the simulator's truth, under costs you can edit.

The costly part (simulate a history, train on it, predict a fresh portfolio) runs once per
server; editing an action's fixed cost or recovery share re-values every policy's choice
with :func:`~loan_recovery.jobs.evaluate.evaluate_policies`, as the CLI's
``evaluate-policy`` does, in well under a second.
"""

from __future__ import annotations

import streamlit as st

from loan_recovery.dashboard import charts, insights, state
from loan_recovery.dashboard.formatting import count, money, percent
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.strategy.policy import LEARNED, THRESHOLD_RULES

settings = state.get_settings()
symbol = settings.dashboard.currency_symbol
lab = settings.dashboard
st.title("Strategy lab")
st.markdown(
    f"A simulated lender logs a history of {count(lab.strategy_lab_loans)} loans; the models "
    f"train on it; then every policy chooses an action for {count(lab.strategy_lab_loans)} "
    "fresh loans, and the simulator, which knows each loan's outcome under every action, "
    "says what each choice is truly worth. The **oracle** picks each loan's truly best action: "
    f"*oracle capture* is the share of the oracle's gain over `{THRESHOLD_RULES}` a policy gets."
)


def _edited_costs() -> dict[str, tuple[float, float]]:
    """(fixed cost, recovery share) per action from the inputs, seeded from the settings."""
    defaults = insights.action_cost_table(settings)
    st.caption(
        f"Fixed cost per loan worked ({symbol}) and the share of the money recovered that the "
        "action gives away (an agency's commission, a lawyer's fee). Net = recovered x "
        "(1 - share) - fixed cost."
    )
    header = st.columns([1, 2, 2])
    header[0].markdown("**Action**")
    header[1].markdown(f"**Fixed cost ({symbol})**")
    header[2].markdown("**Recovery share**")
    costs: dict[str, tuple[float, float]] = {}
    for action, row in defaults.iterrows():
        name = str(action)
        cells = st.columns([1, 2, 2])
        cells[0].markdown(f"`{name}`")
        fixed = cells[1].number_input(
            f"Fixed cost of {name}",
            value=float(row[schema.FIXED_COST]),
            step=100.0,
            format="%.0f",
            key=f"fixed_cost_{name}",
            label_visibility="collapsed",
        )
        share = cells[2].number_input(
            f"Recovery share of {name}",
            value=float(row[schema.RECOVERY_SHARE]),
            step=0.01,
            format="%.2f",
            key=f"recovery_share_{name}",
            label_visibility="collapsed",
        )
        costs[name] = (float(fixed), float(share))
    return costs


with st.expander("Action costs: edit to re-value every policy", expanded=True):
    costs = _edited_costs()

try:
    edited = insights.with_action_costs(settings, costs)
except LoanRecoveryError as error:
    st.error(f"Cannot use these costs: {error}")
    st.stop()

try:
    setup_key, setup = state.evaluation_setup(settings)
    report = state.policy_evaluation(setup_key, setup, edited)
except LoanRecoveryError as error:
    st.error(f"Cannot run the strategy lab: {error}")
    st.stop()

table = insights.policy_table(report)
changed = [name for name in settings.actions if edited.actions[name] != settings.actions[name]]
if changed:
    st.info(f"Valued with your costs for: {', '.join(changed)} (the settings file is unchanged).")

learned = report.policies[LEARNED]
baseline = report.policies.get(THRESHOLD_RULES)
tiles = st.columns(3)
tiles[0].metric("Learned policy: net recovery", money(learned.value.net_recovery, symbol))
if baseline is not None:
    tiles[1].metric(
        f"vs {THRESHOLD_RULES}",
        money(learned.value.net_recovery - baseline.value.net_recovery, symbol),
    )
tiles[2].metric("Oracle capture", percent(learned.capture))

st.container(key="policy_table").dataframe(
    table,
    column_config={
        schema.NET_RECOVERY: st.column_config.NumberColumn(
            f"Net recovery ({symbol})", format="localized"
        ),
        schema.RECOVERED: st.column_config.NumberColumn(
            f"Recovered ({symbol})", format="localized"
        ),
        schema.COST: st.column_config.NumberColumn(f"Cost ({symbol})", format="localized"),
        schema.RECOVERY_RATE: st.column_config.NumberColumn("Recovery rate", format="percent"),
        schema.ORACLE_CAPTURE: st.column_config.NumberColumn("Oracle capture", format="percent"),
    },
)
st.plotly_chart(charts.policy_bars(table, symbol), key="policy_chart")
st.caption(
    f"Seed {report.seed}; {count(report.loans)} fresh loans. Money is the truth's expected "
    "value of each chosen action under the costs above."
)
