"""Storing plans: one score per loan per run, planned actions, superseded plans cancelled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.jobs.train import run_train
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.cases import create_action, update_action
from loan_recovery.store.db import Store
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.loans import import_loans
from loan_recovery.store.models import Action, AuditEntry, ModelVersion, Score
from loan_recovery.store.plans import PLAN_STORE, store_plan
from loan_recovery.store.queries import ScoreRecord

runner = CliRunner()
Worklist = Callable[..., pd.DataFrame]


def _actions(store: Store) -> pd.DataFrame:
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(Action.id, Action.loan_id, Action.action, Action.status, Action.score_id)
        ).all()
    return pd.DataFrame(rows, columns=["id", "loan_id", "action", "status", "score_id"])


def test_plan_of_unknown_loans_is_refused(
    store: Store, loans_table: pd.DataFrame, make_worklist: Worklist
) -> None:
    """Stores a plan before importing its loans; expects NotFoundError naming the fix."""
    plan = make_worklist(loans_table.head(5), ["call"])
    with pytest.raises(NotFoundError, match="import them first"), store.transaction() as session:
        store_plan(session, plan, model_version="v0001", actor="cli")


def test_plan_needs_plan_columns(store: Store, loans_table: pd.DataFrame) -> None:
    """Expects a frame without the plan's columns to be refused before any write."""
    with pytest.raises(InvalidRequestError, match="recommended_action"), store.transaction() as s:
        store_plan(s, loans_table[[schema.LOAN_ID]], model_version="v1", actor="cli")


def test_stored_plan_writes_scores_actions_version_and_audit(
    store: Store, loans_table: pd.DataFrame, make_worklist: Worklist
) -> None:
    """Stores a 300-loan plan with loans upserted first; expects 300 scores, planned
    actions for every non-hold loan, the model version and one audit row."""
    plan = make_worklist(loans_table, ["call", "legal", "hold"])
    with store.transaction() as session:
        stored = store_plan(
            session,
            plan,
            model_version="v0007",
            actor="cli",
            loans=loans_table,
            model_details={"champion_family": "xgboost", "created_at": "2026-06-30T10:00:00+00:00"},
        )
    assert stored.loans is not None
    assert stored.loans.inserted == 300
    assert (stored.scores, stored.actions_created, stored.actions_cancelled) == (300, 200, 0)
    actions = _actions(store)
    assert set(actions["status"]) == {"planned"}
    assert set(actions["action"]) == {"call", "legal"}
    assert actions["score_id"].notna().all()
    with store.transaction() as session:
        version = session.get(ModelVersion, "v0007")
        assert version is not None
        assert version.family == "xgboost"
        scores = session.scalars(sa.select(Score).order_by(Score.loan_id)).all()
        assert {score.run_id for score in scores} == {stored.run_id}
        first = next(score for score in scores if score.loan_id == plan.loc[0, schema.LOAN_ID])
        assert first.reasons == ["reason 1", "reason 2", "reason 3"]
        row = plan.loc[0]
        assert set(first.expected_net) == set(schema.ARM_NAMES)
        assert first.expected_net[schema.HOLD] == row[schema.VALUE_IF_LEFT_ALONE]
        for action in schema.ACTION_NAMES:
            assert first.expected_net[action] == row[schema.value_column(action)]
        record = ScoreRecord.of(first)
        assert record.value_if_left_alone == row[schema.VALUE_IF_LEFT_ALONE]
        assert record.expected_uplift == pytest.approx(row[schema.EXPECTED_UPLIFT])
        assert first.priority == pytest.approx(plan.loc[0, schema.PRIORITY])
        (audit,) = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == PLAN_STORE))
        assert audit.entity_id == stored.run_id
        assert audit.details is not None
        assert audit.details["actions_created"] == 200


def test_a_new_run_keeps_matching_actions_and_supersedes_planned_ones(
    store: Store, loans_table: pd.DataFrame, make_worklist: Worklist
) -> None:
    """Runs twice with changed recommendations; expects same action kept, other planned
    ones cancelled and replaced, started ones untouched, one more score per loan."""
    table = loans_table.head(30)
    import_loans(store.engine, table, actor="cli", batch_size=100)
    first = make_worklist(table, ["call"])
    with store.transaction() as session:
        store_plan(session, first, model_version="v1", actor="cli")
    started_loan = str(first.loc[1, schema.LOAN_ID])
    with store.transaction() as session:
        started = _actions(store).set_index("loan_id").loc[started_loan, "id"]
        update_action(session, action_id=int(started), actor="agent", status="in-progress")
    second = first.copy()
    second.loc[:9, schema.RECOMMENDED_ACTION] = "settlement"  # loans 0-9 change their mind
    with store.transaction() as session:
        stored = store_plan(session, second, model_version="v2", actor="cli")
    # loans 0 and 2-9: planned call cancelled, settlement planned; loan 1: call in progress
    # stays and settlement is planned beside it; loans 10-29 keep their planned call.
    assert (stored.actions_cancelled, stored.actions_created, stored.actions_kept) == (9, 10, 20)
    actions = _actions(store)
    assert (actions["status"] == "cancelled").sum() == 9
    assert actions.loc[actions["loan_id"] == started_loan, "status"].tolist() == [
        "in-progress",
        "planned",
    ]
    with store.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Score)) == 60


def test_hold_cancels_a_planned_action_and_creates_none(
    store: Store, loans_table: pd.DataFrame, make_worklist: Worklist
) -> None:
    """Plans a call, then hold; expects the call cancelled and no new action."""
    table = loans_table.head(3)
    import_loans(store.engine, table, actor="cli", batch_size=100)
    with store.transaction() as session:
        store_plan(session, make_worklist(table, ["call"]), model_version="v1", actor="cli")
    with store.transaction() as session:
        stored = store_plan(session, make_worklist(table, ["hold"]), model_version="v1", actor="x")
    assert (stored.actions_created, stored.actions_cancelled) == (0, 3)
    loan = str(table[schema.LOAN_ID].iloc[0])
    with store.transaction() as session:
        created = create_action(session, loan_id=loan, action="call", actor="agent")
    assert created.status == "planned"


@pytest.fixture(scope="module")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small registry (v0001 champion) trained without cross-validation: seconds."""
    root = tmp_path_factory.mktemp("plan-store")
    history = write_table(simulate_portfolio(1_500, 11).loans, root / "history.csv")
    settings = load_settings(risk={"cv_folds": 2})
    run_train(history, settings=settings, models_dir=root / "models", seed=3, cross_validate=False)
    return root / "models"


def test_cli_plan_store_writes_the_worklist(
    database_url: str, trained_registry: Path, tmp_path: Path
) -> None:
    """Runs `plan --store` twice on 400 fresh loans; expects the file, 400 scores per run,
    loans upserted and planned actions not duplicated by the second run."""
    fresh = write_table(simulate_portfolio(400, 99).loans, tmp_path / "fresh.csv")
    out = tmp_path / "plan.csv"
    env = {"LOAN_RECOVERY_DATABASE_URL": database_url}
    arguments = ["plan", str(fresh), "--out", str(out), "--models", str(trained_registry)]
    first = runner.invoke(app, [*arguments, "--store"], env=env)
    assert first.exit_code == 0, first.output
    assert out.is_file()
    assert "Stored run" in first.stdout
    planned = pd.read_csv(out)
    second = runner.invoke(app, [*arguments, "--store"], env=env)
    assert second.exit_code == 0, second.output
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            scores = connection.execute(sa.select(sa.func.count()).select_from(Score)).scalar()
            open_actions = connection.execute(
                sa.select(sa.func.count()).select_from(Action).where(Action.status == "planned")
            ).scalar()
            versions = connection.execute(sa.select(ModelVersion.version)).scalars().all()
    finally:
        engine.dispose()
    assert scores == 800
    assert open_actions == int((planned[schema.RECOMMENDED_ACTION] != "hold").sum())
    assert versions == ["v0001"]


def test_cli_plan_store_on_unmigrated_database_fails_before_planning(
    tmp_path: Path, trained_registry: Path
) -> None:
    """Expects `plan --store` on an empty database to exit 2 and write no plan file."""
    fresh = write_table(simulate_portfolio(50, 5).loans, tmp_path / "fresh.csv")
    out = tmp_path / "plan.csv"
    env = {"LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = runner.invoke(
        app,
        ["plan", str(fresh), "--out", str(out), "--models", str(trained_registry), "--store"],
        env=env,
    )
    assert result.exit_code == 2
    assert "loan-recovery db upgrade" in result.output
    assert not out.exists()
