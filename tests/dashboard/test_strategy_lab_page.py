"""Strategy lab page: policies on the simulator, re-valued when an action's cost is edited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import policy_names

PAGE = Path(__file__).resolve().parents[2] / "src/loan_recovery/dashboard/pages/strategy_lab.py"
APP_TIMEOUT = 120  # seconds: the first run simulates, trains and predicts
LAB_LOANS = 1_500  # dashboard_env's LOAN_RECOVERY_DASHBOARD__STRATEGY_LAB_LOANS


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def policies(at: AppTest) -> pd.DataFrame:
    return at.get_by_key("policy_table").dataframe[0].value


def test_page_compares_every_policy_with_the_oracle(dashboard_env: Any) -> None:
    """Gives the default costs; expects learned, baselines, single actions, random and oracle."""
    at = run_page()
    table = policies(at)
    assert not at.error
    assert table.index.tolist() == [*policy_names(), "oracle"]
    assert table.loc["oracle", schema.ORACLE_CAPTURE] == 1.0
    assert (table[schema.NET_RECOVERY] <= table.loc["oracle", schema.NET_RECOVERY] + 1e-6).all()
    assert len(at.get("plotly_chart")) == 1
    defaults = load_settings().actions
    assert at.number_input(key="fixed_cost_legal").value == defaults["legal"].fixed_cost
    assert at.number_input(key="recovery_share_agency").value == defaults["agency"].recovery_share


def test_raising_legal_cost_lowers_all_legal_net_by_cost_times_loans(dashboard_env: Any) -> None:
    """Gives legal's fixed cost + 1,000; expects all-legal -1.5M net, +1.5M cost, all-call same."""
    at = run_page()
    before = policies(at)
    legal = at.number_input(key="fixed_cost_legal")
    legal.set_value(legal.value + 1_000).run()
    assert not at.exception
    after = policies(at)
    change = after - before
    assert change.loc["all-legal", schema.NET_RECOVERY] == -1_000 * LAB_LOANS
    assert change.loc["all-legal", schema.COST] == 1_000 * LAB_LOANS
    assert change.loc["all-legal", schema.RECOVERED] == 0
    money = [schema.NET_RECOVERY, schema.RECOVERED, schema.COST]
    assert change.loc["all-call", money].abs().max() == 0  # capture moves: the oracle's did
    assert any("legal" in info.value for info in at.info)


def test_negative_cost_is_an_error_not_a_traceback(dashboard_env: Any) -> None:
    """Gives a fixed cost of -5 for calls; expects st.error naming call.fixed_cost, no table."""
    at = run_page()
    at.number_input(key="fixed_cost_call").set_value(-5.0).run()
    assert not at.exception
    assert at.error
    assert "call.fixed_cost" in at.error[0].value
    with pytest.raises(KeyError):
        at.get_by_key("policy_table")
