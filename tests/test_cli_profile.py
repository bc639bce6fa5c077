"""``loan-recovery profile``: JSON, the terminal table, HTML, and a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.models.profile import POST_OUTCOME_REASON, PROFILE_COLUMNS
from loan_recovery.simulation.portfolio import simulate_portfolio

runner = CliRunner()
CONSTANT_DEPENDENTS = 2


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    """600 simulated loans; Legal_Action_Taken planted as Yes exactly when not recovered
    (as in public data) and Num_Dependents planted constant."""
    settings = Settings()
    table = simulate_portfolio(600, 3, settings=settings).loans.copy()
    not_recovered = table[schema.RECOVERY_STATUS].isin(settings.risk.not_recovered_statuses)
    table[schema.LEGAL_ACTION_TAKEN] = not_recovered.map({True: "Yes", False: "No"})
    table[schema.NUM_DEPENDENTS] = CONSTANT_DEPENDENTS
    return table


@pytest.fixture
def loans_csv(tmp_path: Path, loans: pd.DataFrame) -> Path:
    return write_table(loans, tmp_path / "lender<b>.csv")


def _features(payload: dict[str, object]) -> dict[str, dict[str, object]]:
    features = payload["features"]
    assert isinstance(features, list)
    return {str(feature["feature"]): feature for feature in features}


def test_profile_json_flags_post_outcome_and_constant(loans_csv: Path) -> None:
    """Gives the planted file; expects exit 0 and JSON with every per-feature key, the
    planted post-outcome column flagged outside the model and the constant flagged."""
    result = runner.invoke(app, ["profile", str(loans_csv), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["validation"]["accepted"] == 600
    assert payload["rows"] == 600
    features = _features(payload)
    assert all(set(f) == {"feature", *PROFILE_COLUMNS} for f in features.values())
    assert schema.DAYS_PAST_DUE in features
    legal = features[schema.LEGAL_ACTION_TAKEN]
    assert legal["in_model"] is False
    assert legal["flags"] == ["leakage"]
    assert legal["auc"] == pytest.approx(1.0)
    assert features[schema.NUM_DEPENDENTS]["flags"] == ["constant"]
    assert features[schema.NUM_DEPENDENTS]["auc"] is None
    assert schema.RECOVERY_STATUS not in features
    reasons = {(f["feature"], f["flag"]): f["reason"] for f in payload["flags"]}
    assert reasons[(schema.LEGAL_ACTION_TAKEN, "leakage")].startswith(POST_OUTCOME_REASON)


def test_profile_table_and_html(loans_csv: Path, tmp_path: Path) -> None:
    """Gives the planted file and --html; expects exit 0, the table with flags and their
    sentences, and an HTML page naming the features with the file name escaped."""
    out = tmp_path / "report" / "profile.html"
    result = runner.invoke(app, ["profile", str(loans_csv), "--html", str(out)])
    assert result.exit_code == 0, result.output
    for text in (schema.LEGAL_ACTION_TAKEN, schema.NUM_DEPENDENTS, "leakage", "constant"):
        assert text in result.stdout
    assert POST_OUTCOME_REASON in result.stdout
    page = out.read_text(encoding="utf-8")
    for feature in (schema.DAYS_PAST_DUE, schema.LEGAL_ACTION_TAKEN, "Loan_Type=Home"):
        assert feature in page
    assert "lender&lt;b&gt;.csv" in page
    assert "<b>.csv" not in page


def test_profile_rejected_rows_are_left_out_with_exit_zero(
    tmp_path: Path, loans: pd.DataFrame
) -> None:
    """Gives one row with a negative amount; expects exit 0, 599 rows profiled, a note."""
    broken = loans.astype(object)
    broken.loc[5, schema.LOAN_AMOUNT] = -5
    path = write_table(broken, tmp_path / "broken.csv")
    result = runner.invoke(app, ["profile", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["validation"]["rejected"], payload["rows"]) == (1, 599)
    text = runner.invoke(app, ["profile", str(path)])
    assert "1 of 600 rows rejected" in text.stdout


def test_profile_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """Gives a path that does not exist; expects exit 2 and a message, no traceback."""
    result = runner.invoke(app, ["profile", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "not found" in result.stderr
    assert "Traceback" not in result.output
