"""Strategy lab page: policies on the simulator, learned against BAU first, with DR intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from screen_text import table_amounts
from streamlit.testing.v1 import AppTest

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.config import load_settings
from loan_recovery.dashboard import insights
from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import policy_names
from loan_recovery.money import MoneyFormat

PAGE = Path(__file__).resolve().parents[2] / "src/loan_recovery/dashboard/pages/strategy_lab.py"
APP_TIMEOUT = 120  # seconds: the first run simulates, trains and predicts
LAB_LOANS = 1_500  # dashboard_env's LOAN_RECOVERY_DASHBOARD__STRATEGY_LAB_LOANS
#: Money columns of the policy table, shown in whole rupees.
MONEY = [
    schema.NET_RECOVERY,
    insights.INCREMENTAL_NET,
    insights.DR_ESTIMATE,
    insights.DR_LOW,
    insights.DR_HIGH,
    schema.RECOVERED,
    schema.COST,
]


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def policies(at: AppTest) -> pd.DataFrame:
    return at.get_by_key("policy_table").dataframe[0].value


def shares(at: AppTest) -> pd.DataFrame:
    """Share of loans per policy (rows) and arm (columns)."""
    return at.get_by_key("policy_actions").dataframe[0].value


def test_page_compares_every_policy_with_the_oracle(dashboard_env: Any) -> None:
    """Gives the default costs; expects learned, bau, the other baselines, single arms,
    random and oracle, each policy's arms summing to every loan, two charts."""
    at = run_page()
    table = policies(at)
    assert not at.error
    others = [name for name in policy_names() if name not in ("learned", "bau")]
    assert table.index.tolist() == ["learned", "bau", *others, "oracle"]
    assert table.loc["oracle", schema.ORACLE_CAPTURE] == 1.0
    assert table.loc["bau", schema.ORACLE_CAPTURE] == 0.0
    assert (table[schema.NET_RECOVERY] <= table.loc["oracle", schema.NET_RECOVERY] + 1).all()
    mix = shares(at)
    assert mix.index.tolist() == table.index.tolist()
    assert mix.columns.tolist() == list(schema.ARM_NAMES)
    np.testing.assert_allclose(mix.sum(axis=1), 1.0)
    assert mix.loc["all-hold", schema.HOLD] == 1.0
    assert len(at.get("plotly_chart")) == 2
    defaults = load_settings().actions
    assert at.number_input(key="fixed_cost_legal").value == defaults["legal"].fixed_cost
    assert at.number_input(key="recovery_share_agency").value == defaults["agency"].recovery_share


def test_learned_is_compared_with_bau_first_with_dr_intervals(dashboard_env: Any) -> None:
    """Expects learned then bau on top; whole-rupee money; every policy's vs-BAU, capture and
    gain over holding consistent with its true net; a DR estimate inside its 95% interval;
    the chance of beating BAU for every policy but BAU; the same numbers in tiles and chart."""
    at = run_page()
    table = policies(at)
    assert table.index[:2].tolist() == ["learned", "bau"]
    shown = table_amounts(at)
    assert len(shown) == len(table) * len(MONEY)
    assert not [cell for cell in shown if "." in cell]  # no paise on screen (was 1,745,813,306.955)

    net = table[schema.NET_RECOVERY]
    bau, oracle = net["bau"], net["oracle"]
    np.testing.assert_allclose(table[insights.VS_BAU], net / bau - 1.0, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        table[schema.ORACLE_CAPTURE], (net - bau) / (oracle - bau), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(table[insights.INCREMENTAL_NET], net - net["all-hold"], atol=1)

    low, estimate, high = (
        table[c] for c in (insights.DR_LOW, insights.DR_ESTIMATE, insights.DR_HIGH)
    )
    assert ((low <= estimate) & (estimate <= high) & (low < high)).all()
    chance = table[insights.P_BEATS_BAU]
    assert math.isnan(chance["bau"])
    assert chance.drop("bau").between(0.0, 1.0).all()

    money = MoneyFormat()
    tiles = {item.label: item.value for item in at.metric}
    assert tiles["learned: true net recovery"] == money.amount(net["learned"])
    shown_gain = float(tiles["vs bau"].replace("₹", "").replace(",", ""))
    assert shown_gain == pytest.approx(net["learned"] - bau, abs=1)
    texts = [item.value for item in at.markdown]
    interval = (
        f"{money.amount(estimate['learned'])} (95% {money.amount(low['learned'])} to "
        f"{money.amount(high['learned'])})"
    )
    assert any(f"DR estimate of `learned`: {interval}" in text for text in texts)

    spec = json.loads(at.get_by_key("policy_intervals_chart").proto.spec)
    truth, dr = spec["data"]
    assert truth["x"] == table.index.tolist() == dr["x"]
    np.testing.assert_allclose(dr["y"], estimate, atol=0.5)
    np.testing.assert_allclose(dr["error_y"]["array"], high - estimate, atol=1)
    np.testing.assert_allclose(dr["error_y"]["arrayminus"], estimate - low, atol=1)


def test_raising_legal_cost_lowers_all_legal_net_by_cost_times_legal_loans(
    dashboard_env: Any,
) -> None:
    """Gives legal's fixed cost + 1,000; expects all-legal's net down and cost up by 1,000 per
    loan it really sends to legal (the guardrails send the rest elsewhere), all-call same."""
    at = run_page()
    before = policies(at)
    legal_loans = round(shares(at).loc["all-legal", "legal"] * LAB_LOANS)
    assert 0 < legal_loans < LAB_LOANS
    legal = at.number_input(key="fixed_cost_legal")
    legal.set_value(legal.value + 1_000).run()
    assert not at.exception
    after = policies(at)
    change = after - before
    assert change.loc["all-legal", schema.NET_RECOVERY] == pytest.approx(
        -1_000 * legal_loans, abs=1
    )
    assert change.loc["all-legal", schema.COST] == pytest.approx(1_000 * legal_loans, abs=1)
    assert change.loc["all-legal", schema.RECOVERED] == 0
    money_columns = [schema.NET_RECOVERY, schema.RECOVERED, schema.COST]
    # capture moves (the oracle's did), all-call's money does not
    assert change.loc["all-call", money_columns].abs().max() == pytest.approx(0, abs=1e-6)
    assert any("legal" in info.value for info in at.info)


def test_same_capacity_holds_every_policy_to_baus_use_of_scarce_actions(
    dashboard_env: Any,
) -> None:
    """Gives the "same capacity" toggle; expects no policy to send more loans to a
    capacity-limited action than BAU does, and the limits named under the table."""
    at = run_page()
    at.toggle(key="strategy_lab_same_capacity").set_value(True).run()
    assert not at.exception, [error.value for error in at.exception]
    loans = (shares(at) * LAB_LOANS).round()
    limited = list(CAPACITY_LIMITED)
    assert (loans[limited] <= loans.loc["bau", limited] + 0.5).all().all()
    assert any("held to bau's capacity" in item.value for item in at.caption)


def test_negative_cost_is_an_error_not_a_traceback(dashboard_env: Any) -> None:
    """Gives a fixed cost of -5 for calls; expects st.error naming call.fixed_cost, no table."""
    at = run_page()
    at.number_input(key="fixed_cost_call").set_value(-5.0).run()
    assert not at.exception
    assert at.error
    assert "call.fixed_cost" in at.error[0].value
    with pytest.raises(KeyError):
        at.get_by_key("policy_table")
