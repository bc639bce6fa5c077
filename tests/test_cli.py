"""The command line: exit codes, JSON output, quarantine files and no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.jobs.evaluate import EvaluationReport, PolicyReport, PolicyValue
from loan_recovery.render import masked_value
from loan_recovery.simulation.portfolio import SimulatedPortfolio

runner = CliRunner()


@pytest.fixture
def good_csv(tmp_path: Path, small_portfolio: SimulatedPortfolio) -> Path:
    """200 valid simulated loans as CSV."""
    return write_table(small_portfolio.loans.head(200), tmp_path / "good.csv")


@pytest.fixture
def bad_csv(tmp_path: Path, small_portfolio: SimulatedPortfolio) -> Path:
    """200 simulated loans with three broken rows: a negative amount, text age, a duplicate."""
    loans = small_portfolio.loans.head(200).astype(object)
    loans.loc[3, schema.LOAN_AMOUNT] = -5
    loans.loc[10, schema.AGE] = "forty"
    loans.loc[20, schema.LOAN_ID] = loans.loc[0, schema.LOAN_ID]
    return write_table(loans, tmp_path / "bad.csv")


def _json(output: str) -> dict[str, object]:
    payload: dict[str, object] = json.loads(output)
    return payload


def test_validate_clean_file_exits_zero(good_csv: Path) -> None:
    """Gives valid rows; expects exit 0 and JSON with every row accepted."""
    result = runner.invoke(app, ["validate", str(good_csv), "--json"])
    assert result.exit_code == 0, result.output
    assert _json(result.stdout) == {
        "rows_read": 200,
        "accepted": 200,
        "rejected": 0,
        "reasons": {},
        "warnings": 0,
        "warning_reasons": {},
    }
    assert not (good_csv.parent / "good.quarantine.csv").exists()


def test_validate_bad_rows_exit_one_and_quarantine(bad_csv: Path, tmp_path: Path) -> None:
    """Gives three bad rows; expects exit 1, reconciled counts and a quarantine file."""
    quarantine = tmp_path / "out" / "rejected.csv"
    result = runner.invoke(
        app, ["validate", str(bad_csv), "--json", "--quarantine", str(quarantine)]
    )
    assert result.exit_code == 1, result.output
    payload = _json(result.stdout)
    assert payload["rows_read"] == 200
    assert payload["accepted"] == 197
    assert payload["rejected"] == 3
    assert payload["reasons"] == {"out_of_range": 1, "wrong_type": 1, "duplicate_loan_id": 1}
    kept = pd.read_csv(quarantine, dtype=str, keep_default_na=False)
    assert len(kept) == 3
    assert "forty" in kept[schema.AGE].tolist()


def test_validate_rich_summary_names_line_and_reason(bad_csv: Path) -> None:
    """Gives bad rows; expects the summary to show the line number and the reason."""
    result = runner.invoke(app, ["validate", str(bad_csv)])
    assert result.exit_code == 1
    assert "rows read" in result.stdout
    assert "out_of_range" in result.stdout
    assert "12" in result.stdout  # row index 10 is line 12 (header is line 1)
    assert (bad_csv.parent / "bad.quarantine.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("missing.csv", None, "not found"),
        ("loans.txt", "a,b\n1,2\n", ".txt"),
        ("empty.csv", "", "empty"),
        ("columns.csv", "Loan_ID,Age\nL1,30\n", "Borrower_ID"),
    ],
)
def test_validate_unusable_file_exits_two_without_traceback(
    tmp_path: Path, name: str, content: str | None, fragment: str
) -> None:
    """Gives an unusable file; expects exit 2, a one-line reason and no traceback."""
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_columns_are_all_listed(tmp_path: Path) -> None:
    """Gives a file lacking several required columns; expects each one named."""
    path = tmp_path / "few.csv"
    path.write_text("Loan_ID,Age\nL1,30\n")
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    for column in (schema.BORROWER_ID, schema.DAYS_PAST_DUE, schema.LEGAL_ACTION_TAKEN):
        assert column in result.stderr


def test_simulate_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    """Gives the same seed twice; expects byte-identical files, and a truth file."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    truth = tmp_path / "truth.parquet"
    for out in (first, second):
        result = runner.invoke(
            app,
            ["simulate", "--loans", "300", "--seed", "5", "--out", str(out), "--truth", str(truth)],
        )
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    assert len(pd.read_parquet(truth)) == 300


def test_simulate_rejects_bad_arguments(tmp_path: Path) -> None:
    """Gives zero loans and epsilon above 1; expects usage errors, not tracebacks."""
    out = str(tmp_path / "x.csv")
    assert runner.invoke(app, ["simulate", "--loans", "0", "--out", out]).exit_code == 2
    assert runner.invoke(app, ["simulate", "--epsilon", "1.5", "--out", out]).exit_code == 2


def test_demo_builds_once_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gives an empty var dir; expects data and model built, summarised, then reused."""
    monkeypatch.setenv("LOAN_RECOVERY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOAN_RECOVERY_DEMO__LOANS", "600")
    monkeypatch.setenv("LOAN_RECOVERY_RISK__CV_FOLDS", "2")
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert "Built demo portfolio" in first.stdout
    assert "By DPD bucket" in first.stdout
    assert "Trained champion model v0001" in first.stdout
    assert "ROC" in first.stdout
    assert (tmp_path / "var" / "demo" / "portfolio.csv").is_file()
    assert (tmp_path / "var" / "models" / "champion").is_file()
    assert "Recovery plan (learned)" in first.stdout
    assert "Built demo payment history" in first.stdout
    assert "Trained early-warning champion v0001" in first.stdout
    assert (tmp_path / "var" / "demo" / "plan.csv").is_file()
    demo, models = tmp_path / "var" / "demo", tmp_path / "var" / "models"
    payments = demo / "payments.csv"
    assert payments.is_file()
    assert (models / "early_warning" / "champion").is_file()
    built = {path.name: path.stat().st_mtime_ns for path in demo.iterdir() if path.is_file()}
    built.pop("plan.csv")  # the plan is written on every run
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0
    assert "Found demo portfolio" in second.stdout
    assert "Found champion model v0001" in second.stdout
    assert "Found demo payment history" in second.stdout
    assert "Found early-warning champion v0001" in second.stdout
    assert {name: (demo / name).stat().st_mtime_ns for name in built} == built
    for registry in (models, models / "early_warning"):
        assert sorted(path.name for path in (registry / "versions").iterdir()) == ["v0001"]
    # --json: the same found state and numbers, as one document.
    third = runner.invoke(app, ["demo", "--json"])
    assert third.exit_code == 0, third.output
    document = json.loads(third.stdout)
    assert (document["built"], document["trained"]) == (False, False)
    assert document["model"]["version"] == "v0001"
    assert document["validation"]["rows_read"] == 600
    assert document["plan"]["totals"]["loans"] == 600
    assert document["early_warning_version"] == "v0001"


def test_bad_config_file_exits_two(tmp_path: Path) -> None:
    """Gives an invalid settings file; expects exit 2 naming the field."""
    config = tmp_path / "bad.toml"
    config.write_text("[simulator]\nepsilon = 5\n")
    result = runner.invoke(app, ["--config", str(config), "simulate", "--out", "x.csv"])
    assert result.exit_code == 2
    assert "simulator.epsilon" in result.stderr


def test_python_dash_m_runs_the_same_cli() -> None:
    """Runs python -m loan_recovery --help; expects the command list."""
    completed = subprocess.run(
        [sys.executable, "-m", "loan_recovery", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    assert "validate" in completed.stdout
    assert "simulate" in completed.stdout


def test_personal_data_is_masked_in_output() -> None:
    """Expects names, phones and emails masked and other values shown as they are."""
    assert masked_value(schema.PHONE, "+919800000000") == "***"
    assert masked_value(schema.EMAIL, "a@b.in") == "***"
    assert masked_value(schema.AGE, "forty") == "forty"


def _report(name: str, net: float, *, vs_bau: float, capture: float) -> PolicyReport:
    return PolicyReport(
        value=PolicyValue(net_recovery=net, recovered=net + 10.0, cost=10.0, loans=4, exposure=1e3),
        incremental_net=net - 100.0,
        vs_bau=vs_bau,
        capture=capture,
        dr=net * 0.9,
        dr_ci95=(net * 0.8, net * 1.1),
        p_beats_bau=None if name == "bau" else 0.75,
        actions={arm: (1.0 if arm == schema.HOLD else 0.0) for arm in schema.ARM_NAMES},
    )


@pytest.fixture
def canned_evaluation(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """evaluate-policy with a canned report (no simulation or training); records the call."""
    calls: dict[str, object] = {}
    report = EvaluationReport(
        loans=4,
        seed=9,
        same_capacity=True,
        capacity={"call": 1, "legal": 0},
        policies={
            "oracle": _report("oracle", 900.0, vs_bau=0.5, capture=1.0),
            "all-hold": _report("all-hold", 100.0, vs_bau=-0.5, capture=float("nan")),
            "bau": _report("bau", 600.0, vs_bau=0.0, capture=0.0),
            "learned": _report("learned", 700.0, vs_bau=float("nan"), capture=1 / 3),
        },
        bau_rules="if days_past_due <= 90.5: call\nelse: legal",
    )

    def fake(**kwargs: object) -> EvaluationReport:
        calls.update(kwargs)
        return report

    monkeypatch.setattr("loan_recovery.cli.plan_commands.run_evaluate_policy", fake)
    return calls


def test_evaluate_policy_passes_capacity_and_fresh_loans_and_lists_learned_and_bau_first(
    canned_evaluation: dict[str, object],
) -> None:
    """Gives --same-capacity --fresh-loans 300; expects them passed on, learned then bau
    listed first, the rest by net recovery, n/a for undefined ratios, and the BAU rules."""
    result = runner.invoke(
        app, ["evaluate-policy", "--loans", "500", "--same-capacity", "--fresh-loans", "300"]
    )
    assert result.exit_code == 0, result.output
    assert canned_evaluation["n_loans"] == 500
    assert canned_evaluation["fresh_loans"] == 300
    assert canned_evaluation["same_capacity"] is True
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["learned", "bau", "oracle", "all-hold"]
    learned, bau = rows[0].split("│"), rows[1].split("│")
    assert [cell.strip() for cell in learned[2:8]] == [
        "700",
        "600",
        "n/a",
        "33.3%",
        "630 [560, 770]",
        "75%",
    ]
    assert [cell.strip() for cell in bau[4:5] + bau[7:8]] == ["+0.0%", ""]
    assert "if days_past_due <= 90.5: call" in result.stdout
    assert "Capacity every policy was held to (bau's own use): call 1, legal 0" in result.stdout


def test_evaluate_policy_json_is_to_json_dict_with_non_numbers_as_null(
    canned_evaluation: dict[str, object],
) -> None:
    """Gives a report whose learned vs_bau is NaN; expects strict JSON: to_json_dict() with
    that ratio null and every other value as reported."""
    result = runner.invoke(app, ["evaluate-policy", "--loans", "200", "--json"])
    assert result.exit_code == 0, result.output
    assert canned_evaluation["fresh_loans"] is None
    assert canned_evaluation["same_capacity"] is False
    payload = json.loads(result.stdout)
    learned = payload["policies"]["learned"]
    assert learned["vs_bau"] is None
    assert learned["dr_ci95"] == pytest.approx([560.0, 770.0])
    assert payload["policies"]["bau"]["vs_bau"] == 0.0
    assert payload["policies"]["all-hold"]["oracle_capture_vs_bau"] is None
    assert payload["bau_rules"].startswith("if days_past_due")
