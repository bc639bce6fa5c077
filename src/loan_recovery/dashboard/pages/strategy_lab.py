"""Strategy lab: every policy judged by the simulator's truth, under costs you can edit.

The costly part (simulate a history, train on it, predict a fresh portfolio) runs once per
server; editing an action's fixed cost or recovery share re-values every policy's choice
with :func:`~loan_recovery.jobs.evaluate.evaluate_policies`, as the CLI's
``evaluate-policy`` does, in well under a second.
"""

from __future__ import annotations

import math

import streamlit as st

from loan_recovery.actions import CAPACITY_LIMITED, HOLD
from loan_recovery.dashboard import charts, insights, state
from loan_recovery.dashboard.formatting import money_format, percent, styled
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.strategy.policy import BAU, LEARNED

#: Session key of the "same capacity as BAU" toggle.
SAME_CAPACITY_KEY = "strategy_lab_same_capacity"

settings = state.get_settings()
money = money_format(settings)
lab = settings.dashboard
st.title("Strategy lab")
loans = money.number(lab.strategy_lab_loans)
st.markdown(
    f"A simulated lender logs a history of {loans} loans; the models train on it; then "
    f"every policy chooses an arm (an action, or `{HOLD}`: leave the loan alone) for "
    f"{loans} fresh loans, and the simulator, which knows each loan's outcome under every "
    f"arm, says what each choice is truly worth (discounted net recovery). The learned "
    f"policy is judged against `{BAU}`, the lender's current rule: **vs {BAU}** is the "
    f"change in true net recovery, and *oracle capture* the share of the oracle's gain over "
    f"`{BAU}` a policy gets (the **oracle** picks each loan's truly best allowed arm). A "
    "lender has no simulator, so each policy is also valued off-policy from the fresh "
    "loans' own logged history: the doubly robust (**DR**) estimate, its 95% bootstrap "
    f"interval and the chance it beats `{BAU}`."
)


def _edited_costs() -> dict[str, tuple[float, float]]:
    """(fixed cost, recovery share) per action from the inputs, seeded from the settings."""
    defaults = insights.action_cost_table(settings)
    st.caption(
        f"Fixed cost per loan worked ({money.symbol}) and the share of the money recovered "
        "that the action gives away (an agency's commission, a lawyer's fee). Net = recovered x "
        "(1 - share) - fixed cost."
    )
    header = st.columns([1, 2, 2])
    header[0].markdown("**Action**")
    header[1].markdown(f"**Fixed cost ({money.symbol})**")
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
same_capacity = st.toggle(
    f"Same capacity as {BAU}",
    key=SAME_CAPACITY_KEY,
    help=(
        f"Hold every policy to {BAU}'s number of loans for each capacity-limited action "
        f"({', '.join(CAPACITY_LIMITED)}): model-based policies through the LP on their "
        "uplift, rules by keeping the loans they rank riskiest."
    ),
)

try:
    edited = insights.with_action_costs(settings, costs)
except LoanRecoveryError as error:
    st.error(f"Cannot use these costs: {error}")
    st.stop()

try:
    setup_key, setup = state.evaluation_setup(settings)
    report = state.policy_evaluation(setup_key, setup, edited, same_capacity=same_capacity)
except LoanRecoveryError as error:
    st.error(f"Cannot run the strategy lab: {error}")
    st.stop()

table = insights.policy_table(report)
changed = [name for name in settings.actions if edited.actions[name] != settings.actions[name]]
if changed:
    st.info(f"Valued with your costs for: {', '.join(changed)} (the settings file is unchanged).")


def _interval(name: str) -> str:
    """``₹X (95% ₹low to ₹high)``: a policy's DR estimate as the tiles quote it."""
    policy = report.policies[name]
    low, high = policy.dr_ci95
    return f"{money.amount(policy.dr)} (95% {money.amount(low)} to {money.amount(high)})"


st.subheader(f"{LEARNED} vs {BAU}")
if LEARNED in table.index and BAU in table.index:
    learned, bau = report.policies[LEARNED], report.policies[BAU]
    tiles = st.columns(4)
    tiles[0].metric(
        f"{LEARNED}: true net recovery",
        money.amount(learned.value.net_recovery),
        help=f"{BAU}: {money.amount(bau.value.net_recovery)}",
    )
    tiles[1].metric(
        f"vs {BAU}",
        money.amount(learned.value.net_recovery - bau.value.net_recovery),
        delta=percent(learned.vs_bau) if math.isfinite(learned.vs_bau) else None,
    )
    tiles[2].metric(f"Oracle capture vs {BAU}", percent(learned.capture))
    tiles[3].metric(
        f"Chance it beats {BAU} (DR)",
        percent(learned.p_beats_bau) if learned.p_beats_bau is not None else "—",
        help="Share of paired bootstrap replicates in which its DR estimate beats BAU's.",
    )
    st.markdown(f"DR estimate of `{LEARNED}`: {_interval(LEARNED)}; of `{BAU}`: {_interval(BAU)}.")

_MONEY = (
    schema.NET_RECOVERY,
    insights.INCREMENTAL_NET,
    insights.DR_ESTIMATE,
    insights.DR_LOW,
    insights.DR_HIGH,
    schema.RECOVERED,
    schema.COST,
)
st.container(key="policy_table").dataframe(
    # Whole currency units: a net recovery in the crores reads no better with paise.
    styled(table, money, amounts=_MONEY),
    column_config={
        schema.NET_RECOVERY: st.column_config.NumberColumn("Net recovery"),
        insights.INCREMENTAL_NET: st.column_config.NumberColumn("Over holding every loan"),
        insights.VS_BAU: st.column_config.NumberColumn(f"vs {BAU}", format="percent"),
        schema.ORACLE_CAPTURE: st.column_config.NumberColumn(
            f"Oracle capture vs {BAU}", format="percent"
        ),
        insights.DR_ESTIMATE: st.column_config.NumberColumn("DR estimate"),
        insights.DR_LOW: st.column_config.NumberColumn("DR 95% low"),
        insights.DR_HIGH: st.column_config.NumberColumn("DR 95% high"),
        insights.P_BEATS_BAU: st.column_config.NumberColumn(f"P(beats {BAU})", format="percent"),
        schema.RECOVERED: st.column_config.NumberColumn("Recovered"),
        schema.COST: st.column_config.NumberColumn("Cost"),
        schema.RECOVERY_RATE: st.column_config.NumberColumn("Recovery rate", format="percent"),
    },
)
left, right = st.columns(2)
left.plotly_chart(charts.policy_bars(table, money), key="policy_chart")
right.plotly_chart(charts.policy_intervals(table, money), key="policy_intervals_chart")

st.markdown("**What each policy does** (share of loans per arm)")
st.container(key="policy_actions").dataframe(
    insights.policy_action_shares(report),
    column_config={
        arm: st.column_config.NumberColumn(arm, format="percent") for arm in schema.ARM_NAMES
    },
)
limits = (
    f" Every policy held to {BAU}'s capacity: "
    + ", ".join(f"{action} {money.number(slots)}" for action, slots in report.capacity.items())
    + "."
    if report.same_capacity
    else ""
)
st.caption(
    f"Seed {report.seed}; {money.number(report.loans)} fresh loans. Money is the truth's "
    f"expected value of each chosen arm under the costs above.{limits}"
)
if report.bau_rules:
    # A rule learned from history reads as several if/else lines: kept out of the caption.
    with st.expander(f"The rule `{BAU}` stands for"):
        st.code(report.bau_rules, language=None)
