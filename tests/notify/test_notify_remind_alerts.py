"""`remind` and early-warning alerts: alerts suggesting a reminder become targets of their
own campaign (scored from the store, or read from an alerts file), shown as such in a dry
run, skipped with a note when there is no model or history, and never sent to a borrower
who opted out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from notify_servers import SmsGateway
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.alerts import run_alerts
from loan_recovery.jobs.remind import run_remind
from loan_recovery.models.early_warning import (
    early_warning_registry,
    save_early_warning,
    train_early_warning,
)
from loan_recovery.notify.optout import opt_out
from loan_recovery.notify.reminders import CAMPAIGN
from loan_recovery.simulation.payments import simulate_payment_history
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.db import Store, create_store_engine, open_store, upgrade
from loan_recovery.store.loans import import_loans
from loan_recovery.store.outbox import outbox_counts, outbox_messages
from loan_recovery.store.payments import import_payments
from loan_recovery.store.portfolio_read import read_loan_table

#: Wednesday 1 July 2026, 11:00 in Kolkata: the day after the book's as-of date.
WEDNESDAY_1100_IST = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)
CONTACT: dict[str, str] = {
    schema.BORROWER_NAME: "Asha Rao",
    schema.PHONE: "+919811111111",
    schema.EMAIL: "asha.rao@example.com",
    schema.PREFERRED_LANGUAGE: "en",
    schema.TIME_ZONE: "Asia/Kolkata",
    schema.CONSENT_SMS: "Yes",
    schema.CONSENT_EMAIL: "Yes",
    schema.DO_NOT_CONTACT: "No",
}


@dataclass(frozen=True)
class AlertWorld:
    """A stored book with instalments, its early-warning registry and the expected alerts."""

    template: Path
    models: Path
    alerts: pd.DataFrame

    @property
    def reminded(self) -> list[str]:
        """Loans whose alert suggests a reminder, highest probability first."""
        chosen = self.alerts[schema.SUGGESTED_ACTION] == "reminder"
        return self.alerts.loc[chosen, schema.LOAN_ID].tolist()


@pytest.fixture(scope="module")
def alert_world(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> AlertWorld:
    """1,500 simulated loans (everyone reachable by SMS in Kolkata) with 18 months of
    instalments in a SQLite template, and an early-warning champion trained on them."""
    folder = tmp_path_factory.mktemp("remind-alerts")
    portfolio = simulate_portfolio(1_500, 4, settings=settings)
    payments = simulate_payment_history(portfolio, random_state=4, settings=settings)
    training = train_early_warning(
        payments.history, portfolio.loans, settings=settings.early_warning, n_jobs=1
    )
    models = folder / "models"
    registry = early_warning_registry(models, settings.early_warning)
    info = save_early_warning(registry, training, settings=settings.early_warning)
    registry.promote(info.version)
    loans = portfolio.loans.assign(**CONTACT)
    result = validate_frame(loans, settings=settings)
    assert result.rejected == 0
    template = folder / "template.db"
    engine = create_store_engine(f"sqlite:///{template}")
    upgrade(engine)
    import_loans(engine, result.table, actor="test", batch_size=5_000)
    import_payments(engine, payments.history, actor="test", batch_size=50_000)
    engine.dispose()
    alerts = run_alerts(payments.history, result.table, model=training.model, settings=settings)
    return AlertWorld(template=template, models=models, alerts=alerts)


@pytest.fixture
def alert_store(alert_world: AlertWorld, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A fresh copy of the template store, and its URL."""
    path = tmp_path / "store.db"
    shutil.copyfile(alert_world.template, path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    yield store, url
    store.dispose()


def _settings(url: str, models: Path, tmp_path: Path, **notify: Any) -> Settings:
    section: dict[str, Any] = {
        "sms": {"url": "http://127.0.0.1:9/unused", "timeout": 0.5, "backoff_seconds": 0.0},
        "channels": ["sms"],
        "lender_name": "Test Lender",
        **notify,
    }
    return load_settings(
        var_dir=tmp_path / "var", database_url=url, models_dir=models, notify=section
    )


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LOAN_RECOVERY_DATABASE_URL": url,
        "LOAN_RECOVERY_VAR_DIR": str(tmp_path / "var"),
        "LOAN_RECOVERY_NOTIFY__SMS__URL": "http://127.0.0.1:9/unused",
        "COLUMNS": "220",
    }


def test_from_store_adds_the_alerts_that_suggest_a_reminder(
    alert_world: AlertWorld, alert_store: tuple[Store, str], tmp_path: Path
) -> None:
    """Runs `remind --from-store --dry-run` with an early-warning champion and no stored
    plan; expects exactly the reminder alerts as `early-warning` targets marked `alert`,
    the call and restructure alerts left out, no personal data and nothing written."""
    store, url = alert_store
    reminded = alert_world.reminded
    assert 0 < len(reminded) < len(alert_world.alerts)  # some alerts suggest other actions
    outcome = run_remind(
        settings=_settings(url, alert_world.models, tmp_path),
        store=store,
        from_store=True,
        now=WEDNESDAY_1100_IST,
        dry_run=True,
    )
    view = outcome.view
    assert sorted(view[schema.LOAN_ID]) == sorted(reminded)
    assert set(view[CAMPAIGN]) == {"early-warning"}
    assert set(view[schema.TARGET_SOURCE]) == {"alert"}
    assert outcome.alerts == len(alert_world.alerts)
    assert outcome.alert_targets == len(reminded)
    assert outcome.alerts_note is None
    assert outcome.decisions["send"] == len(reminded)

    args = ["remind", "--from-store", "--dry-run", "--now", "2026-07-01T11:00:00+05:30"]
    env = _env(url, tmp_path)
    shown = CliRunner().invoke(app, [*args, "--models", str(alert_world.models)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "early-warning" in shown.stdout
    assert "alert" in shown.stdout
    assert f"{len(reminded):,} of the targets come from {len(alert_world.alerts):,}" in shown.stdout
    assert "***11" in shown.stdout
    for secret in ("9811111111", "Asha Rao", "asha.rao"):
        assert secret not in shown.stdout
    counted = CliRunner().invoke(
        app, [*args, "--models", str(alert_world.models), "--json"], env=env
    )
    payload = json.loads(counted.stdout)
    assert payload["alert_targets"] == len(reminded)
    assert payload["targets"] == len(reminded)
    with store.transaction() as session:
        assert sum(outbox_counts(session).values()) == 0


def test_no_alerts_switch_leaves_the_alerts_out(
    alert_world: AlertWorld, alert_store: tuple[Store, str], tmp_path: Path
) -> None:
    """Runs `remind --from-store --no-alerts --dry-run --json`; expects no target at all."""
    _, url = alert_store
    result = CliRunner().invoke(
        app,
        [
            "remind", "--from-store", "--no-alerts", "--dry-run", "--json",
            "--now", "2026-07-01T11:00:00+05:30", "--models", str(alert_world.models),
        ],
        env=_env(url, tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["targets"], payload["alerts"], payload["alert_targets"]) == (0, 0, 0)


def test_an_opted_out_borrower_gets_no_alert_reminder(
    alert_world: AlertWorld,
    alert_store: tuple[Store, str],
    tmp_path: Path,
    sms_gateway: SmsGateway,
) -> None:
    """Opts the borrower of the first reminder alert out (an inbound STOP), then runs
    `remind --from-store` for real against a local SMS gateway; expects every other
    reminder alert delivered once and none to that borrower, whose reminder is held."""
    store, url = alert_store
    stopped = alert_world.reminded[0]
    with store.transaction() as session:
        record = opt_out(session, loan_id=stopped, actor="test", source="STOP")
    others = [loan for loan in alert_world.reminded if loan not in record.loans]
    settings = _settings(url, alert_world.models, tmp_path, sms={"url": sms_gateway.url})
    outcome = run_remind(settings=settings, store=store, from_store=True, now=WEDNESDAY_1100_IST)
    assert outcome.dispatch is not None
    delivered = sorted(r.payload["reference"].rsplit(":", 1)[1] for r in sms_gateway.delivered())
    assert delivered == sorted(others)
    assert all(r.payload["reference"].startswith("early-warning:") for r in sms_gateway.delivered())
    with store.transaction() as session:
        held = outbox_messages(session, loan_id=stopped).items
    assert [(item.status, item.reason, item.campaign) for item in held] == [
        ("held", "opted-out", "early-warning")
    ]


def test_plan_with_an_alerts_file_reminds_each_loan_once(
    alert_world: AlertWorld, alert_store: tuple[Store, str], tmp_path: Path
) -> None:
    """Gives a plan reminding one alerted loan and one other, and the alerts file; expects
    the plan's two under `reminder` (source plan), the other reminder alerts under
    `early-warning` (source alert), the alerted loan not twice, call alerts left out."""
    store, url = alert_store
    alerted, *rest = alert_world.reminded
    stored = read_loan_table(store.engine)[schema.LOAN_ID]
    calm = stored[~stored.isin(alert_world.alerts[schema.LOAN_ID])].iloc[0]
    plan = tmp_path / "plan.csv"
    pd.DataFrame(
        {schema.LOAN_ID: [alerted, calm], schema.RECOMMENDED_ACTION: ["reminder", "reminder"]}
    ).to_csv(plan, index=False)
    alerts_file = tmp_path / "alerts.csv"
    alert_world.alerts.to_csv(alerts_file, index=False)
    outcome = run_remind(
        settings=_settings(url, alert_world.models, tmp_path),
        store=store,
        plan_path=plan,
        alerts_path=alerts_file,
        now=WEDNESDAY_1100_IST,
        dry_run=True,
    )
    view = outcome.view.set_index(schema.LOAN_ID)
    assert sorted(view.index) == sorted([alerted, calm, *rest])
    assert view.loc[[alerted, calm], schema.TARGET_SOURCE].tolist() == ["plan", "plan"]
    assert view.loc[[alerted, calm], CAMPAIGN].tolist() == ["reminder", "reminder"]
    assert set(view.loc[rest, schema.TARGET_SOURCE]) == {"alert"}
    assert set(view.loc[rest, CAMPAIGN]) == {"early-warning"}
    assert outcome.alerts == len(alert_world.alerts)
    assert outcome.alert_targets == len(rest)

    shown = CliRunner().invoke(
        app,
        [
            "remind", "--plan", str(plan), "--alerts", str(alerts_file), "--dry-run",
            "--now", "2026-07-01T11:00:00+05:30",
        ],
        env=_env(url, tmp_path),
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert f"{len(rest):,} of the targets come from" in shown.stdout


def test_without_a_model_or_installments_the_run_goes_on_with_a_note(
    alert_world: AlertWorld,
    alert_store: tuple[Store, str],
    tmp_path: Path,
    load_book: Any,
    notify_store: Store,
    database_file: Path,
) -> None:
    """Runs `remind --from-store` with an empty registry, then on a store without
    installments; expects no alert targets, a note saying why (train / import-payments)
    and exit 0."""
    _, url = alert_store
    result = CliRunner().invoke(
        app,
        [
            "remind", "--from-store", "--dry-run", "--now", "2026-07-01T11:00:00+05:30",
            "--models", str(tmp_path / "no-models"),
        ],
        env=_env(url, tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "early-warning alerts skipped" in result.output
    assert "train a model first" in result.output
    load_book([{}])
    outcome = run_remind(
        settings=_settings(f"sqlite:///{database_file}", alert_world.models, tmp_path),
        store=notify_store,
        from_store=True,
        now=WEDNESDAY_1100_IST,
        dry_run=True,
    )
    assert outcome.alert_targets == 0
    assert outcome.alerts_note is not None
    assert "import-payments" in outcome.alerts_note


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from-store"], "--from-store scores alerts"),
        (["--no-alerts"], "not both"),
    ],
    ids=["with --from-store", "with --no-alerts"],
)
def test_an_alerts_file_conflicting_with_other_options_is_refused(
    extra: list[str], message: str, tmp_path: Path
) -> None:
    """Gives --alerts with --from-store or --no-alerts; expects exit 2 with the reason."""
    alerts_file = tmp_path / "alerts.csv"
    alerts_file.write_text("Loan_ID,suggested_action\nL1,reminder\n")
    result = CliRunner().invoke(app, ["remind", "--alerts", str(alerts_file), *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_an_alerts_file_without_the_alert_columns_is_a_clear_error(
    alert_store: tuple[Store, str], tmp_path: Path
) -> None:
    """Gives a worklist where the alerts file belongs; expects exit 2 naming the missing
    column and the command that writes the right file, nothing queued."""
    store, url = alert_store
    wrong = tmp_path / "worklist.csv"
    wrong.write_text("Loan_ID,recommended_action\nL1,reminder\n")
    result = CliRunner().invoke(
        app, ["remind", "--alerts", str(wrong), "--dry-run"], env=_env(url, tmp_path)
    )
    assert result.exit_code == 2
    assert "suggested_action" in result.output
    assert "alerts --out" in result.output
    with store.transaction() as session:
        assert sum(outbox_counts(session).values()) == 0
