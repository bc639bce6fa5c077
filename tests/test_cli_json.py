"""``--json`` and ``--version``: one JSON document on stdout with the numbers the tables show,
the same exit codes as the tables, in memory and streamed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from loan_recovery import __version__
from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio

runner = CliRunner()


def _document(result: Result) -> dict[str, Any]:
    """stdout as exactly one JSON object (json.loads refuses anything around it)."""
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


@pytest.fixture
def book_csv(tmp_path: Path, small_portfolio: SimulatedPortfolio) -> Path:
    """300 loans (one row each) with two broken rows: a negative amount and text age."""
    loans = small_portfolio.loans.head(300).drop(columns=[schema.AS_OF_DATE]).astype(object)
    loans.loc[4, schema.LOAN_AMOUNT] = -5
    loans.loc[9, schema.AGE] = "forty"
    return write_table(loans, tmp_path / "book.csv")


def test_version_option_prints_the_program_and_version() -> None:
    """Gives --version alone; expects 'loan-recovery X.Y.Z', exit 0; `version` unchanged."""
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"loan-recovery {__version__}\n"
    bare = runner.invoke(app, ["version"])
    assert (bare.exit_code, bare.stdout) == (0, f"{__version__}\n")


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_score_json_counts_loans_rejections_and_files(
    book_csv: Path, tmp_path: Path, served_models: Path, streamed: bool
) -> None:
    """Gives 300 rows, 2 bad; expects exit 1 and one document: 298 loans scored into OUT,
    the champion's version, 2 rejected in the named quarantine file."""
    out = tmp_path / "scores.csv"
    args = ["score", str(book_csv), "--out", str(out), "--models", str(served_models)]
    args += ["--stream", "--batch-rows", "100"] if streamed else []
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    payload = _document(result)
    assert payload["loans"] == 298 == len(pd.read_csv(out))
    assert payload["version"] == ModelRegistry(served_models).champion()
    assert payload["out"] == str(out)
    assert payload["rejected"] == 2 == payload["validation"]["rejected"]
    assert len(pd.read_csv(payload["quarantine"])) == 2
    assert payload["validation"]["rows_read"] == 300
    assert ("batches" in payload) is streamed
    if streamed:
        assert payload["batches"] == 3


def _plan(book: Path, out: Path, models: Path, *extra: str) -> Result:
    args = ["plan", str(book), "--out", str(out), "--models", str(models), *extra]
    return runner.invoke(app, args)


def test_plan_json_has_the_tables_numbers(
    book_csv: Path, tmp_path: Path, served_models: Path
) -> None:
    """Gives a plan with a call capacity; expects the action mix and totals to add up to
    the worklist written, the line's loan count, the shadow price, and exit 1 as the
    table form (2 rejected rows)."""
    out = tmp_path / "plan.csv"
    shown = _plan(book_csv, out, served_models, "--capacity", "call=20")
    result = _plan(book_csv, out, served_models, "--capacity", "call=20", "--json")
    assert (shown.exit_code, result.exit_code) == (1, 1), result.output
    payload = _document(result)
    worklist = pd.read_csv(out)
    assert f"Planned {payload['loans']:,} loans with version {payload['version']}" in shown.stdout
    assert payload["loans"] == len(worklist) == payload["totals"]["loans"] == 298
    assert (payload["policy"], payload["out"], payload["store"]) == ("learned", str(out), None)
    by_action = worklist.groupby(schema.RECOMMENDED_ACTION).size().to_dict()
    assert {name: row["loans"] for name, row in payload["actions"].items()} == by_action
    assert payload["actions"]["call"]["loans"] <= 20
    net = worklist[schema.EXPECTED_NET_RECOVERY].sum()
    assert payload["totals"]["expected_net"] == pytest.approx(net, rel=1e-6)
    assert sum(
        row[schema.EXPECTED_NET_RECOVERY] for row in payload["actions"].values()
    ) == pytest.approx(net, rel=1e-6)
    totals = payload["totals"]
    assert totals["incremental_net"] == pytest.approx(
        totals["expected_net"] - totals["value_if_all_left_alone"]
    )
    assert "call" in payload["shadow_prices"]
    assert payload["rejected"] == 2


def test_streamed_plan_json_matches_the_in_memory_plan(
    book_csv: Path, tmp_path: Path, served_models: Path
) -> None:
    """Plans the same rows in memory and in batches; expects the same loans, action mix
    and totals, and the batches counted."""
    memory = _document(_plan(book_csv, tmp_path / "memory.csv", served_models, "--json"))
    result = _plan(
        book_csv, tmp_path / "streamed.csv", served_models, "--stream", "--batch-rows", "120"
    )
    assert result.exit_code == 1
    streamed = _document(
        _plan(
            book_csv,
            tmp_path / "again.csv",
            served_models,
            "--stream",
            "--batch-rows",
            "120",
            "--json",
        )
    )
    assert streamed["batches"] == 3
    assert streamed["loans"] == memory["loans"] == 298
    assert {name: row["loans"] for name, row in streamed["actions"].items()} == {
        name: row["loans"] for name, row in memory["actions"].items()
    }
    for name, value in memory["totals"].items():
        assert streamed["totals"][name] == pytest.approx(value, rel=1e-6), name
    assert streamed["rejected"] == memory["rejected"] == 2


@pytest.fixture(scope="module")
def trained_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """``train --json`` on 800 simulated loans (2-fold CV): its document and registry."""
    folder = tmp_path_factory.mktemp("train_json")
    history = write_table(simulate_portfolio(800, 4).loans, folder / "history.csv")
    models = folder / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOAN_RECOVERY_RISK__CV_FOLDS", "2")
        result = runner.invoke(app, ["train", str(history), "--models", str(models), "--json"])
    assert result.exit_code == 0, result.output
    return _document(result), models


def test_train_json_names_the_version_and_its_cv_metrics(
    trained_json: tuple[dict[str, Any], Path],
) -> None:
    """Expects v0001 promoted, every row accepted, and the CV table of the saved card."""
    payload, models = trained_json
    assert (payload["version"], payload["promoted"]) == ("v0001", True)
    assert (payload["rows_read"], payload["accepted"], payload["rejected"]) == (800, 800, 0)
    metrics = payload["metrics"]
    assert {payload["champion_family"], "base_rate"} <= set(metrics)
    assert 0.5 < metrics[payload["champion_family"]]["roc_auc_mean"] <= 1.0
    card = json.loads(runner.invoke(app, ["report", "--models", str(models), "--json"]).stdout)
    assert card["champion_family"] == payload["champion_family"]
    assert set(card["metrics"]) == set(metrics)
    for candidate, row in card["metrics"].items():
        assert metrics[candidate] == pytest.approx(row, nan_ok=True), candidate
    safety = payload["safety"]  # 800 loans: every departure is in the document, if any
    assert set(safety) == {"departures", "held_out", "capacity_departures", "capacity_held_out"}
    for kind in ("", "capacity_"):
        for departure in safety[f"{kind}departures"]:
            assert set(departure) == {"cell", "action"}
            assert "DPD" in departure["cell"]
        if safety[f"{kind}held_out"] is not None:
            assert safety[f"{kind}held_out"]["lower_bound"] > 0


def test_versions_and_promote_json(trained_json: tuple[dict[str, Any], Path]) -> None:
    """Expects the one version listed as champion with its family and CV ROC-AUC, and
    promote --json naming the champion it made."""
    payload, models = trained_json
    listed = runner.invoke(app, ["versions", "--models", str(models), "--json"])
    assert listed.exit_code == 0, listed.output
    document = _document(listed)
    assert document["champion"] == "v0001"
    (only,) = document["versions"]
    assert (only["version"], only["champion"]) == ("v0001", True)
    assert only["champion_family"] == payload["champion_family"]
    assert 0.5 < only["cv_roc_auc"] <= 1.0
    promoted = runner.invoke(app, ["promote", "v0001", "--models", str(models), "--json"])
    assert (promoted.exit_code, _document(promoted)) == (0, {"champion": "v0001"})
    missing = runner.invoke(app, ["promote", "v0009", "--models", str(models), "--json"])
    assert missing.exit_code == 2
    assert missing.stdout == ""


def test_simulate_json_says_what_was_written(tmp_path: Path) -> None:
    """Gives a whole book with instalments and a book in parts; expects loans, files and
    parts as written."""
    whole = runner.invoke(
        app,
        [
            "simulate", "--loans", "120", "--out", str(tmp_path / "loans.csv"),
            "--payments-out", str(tmp_path / "payments.csv"), "--months", "3", "--json",
        ],
    )  # fmt: skip
    assert whole.exit_code == 0, whole.output
    payload = _document(whole)
    assert (payload["loans"], payload["parts"], payload["truth"]) == (120, None, None)
    assert payload["instalments"] == len(pd.read_csv(payload["payments"]))
    book = ["simulate", "--loans", "120", "--out", str(tmp_path / "book"), "--batch-rows", "50"]
    parts = runner.invoke(app, [*book, "--json"])
    assert parts.exit_code == 0, parts.output
    assert _document(parts) | {"out": None} == {
        "loans": 120,
        "out": None,
        "parts": 3,
        "truth": None,
        "payments": None,
        "instalments": None,
    }


def test_store_commands_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrates an empty SQLite store, creates and revokes a key; expects each command's
    document: the revision at head, the key shown once, then revoked."""
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    empty = _document(runner.invoke(app, ["db", "current", "--json"]))
    assert (empty["current"], empty["up_to_date"]) == (None, False)
    upgraded = _document(runner.invoke(app, ["db", "upgrade", "--json"]))
    assert upgraded["current"] == upgraded["head"] == empty["head"]
    assert upgraded["up_to_date"] is True
    created = runner.invoke(app, ["apikey", "create", "--role", "viewer", "--name", "ci", "--json"])
    assert created.exit_code == 0, created.output
    key = _document(created)
    assert (key["name"], key["role"], key["revoked_at"]) == ("ci", "viewer", None)
    assert len(key["key"]) > 20
    revoked = _document(runner.invoke(app, ["apikey", "revoke", key["key_id"], "--json"]))
    assert revoked["key_id"] == key["key_id"]
    assert revoked["revoked_at"] is not None
    assert "key" not in revoked


def test_alerts_json_lists_what_the_table_shows(tmp_path: Path) -> None:
    """Trains the early-warning model on simulated instalments; expects alerts --json to
    count the alerts written, list the first --show of them in file order, and agree with
    the table's summary line."""
    loans, payments = tmp_path / "loans.csv", tmp_path / "payments.csv"
    simulated = runner.invoke(
        app,
        [
            "simulate", "--out", str(loans), "--loans", "1200", "--seed", "3",
            "--payments-out", str(payments), "--months", "12",
        ],
    )  # fmt: skip
    assert simulated.exit_code == 0, simulated.output
    models = tmp_path / "models"
    inputs = ["--payments", str(payments), "--loans", str(loans), "--models", str(models)]
    trained = runner.invoke(app, ["train-early-warning", *inputs, "--json"])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "alerts.csv"
    args = ["alerts", *inputs, "--threshold", "0.3", "--out", str(out), "--show", "5"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = _document(result)
    written = pd.read_csv(out)
    assert payload["alerts"] == len(written) > 0
    assert payload["version"] == _document(trained)["version"]
    assert sum(payload["suggested"].values()) == payload["alerts"]
    assert [item[schema.LOAN_ID] for item in payload["items"]] == list(
        written[schema.LOAN_ID].head(5)
    )
    assert (payload["rejected"], payload["quarantine"], payload["source"]) == (0, [], None)
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0
    line = f"{payload['alerts']:,} alerts (model {payload['version']})"
    assert line in shown.stdout
