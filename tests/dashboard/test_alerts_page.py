"""The Alerts page driven through AppTest on a small demo: KPIs, threshold, filters, sources.

Every expected number is the pipeline's own (``run_alerts`` / ``run_alerts_files`` on the
same files and model), so the page is checked against what ``loan-recovery alerts``
prints, never against a copy of its arithmetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from loan_recovery.dashboard.launch import APP_PATH
from loan_recovery.data import schema
from loan_recovery.data.payment_validation import validate_payments_file
from loan_recovery.data.validation import validate_file
from loan_recovery.jobs.alerts import run_alerts, run_alerts_files
from loan_recovery.models.early_warning import (
    EarlyWarningBundle,
    early_warning_registry,
    load_early_warning,
)

PAGE = APP_PATH.parent / "pages" / "alerts.py"
APP_TIMEOUT = 120  # seconds: a first run loads the model and scores the history


@pytest.fixture(scope="module")
def tables(demo_world: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(payments, loans) of the demo, validated as `loan-recovery alerts` validates them."""
    paths, settings = demo_world.outcome.paths, demo_world.settings
    return (
        validate_payments_file(paths.payments, settings=settings).table,
        validate_file(paths.portfolio, settings=settings).table,
    )


@pytest.fixture(scope="module")
def model(demo_world: Any) -> EarlyWarningBundle:
    settings = demo_world.settings
    return load_early_warning(early_warning_registry(settings.registry_dir, settings.early_warning))


def expected(
    demo_world: Any,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    model: EarlyWarningBundle,
    threshold: float,
) -> pd.DataFrame:
    payments, loans = tables
    return run_alerts(
        payments, loans, model=model, settings=demo_world.settings, threshold=threshold
    )


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, int]:
    """The page's counting tiles as integers (the share tile is left out)."""
    return {
        item.label: int(item.value.replace(",", ""))
        for item in at.metric
        if not item.value.endswith("%")
    }


def shown_alerts(at: AppTest) -> pd.DataFrame:
    for frame in at.dataframe:
        if schema.EARLY_WARNING_SCORE in frame.value.columns:
            return frame.value
    raise AssertionError("no alerts table on the page")


def test_page_shows_the_demo_alerts_as_the_cli_lists_them(demo_env: Any) -> None:
    """Default threshold: tiles, table order and chart equal `loan-recovery alerts` output."""
    paths = demo_env.outcome.paths
    outcome = run_alerts_files(paths.payments, paths.portfolio, settings=demo_env.settings)
    at = run_page()
    assert at.slider(key="alerts_threshold").value == pytest.approx(
        demo_env.settings.early_warning.threshold
    )
    shown = metrics(at)
    assert shown["Loans scored"] == outcome.scored
    assert shown["Alerts"] == len(outcome.alerts) > 0
    by_action = outcome.alerts[schema.SUGGESTED_ACTION].value_counts()
    for action, alerts in by_action.items():
        assert shown[f"Suggested: {action}"] == alerts
    table = shown_alerts(at)
    assert list(table[schema.LOAN_ID]) == list(outcome.alerts[schema.LOAN_ID])
    assert list(table[schema.SUGGESTED_ACTION]) == list(outcome.alerts[schema.SUGGESTED_ACTION])
    assert table[schema.reason_column(1)].notna().all()
    assert at.get("plotly_chart")
    assert len(at.get("download_button")) == 1
    version = demo_env.outcome.early_warning.version.version
    assert any(f"Model {version}" in caption.value for caption in at.caption)


def test_threshold_moves_the_alert_count_exactly_as_run_alerts(
    demo_env: Any,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    model: EarlyWarningBundle,
) -> None:
    """Known answer: at 0.15, 0.5 and back at 0.3 the page lists what run_alerts lists."""
    at = run_page()
    counts = []
    for threshold in (0.15, 0.5, 0.3):
        at.slider(key="alerts_threshold").set_value(threshold).run()
        assert not at.exception, [error.value for error in at.exception]
        answer = expected(demo_env, tables, model, threshold)
        shown = metrics(at)
        assert shown["Alerts"] == len(answer), threshold
        assert list(shown_alerts(at)[schema.LOAN_ID]) == list(answer[schema.LOAN_ID])
        counts.append(shown["Alerts"])
    assert counts[0] > counts[2] > counts[1]


def test_filters_narrow_the_alerts_by_action_and_pattern(
    demo_env: Any,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    model: EarlyWarningBundle,
) -> None:
    """One action, then one pattern too: exactly the matching alerts; none: a hint."""
    answer = expected(demo_env, tables, model, demo_env.settings.early_warning.threshold)
    at = run_page()
    action = str(answer[schema.SUGGESTED_ACTION].value_counts().index[-1])  # the rarest
    at.multiselect(key="alerts_actions").set_value([action]).run()
    matching = answer[answer[schema.SUGGESTED_ACTION] == action]
    assert metrics(at)["Alerts after filters"] == len(matching) < len(answer)
    assert metrics(at)["Alerts"] == len(answer)  # the tiles stay about every alert
    assert set(shown_alerts(at)[schema.SUGGESTED_ACTION]) == {action}

    pattern = str(matching[schema.ALERT_PATTERN].iloc[0])
    at.multiselect(key="alerts_patterns").set_value([pattern]).run()
    both = matching[matching[schema.ALERT_PATTERN] == pattern]
    assert metrics(at)["Alerts after filters"] == len(both)
    assert list(shown_alerts(at)[schema.LOAN_ID]) == list(both[schema.LOAN_ID])

    others = sorted(set(answer[schema.ALERT_PATTERN]) - set(matching[schema.ALERT_PATTERN]))
    assert others, "the demo's alerts should show another pattern too"
    at.multiselect(key="alerts_patterns").set_value(others[:1]).run()
    assert metrics(at)["Alerts after filters"] == 0
    assert any("No alert matches" in info.value for info in at.info)


def test_no_early_warning_model_says_which_command_trains_one(
    demo_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty model registry: an error naming both commands, no traceback, no tiles."""
    monkeypatch.setenv("LOAN_RECOVERY_MODELS_DIR", str(tmp_path / "models"))
    at = run_page()
    assert len(at.error) == 1
    message = at.error[0].value
    assert "loan-recovery demo" in message
    assert "loan-recovery train-early-warning" in message
    assert not at.metric


def test_missing_history_tells_to_run_the_demo(
    demo_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payments file that does not exist: a hint naming the demo, no traceback."""
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__PAYMENTS_FILE", str(tmp_path / "none.csv"))
    at = run_page()
    assert any("loan-recovery demo" in info.value for info in at.info)
    assert not at.metric


def test_other_portfolio_without_history_asks_for_one(
    demo_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dashboard.data_file set, no payments_file: the demo history is not paired with it."""
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__DATA_FILE", str(demo_env.outcome.paths.portfolio))
    at = run_page()
    assert any("payments_file" in info.value for info in at.info)
    assert not at.metric


def test_case_store_source_scores_the_stored_history(
    demo_env: Any,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    model: EarlyWarningBundle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty store, then loans only, then their payments: two hints, then the files' alerts."""
    from loan_recovery.store.db import create_store_engine, upgrade
    from loan_recovery.store.loans import import_loans
    from loan_recovery.store.payments import import_payments

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", url)
    engine = create_store_engine(url)
    upgrade(engine)
    at = run_page()
    at.radio(key="alerts_source").set_value("Case store").run()
    assert not at.exception
    assert any("no loans yet" in info.value for info in at.info)

    payments, loans = tables
    import_loans(engine, loans, actor="test", batch_size=500)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    assert any("no payment history" in info.value for info in at.info)
    assert any("import-payments" in info.value for info in at.info)

    import_payments(engine, payments, actor="test", batch_size=5_000)
    engine.dispose()
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    answer = expected(demo_env, tables, model, demo_env.settings.early_warning.threshold)
    assert metrics(at)["Alerts"] == len(answer)
    assert list(shown_alerts(at)[schema.LOAN_ID]) == list(answer[schema.LOAN_ID])


def test_app_navigation_opens_the_alerts_page(demo_env: Any) -> None:
    """app.py lists the Alerts page; switching to it draws the alerts of the demo."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, [item.value for item in at.exception]
    assert [item.value for item in at.title] == ["Early-warning alerts"]
    assert metrics(at)["Alerts"] > 0
