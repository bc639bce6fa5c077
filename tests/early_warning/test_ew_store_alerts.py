"""Alerts from the case store: the stored history reads back as the file it came from, and
the store gives exactly the alerts the files give; an empty store says what to import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from db_support import PostgresDatabases, migrate_sqlite
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.alerts import (
    NoStoredHistoryError,
    alerts_page,
    run_alerts,
    run_alerts_store,
    score_early_warning,
)
from loan_recovery.models.early_warning import EarlyWarningBundle, EarlyWarningTraining
from loan_recovery.simulation.payments import SimulatedPayments
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.store.db import (
    Store,
    open_store,
)
from loan_recovery.store.loans import import_loans
from loan_recovery.store.payments import (
    import_payments,
    payment_count,
    payments_stamp,
    read_payment_table,
)


@pytest.fixture(scope="module")
def bundle(
    ew_training: EarlyWarningTraining, tmp_path_factory: pytest.TempPathFactory
) -> EarlyWarningBundle:
    """The session's trained model as a registry version would hand it out."""
    return EarlyWarningBundle(
        version="v0001",
        path=tmp_path_factory.mktemp("ew-bundle"),
        metadata={},
        model=ew_training.model,
    )


@pytest.fixture(scope="module")
def validated_loans(ew_portfolio: SimulatedPortfolio, settings: Settings) -> pd.DataFrame:
    """The simulated loans as `validate` (and so `import`) keeps them."""
    result = validate_frame(ew_portfolio.loans, settings=settings)
    assert result.rejected == 0
    return result.table


def _migrated(path: Path) -> str:
    return f"sqlite:///{migrate_sqlite(path)}"


@pytest.fixture(scope="module")
def full_store(
    tmp_path_factory: pytest.TempPathFactory,
    validated_loans: pd.DataFrame,
    ew_payments: SimulatedPayments,
) -> Iterator[Store]:
    """A SQLite store holding the 3,000 loans and their 18-month instalment history."""
    store = open_store(_migrated(tmp_path_factory.mktemp("ew-store") / "store.db"))
    import_loans(store.engine, validated_loans, actor="test", batch_size=5_000)
    imported = import_payments(store.engine, ew_payments.history, actor="test", batch_size=50_000)
    assert imported.counts.inserted == len(ew_payments.history)
    yield store
    store.dispose()


def _sorted_history(history: pd.DataFrame) -> pd.DataFrame:
    ordered = history.sort_values([schema.LOAN_ID, schema.DUE_DATE], kind="stable")
    return ordered[list(schema.PAYMENT_COLUMNS)].reset_index(drop=True)


def test_the_stored_history_reads_back_as_the_file_it_came_from(
    full_store: Store, ew_payments: SimulatedPayments
) -> None:
    """Gives the imported history; expects read_payment_table to return the same rows and
    values in the payment layout, dates as datetime64[us] and blanks as NaT."""
    with full_store.transaction() as session:
        back = read_payment_table(session.connection())
        some = read_payment_table(session.connection(), loan_ids=["nope", back.iloc[0, 0]])
        count = payment_count(session.connection())
    assert list(back.columns) == list(schema.PAYMENT_COLUMNS)
    assert str(back[schema.DUE_DATE].dtype) == "datetime64[us]"
    assert str(back[schema.PAID_DATE].dtype) == "datetime64[us]"
    assert back[schema.PAID_DATE].isna().any()  # missed instalments stay blank
    pd.testing.assert_frame_equal(back, _sorted_history(ew_payments.history), check_dtype=False)
    assert set(some[schema.LOAN_ID]) == {back.iloc[0, 0]}
    assert count == len(ew_payments.history)


def test_store_alerts_equal_the_alerts_of_the_files(
    full_store: Store,
    validated_loans: pd.DataFrame,
    ew_payments: SimulatedPayments,
    bundle: EarlyWarningBundle,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Gives the same loans and history as files and in the store; expects identical alerts
    (loans, order, scores, patterns, actions, reasons), cut-off 2026-06-30, and the file
    written by --out to hold them."""
    expected = run_alerts(ew_payments.history, validated_loans, model=bundle, settings=settings)
    outcome = run_alerts_store(
        full_store, settings=settings, bundle=bundle, out=tmp_path / "alerts.csv"
    )
    assert len(expected) > 20
    pd.testing.assert_frame_equal(outcome.alerts, expected)
    assert outcome.cutoff == pd.Timestamp("2026-06-30")
    assert outcome.version == "v0001"
    assert outcome.payments is None
    assert outcome.loans is None
    assert outcome.rejected == 0
    assert "3,000 loans" in outcome.source
    assert outcome.out_path is not None
    written = pd.read_csv(outcome.out_path)
    assert written[schema.LOAN_ID].astype(str).tolist() == expected[schema.LOAN_ID].tolist()


def test_a_session_gives_the_same_alerts_as_the_store(
    full_store: Store, bundle: EarlyWarningBundle, settings: Settings
) -> None:
    """Gives the store's session instead of the store (as the API does); expects the same
    alerts at an explicit earlier cut-off and threshold."""
    by_store = run_alerts_store(
        full_store, settings=settings, bundle=bundle, cutoff="2026-05-31", threshold=0.5
    )
    with full_store.transaction() as session:
        by_session = run_alerts_store(
            session, settings=settings, bundle=bundle, cutoff="2026-05-31", threshold=0.5
        )
    pd.testing.assert_frame_equal(by_session.alerts, by_store.alerts)
    assert by_store.cutoff == pd.Timestamp("2026-05-31")
    assert (by_store.alerts[schema.EARLY_WARNING_SCORE] >= 0.5).all()


def test_pages_of_alerts_add_up_to_the_whole_list(
    validated_loans: pd.DataFrame,
    ew_payments: SimulatedPayments,
    bundle: EarlyWarningBundle,
    settings: Settings,
) -> None:
    """Gives pages of 7; expects them to concatenate to the full list with the same total,
    and the suggested_action filter to keep exactly the reminder alerts in order."""
    scored = score_early_warning(
        ew_payments.history, validated_loans, model=bundle, settings=settings
    )
    full = run_alerts(ew_payments.history, validated_loans, model=bundle, settings=settings)
    pages, offset = [], 0
    while True:
        page, total = alerts_page(
            scored, validated_loans, model=bundle, settings=settings, limit=7, offset=offset
        )
        assert total == len(full)
        if page.empty:
            break
        pages.append(page)
        offset += 7
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), full)
    reminders, total = alerts_page(
        scored,
        validated_loans,
        model=bundle,
        settings=settings,
        suggested_action="reminder",
        limit=1_000,
    )
    wanted = full[full[schema.SUGGESTED_ACTION] == "reminder"].reset_index(drop=True)
    assert total == len(wanted) > 0
    pd.testing.assert_frame_equal(reminders, wanted)


def test_an_empty_store_and_a_store_without_installments_say_what_to_import(
    tmp_path: Path,
    validated_loans: pd.DataFrame,
    bundle: EarlyWarningBundle,
    settings: Settings,
) -> None:
    """Gives an empty store, then one with loans only; expects NoStoredHistoryError naming
    `import`, then `import-payments`, with what is missing."""
    store = open_store(_migrated(tmp_path / "empty.db"))
    try:
        with pytest.raises(NoStoredHistoryError, match="loan-recovery import FILE") as no_loans:
            run_alerts_store(store, settings=settings, bundle=bundle)
        assert no_loans.value.missing == "loans"
        import_loans(store.engine, validated_loans.head(20), actor="test", batch_size=100)
        with pytest.raises(NoStoredHistoryError, match="import-payments") as no_payments:
            run_alerts_store(store, settings=settings, bundle=bundle)
        assert no_payments.value.missing == "installments"
    finally:
        store.dispose()


# --- both backends ------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh migrated store on each backend (PostgreSQL needs the test server)."""
    if request.param == "sqlite":
        store = open_store(_migrated(tmp_path / "store.db"))
        yield store
        store.dispose()
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create_migrated()
    url = databases.url(name)
    store = open_store(url)
    yield store
    store.dispose()
    databases.drop(name)


def test_store_alerts_agree_on_both_backends(
    any_store: Store,
    validated_loans: pd.DataFrame,
    ew_payments: SimulatedPayments,
    bundle: EarlyWarningBundle,
    settings: Settings,
) -> None:
    """Gives 300 loans and their history on SQLite and PostgreSQL; expects the history to
    read back unchanged, the stamp to move on an import, and the files' alerts."""
    loans = validated_loans.head(300)
    history = ew_payments.history[ew_payments.history[schema.LOAN_ID].isin(loans[schema.LOAN_ID])]
    import_loans(any_store.engine, loans, actor="test", batch_size=1_000)
    with any_store.transaction() as session:
        before = payments_stamp(session.connection())
    import_payments(any_store.engine, history, actor="test", batch_size=10_000)
    with any_store.transaction() as session:
        back = read_payment_table(session.connection())
        after = payments_stamp(session.connection())
    assert before != after
    pd.testing.assert_frame_equal(back, _sorted_history(history), check_dtype=False)
    expected = run_alerts(history, loans, model=bundle, settings=settings, threshold=0.2)
    found = run_alerts_store(any_store, settings=settings, bundle=bundle, threshold=0.2)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(found.alerts, expected)
