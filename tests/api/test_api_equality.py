"""Equality guard: one pipeline, whichever door a loan comes through.

2,000 fresh loans are planned one at a time through the API (``POST /v1/score`` with one
loan per request) and as one batch through the CLI (``loan-recovery plan`` on a CSV of
the same loans, the same registry and settings). Without capacity or a budget each loan's
plan depends on that loan alone, so every number must be identical, not merely close:
risk, band, segment, the action and the baseline's, the value if left alone, the uplift,
the expected net, the priority, and every action's value and uplift.

An API request costs tens of milliseconds in the test client, so the suite runs a short
variant on the first 300 loans; ``LOAN_RECOVERY_EQUALITY_LOANS=2000`` runs them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api_support import ApiClient, ApiWorld
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.models import Role

#: Loans of the long variant; the suite runs the short one unless the variable is set.
ALL_LOANS = 2_000
SHORT_LOANS = 300
LOANS = int(os.environ.get("LOAN_RECOVERY_EQUALITY_LOANS", SHORT_LOANS))
NUMBERS = (
    schema.RISK_SCORE,
    schema.VALUE_IF_LEFT_ALONE,
    schema.EXPECTED_UPLIFT,
    schema.EXPECTED_NET_RECOVERY,
    schema.PRIORITY,
    schema.UPLIFT_VS_BASELINE,
)
TEXTS = (schema.RECOMMENDED_ACTION, schema.BASELINE_ACTION, schema.RISK_BAND, schema.SEGMENT_NAME)
VALUE_BY_ACTION, UPLIFT_BY_ACTION = "value_by_action", "uplift_by_action"


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return simulate_portfolio(ALL_LOANS, 23).loans.head(LOANS)


def _one_at_a_time(api: ApiClient, loans: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each loan alone through ``POST /v1/score``, by Loan_ID."""
    records: list[dict[str, Any]] = json.loads(loans.to_json(orient="records"))
    answers: dict[str, dict[str, Any]] = {}
    viewer = api.as_role(Role.VIEWER)
    for record in records:
        loan = {name: value for name, value in record.items() if value is not None}
        response = api.client.post("/v1/score", json={"loans": [loan]}, headers=viewer)
        assert response.status_code == 200, response.text
        (row,) = response.json()["loans"]
        answers[row[schema.LOAN_ID]] = row
    return answers


def test_the_api_one_loan_at_a_time_equals_the_cli_batch(
    api: ApiClient,
    api_world: ApiWorld,
    loans: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gives the loans one per API request and all at once to `plan`; expects every
    number and label of every loan identical."""
    monkeypatch.delenv("LOAN_RECOVERY_CONFIG", raising=False)
    book = write_table(loans, tmp_path / "book.csv")
    out = tmp_path / "plan.csv"
    environment = {"LOAN_RECOVERY_MODELS_DIR": str(api_world.models_dir)}
    result = CliRunner().invoke(app, ["plan", str(book), "--out", str(out)], env=environment)
    assert result.exit_code == 0, result.output
    batch = pd.read_csv(out, dtype={schema.LOAN_ID: str}, keep_default_na=False)
    batch = batch.set_index(schema.LOAN_ID)
    singles = _one_at_a_time(api, loans)
    assert set(singles) == set(batch.index)
    assert len(singles) == LOANS

    different: list[tuple[str, str, Any, Any]] = []
    for loan_id, row in singles.items():
        want = batch.loc[loan_id]
        for name in NUMBERS:
            if row[name] != float(want[name]):
                different.append((loan_id, name, row[name], want[name]))
        for name in TEXTS:
            if row[name] != want[name]:
                different.append((loan_id, name, row[name], want[name]))
        for action, value in row[VALUE_BY_ACTION].items():
            if value != float(want[schema.value_column(action)]):
                different.append((loan_id, action, value, want[schema.value_column(action)]))
        for action, uplift in row[UPLIFT_BY_ACTION].items():
            if uplift != float(want[schema.uplift_column(action)]):
                different.append((loan_id, action, uplift, want[schema.uplift_column(action)]))
    assert different == []
