"""Train, score, report, promote and versions: the model commands end to end."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.cli import app
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.train import TrainOutcome, run_train
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.scoring import score_loans
from loan_recovery.simulation.portfolio import simulate_portfolio

runner = CliRunner()
FAST_ENV = {"LOAN_RECOVERY_RISK__CV_FOLDS": "3"}


@pytest.fixture(scope="module")
def fast_settings() -> Settings:
    """Default settings with 3-fold CV so the module trains in seconds."""
    return load_settings(risk={"cv_folds": 3})


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 labelled simulated loans as CSV."""
    loans = simulate_portfolio(3_000, 11).loans
    return write_table(loans, tmp_path_factory.mktemp("history") / "history.csv")


@pytest.fixture(scope="module")
def trained(
    history_csv: Path, fast_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> TrainOutcome:
    """One trained registry (v0001, champion) shared by the module."""
    models = tmp_path_factory.mktemp("models")
    return run_train(history_csv, settings=fast_settings, models_dir=models, seed=3)


@pytest.fixture(scope="module")
def fresh_table() -> pd.DataFrame:
    """500 loans the models never saw, validated."""
    return validate_frame(simulate_portfolio(500, 99).loans).table


def _models_dir(trained: TrainOutcome) -> Path:
    return trained.version.path.parent.parent


def test_train_saves_a_champion_with_metadata(trained: TrainOutcome) -> None:
    """Expects v0001 promoted, with features, label, exclusions, fingerprint and metrics."""
    assert trained.version.version == "v0001"
    assert trained.promoted
    registry = ModelRegistry(_models_dir(trained))
    assert registry.champion() == "v0001"
    metadata = trained.bundle.metadata
    assert schema.GENDER not in " ".join(metadata["feature_names"])
    assert metadata["excluded_columns"] == [schema.GENDER]
    assert metadata["training_data"]["rows"] == 3_000
    assert len(metadata["training_data"]["sha256"]) == 64
    assert metadata["champion_family"] in {"xgboost", "random_forest"}
    assert trained.artefacts.metrics is not None
    assert set(trained.artefacts.metrics.index) >= {"xgboost", "random_forest", "base_rate"}


def test_champion_beats_the_baselines(trained: TrainOutcome) -> None:
    """Expects the champion's CV ROC-AUC above base rate and the one-feature logistic."""
    metrics = trained.artefacts.metrics
    assert metrics is not None
    champion_auc = metrics.loc[trained.artefacts.champion_family, "roc_auc_mean"]
    logistic = [name for name in metrics.index if str(name).startswith("logistic_")]
    assert champion_auc > metrics.loc["base_rate", "roc_auc_mean"] + 0.2
    assert champion_auc > metrics.loc[logistic[0], "roc_auc_mean"]


def test_scores_have_the_promised_columns(
    trained: TrainOutcome, fresh_table: pd.DataFrame, fast_settings: Settings
) -> None:
    """Expects Loan_ID, calibrated score, band, asset class, segment, 3 reasons, features."""
    scores = score_loans(fresh_table, trained.bundle, fast_settings.risk)
    expected = [
        schema.LOAN_ID,
        schema.RISK_SCORE,
        schema.RISK_BAND,
        schema.SCORED_ASSET_CLASS,
        schema.SEGMENT_ID,
        schema.SEGMENT_NAME,
        schema.reason_column(1),
        schema.reason_column(2),
        schema.reason_column(3),
    ]
    assert list(scores.columns[: len(expected)]) == expected
    assert schema.EMI_TO_INCOME_RATIO in scores.columns
    assert scores[schema.RISK_SCORE].between(0, 1).all()
    assert set(scores[schema.RISK_BAND].astype(str)) <= set(fast_settings.risk.band_names)
    high = scores[schema.RISK_SCORE] >= fast_settings.risk.band_edges[-1]
    assert (scores.loc[high, schema.RISK_BAND] == fast_settings.risk.band_names[-1]).all()
    assert scores[schema.reason_column(1)].str.len().gt(0).mean() > 0.9


def test_reloaded_bundle_scores_identically(
    trained: TrainOutcome, fresh_table: pd.DataFrame, fast_settings: Settings
) -> None:
    """Loads the champion from disk twice; expects bit-identical scores and reasons."""
    registry = ModelRegistry(_models_dir(trained))
    first = score_loans(fresh_table, load_bundle(registry), fast_settings.risk)
    second = score_loans(fresh_table, load_bundle(registry, "v0001"), fast_settings.risk)
    pd.testing.assert_frame_equal(first, second)
    in_memory = score_loans(fresh_table, trained.bundle, fast_settings.risk)
    np.testing.assert_array_equal(first[schema.RISK_SCORE], in_memory[schema.RISK_SCORE])


def test_excluded_column_cannot_move_a_score(
    trained: TrainOutcome, fresh_table: pd.DataFrame, fast_settings: Settings
) -> None:
    """Permutes Gender across loans; expects every score unchanged."""
    permuted = fresh_table.copy()
    permuted[schema.GENDER] = np.random.default_rng(0).permutation(
        permuted[schema.GENDER].to_numpy()
    )
    before = score_loans(fresh_table, trained.bundle, fast_settings.risk)[schema.RISK_SCORE]
    after = score_loans(permuted, trained.bundle, fast_settings.risk)[schema.RISK_SCORE]
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())


def test_more_days_past_due_never_lowers_risk(
    trained: TrainOutcome, fresh_table: pd.DataFrame, fast_settings: Settings
) -> None:
    """Adds 30 and 120 days past due to every loan; expects no calibrated score to fall."""
    base = score_loans(fresh_table, trained.bundle, fast_settings.risk)[schema.RISK_SCORE]
    for extra_days in (30, 120):
        later = fresh_table.copy()
        later[schema.DAYS_PAST_DUE] = later[schema.DAYS_PAST_DUE] + extra_days
        worse = score_loans(later, trained.bundle, fast_settings.risk)[schema.RISK_SCORE]
        assert (worse.to_numpy() >= base.to_numpy() - 1e-12).all()


def test_score_command_writes_scores_and_quarantines_bad_rows(
    trained: TrainOutcome, tmp_path: Path
) -> None:
    """Gives 100 loans with 2 bad rows; expects exit 1, 98 scores, 2 quarantined rows."""
    loans = simulate_portfolio(100, 5).loans.astype(object)
    loans.loc[4, schema.AGE] = "old"
    loans.loc[9, schema.LOAN_AMOUNT] = -1
    source = write_table(loans, tmp_path / "book.csv")
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        app, ["score", str(source), "--models", str(_models_dir(trained)), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    scores = pd.read_parquet(out)
    assert len(scores) == 98
    assert not scores[schema.LOAN_ID].isin([loans.loc[4, schema.LOAN_ID]]).any()
    quarantine = pd.read_csv(tmp_path / "book.quarantine.csv", dtype=str)
    assert len(quarantine) == 2


def test_tampered_model_is_refused(trained: TrainOutcome, tmp_path: Path) -> None:
    """Changes one byte of a saved model file; expects exit 2 naming the tampering."""
    copy = tmp_path / "models"
    shutil.copytree(_models_dir(trained), copy)
    version_dir = copy / "versions" / "v0001"
    target = next(path for path in sorted(version_dir.iterdir()) if path.name.startswith("risk_"))
    os.chmod(target, 0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    source = write_table(simulate_portfolio(20, 1).loans, tmp_path / "book.csv")
    result = runner.invoke(
        app, ["score", str(source), "--models", str(copy), "--out", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 2
    assert target.name in result.stderr
    assert "Traceback" not in result.output


def test_second_version_is_promoted_only_when_asked(
    history_csv: Path, trained: TrainOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trains again without CV; expects v0002 not champion until `promote v0002`."""
    copy = tmp_path / "models"
    shutil.copytree(_models_dir(trained), copy)
    for name, value in FAST_ENV.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["train", str(history_csv), "--models", str(copy), "--no-cv"])
    assert result.exit_code == 0, result.output
    assert "v0002 (not promoted)" in result.stdout
    registry = ModelRegistry(copy)
    assert registry.champion() == "v0001"
    assert runner.invoke(app, ["promote", "v0002", "--models", str(copy)]).exit_code == 0
    assert registry.champion() == "v0002"
    listing = runner.invoke(app, ["versions", "--models", str(copy)])
    assert "v0001" in listing.stdout
    assert "v0002" in listing.stdout
    unknown = runner.invoke(app, ["promote", "v0099", "--models", str(copy)])
    assert unknown.exit_code == 2
    assert "v0099" in unknown.stderr


def test_report_json_html_and_markdown(trained: TrainOutcome, tmp_path: Path) -> None:
    """Expects --json to carry the metrics, and HTML and Markdown cards written."""
    models = str(_models_dir(trained))
    as_json = runner.invoke(app, ["report", "--models", models, "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["version"] == "v0001"
    assert "xgboost" in json.dumps(payload["metrics"])
    html, markdown = tmp_path / "card.html", tmp_path / "card.md"
    result = runner.invoke(
        app, ["report", "--models", models, "--html", str(html), "--markdown", str(markdown)]
    )
    assert result.exit_code == 0, result.output
    assert "ROC" in result.stdout
    assert html.read_text().count("data:image/png;base64,") >= 5
    assert "Segments" in markdown.read_text()


def test_score_without_models_explains_what_to_do(tmp_path: Path) -> None:
    """Gives an empty registry; expects exit 2 telling the user to train first."""
    source = write_table(simulate_portfolio(20, 1).loans, tmp_path / "book.csv")
    result = runner.invoke(
        app,
        [
            "score",
            str(source),
            "--models",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "train" in result.stderr.lower()


def test_training_needs_labels(tmp_path: Path) -> None:
    """Gives a file without Recovery_Status; expects exit 2 naming the column."""
    loans = simulate_portfolio(300, 2).loans.drop(columns=[schema.RECOVERY_STATUS])
    source = write_table(loans, tmp_path / "unlabelled.csv")
    result = runner.invoke(app, ["train", str(source), "--models", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert schema.RECOVERY_STATUS in result.stderr


def test_plan_command_writes_a_prioritised_worklist(trained: TrainOutcome, tmp_path: Path) -> None:
    """Gives 300 loans; expects every promised column, priority order, the uplift arithmetic
    and a summary of net, incremental net over holding and gain over the bau baseline."""
    source = write_table(simulate_portfolio(300, 21).loans, tmp_path / "book.csv")
    out = tmp_path / "plan.csv"
    result = runner.invoke(
        app, ["plan", str(source), "--models", str(_models_dir(trained)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "incremental net over holding everything" in result.stdout
    assert "gain over the bau baseline" in result.stdout
    plan = pd.read_csv(out)
    expected = {
        schema.LOAN_ID,
        schema.RECOMMENDED_ACTION,
        schema.PRIORITY,
        schema.EXPECTED_UPLIFT,
        schema.VALUE_IF_LEFT_ALONE,
        schema.EXPECTED_NET_RECOVERY,
        schema.BASELINE_ACTION,
        schema.UPLIFT_VS_BASELINE,
        schema.RISK_SCORE,
        schema.SEGMENT_NAME,
        schema.reason_column(1),
        schema.GUARDRAILS,
        *(schema.value_column(action) for action in schema.ACTION_NAMES),
        *(schema.uplift_column(action) for action in schema.ACTION_NAMES),
    }
    assert expected <= set(plan.columns)
    old_columns = {f"expected_net_{arm}" for arm in schema.ARM_NAMES}
    assert not old_columns & set(plan.columns)
    assert len(plan) == 300
    assert plan[schema.PRIORITY].is_monotonic_decreasing
    held = plan[schema.RECOMMENDED_ACTION] == schema.HOLD
    chosen_value = plan.apply(
        lambda row: (
            row[schema.value_column(row[schema.RECOMMENDED_ACTION])]
            if row[schema.RECOMMENDED_ACTION] != schema.HOLD
            else row[schema.VALUE_IF_LEFT_ALONE]
        ),
        axis=1,
    )
    np.testing.assert_allclose(chosen_value, plan[schema.EXPECTED_NET_RECOVERY])
    np.testing.assert_allclose(
        plan[schema.EXPECTED_NET_RECOVERY] - plan[schema.VALUE_IF_LEFT_ALONE],
        plan[schema.EXPECTED_UPLIFT],
        atol=1e-6,
    )
    assert (plan.loc[held, schema.EXPECTED_UPLIFT] == 0).all()
    for action in schema.ACTION_NAMES:
        np.testing.assert_allclose(
            plan[schema.value_column(action)] - plan[schema.VALUE_IF_LEFT_ALONE],
            plan[schema.uplift_column(action)],
            atol=1e-6,
        )


def test_plan_with_a_version_trained_before_hold_says_retrain(
    trained: TrainOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives a champion whose outcome model has no hold arm (an older bundle); expects exit 2
    and a one-line message asking to retrain, not a traceback."""
    outcome = copy.copy(trained.bundle.outcome_model)
    assert outcome is not None
    outcome.actions_ = tuple(arm for arm in outcome.actions_ if arm != schema.HOLD)
    old = dataclasses.replace(trained.bundle, outcome_model=outcome)
    monkeypatch.setattr("loan_recovery.jobs.plan.load_bundle", lambda *_args, **_kw: old)
    source = write_table(simulate_portfolio(20, 3).loans, tmp_path / "book.csv")
    result = runner.invoke(
        app, ["plan", str(source), "--models", str(_models_dir(trained)), "--out", "x.csv"]
    )
    assert result.exit_code == 2, result.output
    assert "retrain" in result.stderr
    assert "Traceback" not in result.output


def test_plan_respects_guardrails_and_capacity(
    trained: TrainOutcome, fast_settings: Settings, tmp_path: Path
) -> None:
    """Plans with legal=5,call=20 to Excel; expects caps held and no removed action chosen."""
    from loan_recovery.strategy.plan import action_values, plan_loans

    loans = simulate_portfolio(400, 22).loans
    table = validate_frame(loans).table
    inputs = action_values(table, trained.bundle, fast_settings, with_reasons=False)
    plan = plan_loans(table, trained.bundle, fast_settings, capacity={"legal": 5, "call": 20})
    counts = plan.worklist[schema.RECOMMENDED_ACTION].value_counts()
    assert counts.get("legal", 0) <= 5
    assert counts.get("call", 0) <= 20
    assert plan.capacity_plan is not None
    by_loan = plan.worklist.set_index(schema.LOAN_ID)[schema.RECOMMENDED_ACTION]
    allowed = inputs.guard.allowed.set_axis(table[schema.LOAN_ID])
    for action in schema.ACTION_NAMES:
        chosen = by_loan[by_loan == action].index
        assert allowed.loc[chosen, action].all()
    source = write_table(loans, tmp_path / "book.csv")
    result = runner.invoke(
        app,
        [
            "plan",
            str(source),
            "--models",
            str(_models_dir(trained)),
            "--out",
            str(tmp_path / "plan.xlsx"),
            "--capacity",
            "legal=5,call=20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Shadow prices" in result.stdout
    assert len(pd.read_excel(tmp_path / "plan.xlsx")) == 400


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--policy", "magic"], "magic"),
        (["--capacity", "teleport=3"], "teleport"),
        (["--capacity", "legal"], "legal=40"),
    ],
)
def test_plan_rejects_bad_options(
    trained: TrainOutcome, tmp_path: Path, extra: list[str], fragment: str
) -> None:
    """Gives an unknown policy or a malformed capacity; expects exit 2 naming it."""
    source = write_table(simulate_portfolio(20, 1).loans, tmp_path / "book.csv")
    result = runner.invoke(
        app,
        ["plan", str(source), "--models", str(_models_dir(trained)), "--out", "x.csv", *extra],
    )
    assert result.exit_code == 2
    assert fragment in result.stderr


def test_evaluate_policy_under_bau_capacity_reports_every_policy_against_bau(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs evaluate-policy --same-capacity on 1,500 loans; expects the documented keys per
    policy, bau 0% against itself, no policy using more of a capacity-limited action than
    bau, the oracle on top and the DR interval around its estimate."""
    monkeypatch.setenv("LOAN_RECOVERY_RISK__CV_FOLDS", "3")
    result = runner.invoke(
        app, ["evaluate-policy", "--loans", "1500", "--seed", "5", "--json", "--same-capacity"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["loans"], payload["seed"], payload["same_capacity"]) == (1_500, 5, True)
    policies = payload["policies"]
    assert {"learned", "bau", "threshold-rules", "oracle", "all-hold", "all-legal"} <= set(policies)
    required = {
        "net_recovery",
        "incremental_net",
        "vs_bau",
        "oracle_capture_vs_bau",
        "dr",
        "dr_ci95",
        "p_beats_bau",
        "actions",
    }
    assert required <= set(policies["learned"])
    assert policies["bau"]["vs_bau"] == 0
    assert policies["all-hold"]["incremental_net"] == 0
    bau_shares = policies["bau"]["actions"]
    assert set(bau_shares) == set(schema.ARM_NAMES)
    for name, policy in policies.items():
        assert sum(policy["actions"].values()) == pytest.approx(1.0), name
        for action in CAPACITY_LIMITED:
            used = round(policy["actions"][action] * 1_500)
            assert used <= round(bau_shares[action] * 1_500), (name, action)
        assert policies["oracle"]["net_recovery"] >= policy["net_recovery"] - 1e-6, name
        low, high = policy["dr_ci95"]
        assert low <= policy["dr"] <= high, name
    assert payload["capacity"] == {
        action: round(bau_shares[action] * 1_500) for action in CAPACITY_LIMITED
    }


def test_plan_quarantines_bad_rows_and_plans_the_rest(
    trained: TrainOutcome, tmp_path: Path
) -> None:
    """Gives 60 loans with 2 bad rows; expects exit 1, 58 planned, 2 quarantined."""
    loans = simulate_portfolio(60, 23).loans.astype(object)
    loans.loc[3, schema.DAYS_PAST_DUE] = "soon"
    loans.loc[7, schema.OUTSTANDING_LOAN_AMOUNT] = -10
    source = write_table(loans, tmp_path / "book.csv")
    result = runner.invoke(
        app,
        [
            "plan",
            str(source),
            "--models",
            str(_models_dir(trained)),
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 58
    assert len(pd.read_csv(tmp_path / "book.quarantine.csv", dtype=str)) == 2


def test_plan_of_a_snapshot_file_gives_one_row_per_loan_from_its_latest_snapshot(
    trained: TrainOutcome, tmp_path: Path
) -> None:
    """Gives 30 loans in two monthly snapshots (DPD grows); expects 30 rows, latest DPD's plan."""
    earlier = simulate_portfolio(30, 31).loans.assign(**{schema.AS_OF_DATE: "2026-09-30"})
    later = earlier.assign(
        **{
            schema.AS_OF_DATE: "2026-10-31",
            schema.DAYS_PAST_DUE: earlier[schema.DAYS_PAST_DUE] + 30,
        }
    )
    source = write_table(pd.concat([later, earlier]), tmp_path / "snapshots.csv")
    out = tmp_path / "plan.csv"
    result = runner.invoke(
        app, ["plan", str(source), "--models", str(_models_dir(trained)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    planned = pd.read_csv(out)
    assert len(planned) == 30
    assert set(planned[schema.LOAN_ID]) == set(earlier[schema.LOAN_ID])
    latest_only = write_table(later, tmp_path / "latest.csv")
    alone = tmp_path / "alone.csv"
    runner.invoke(
        app, ["plan", str(latest_only), "--models", str(_models_dir(trained)), "--out", str(alone)]
    )
    pd.testing.assert_frame_equal(planned, pd.read_csv(alone))
