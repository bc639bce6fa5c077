"""Migrations: the migrated schema is the models' schema, and it goes up and down cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import load_settings
from loan_recovery.exceptions import ConfigError
from loan_recovery.store.db import (
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    open_store,
    parse_database_url,
    settings_url,
    upgrade,
)
from loan_recovery.store.errors import DatabaseNotMigratedError, DatabaseUnavailableError
from loan_recovery.store.models import Base

runner = CliRunner()


def _differences(url: str) -> list[object]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_store_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_models(empty_url: str) -> None:
    """Gives an empty database; upgrades to head; expects no autogenerate differences.

    A failure here means the models changed without a migration: write one.
    """
    engine = create_store_engine(empty_url)
    assert upgrade(engine) == head_revision()
    engine.dispose()
    assert _differences(empty_url) == []


def test_upgrade_downgrade_base_upgrade_round_trip(empty_url: str) -> None:
    """Upgrades, downgrades to base (nothing left), upgrades again; expects the same schema."""
    engine = create_store_engine(empty_url)
    upgrade(engine)
    created = _tables(empty_url)
    assert {"loans", "borrowers", "scores", "actions", "outcomes", "audit_log"} <= created
    assert downgrade(engine, "base") is None
    assert _tables(empty_url) <= {"alembic_version"}
    assert upgrade(engine) == head_revision()
    engine.dispose()
    assert _tables(empty_url) == created
    assert _differences(empty_url) == []


def test_unmigrated_database_is_refused_with_the_fix(empty_url: str) -> None:
    """Gives an empty database; expects open_store to say to run `loan-recovery db upgrade`."""
    with pytest.raises(DatabaseNotMigratedError, match="loan-recovery db upgrade"):
        open_store(empty_url)
    engine = create_store_engine(empty_url)
    assert current_revision(engine) is None
    engine.dispose()


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("postgresql://u:secret@db:5432/lr", "postgresql+psycopg"),
        ("postgres://u@db/lr", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/lr", "postgresql+psycopg"),
        ("sqlite:///var/x.db", "sqlite"),
    ],
)
def test_urls_map_to_supported_drivers(text: str, driver: str) -> None:
    """Expects bare postgresql:// to use psycopg 3, and other URLs kept as given."""
    assert parse_database_url(text).drivername == driver


@pytest.mark.parametrize("text", ["mysql://u@h/db", "not a url", ""])
def test_bad_urls_are_config_errors_without_the_password(text: str) -> None:
    """Expects unsupported or malformed URLs to raise ConfigError."""
    with pytest.raises(ConfigError, match="database_url"):
        parse_database_url(text)


def test_default_url_is_a_sqlite_file_under_var(tmp_path: Path) -> None:
    """Expects no database_url -> sqlite file var_dir/loan_recovery.db; env overrides."""
    assert settings_url(load_settings(var_dir=tmp_path, database_url=None)).database == str(
        tmp_path / "loan_recovery.db"
    )
    chosen = load_settings(database_url="postgresql://u:pw@h/db")
    assert settings_url(chosen).drivername == "postgresql+psycopg"


def test_unreachable_postgres_is_a_clear_error() -> None:
    """Expects a refused connection to name the database (password hidden), no traceback."""
    engine = create_store_engine("postgresql://u:topsecret@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailableError, match="cannot connect") as caught:
        current_revision(engine)
    assert "topsecret" not in str(caught.value)


def test_db_commands_upgrade_show_and_downgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drives `db current/upgrade/downgrade` on the default SQLite file; expects revisions."""
    monkeypatch.setenv("LOAN_RECOVERY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LOAN_RECOVERY_DATABASE_URL", raising=False)
    head = head_revision()
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert "none" in before.stdout
    assert "db upgrade" in before.stdout
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"revision {head} (head)" in upgraded.stdout
    assert (tmp_path / "var" / "loan_recovery.db").is_file()
    down = runner.invoke(app, ["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    assert "none" in down.stdout


def test_commands_on_an_unmigrated_database_exit_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expects `apikey list` on an empty database to exit 2 with the fix, no traceback."""
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["apikey", "list"])
    assert result.exit_code == 2
    assert "loan-recovery db upgrade" in result.output
    assert "Traceback" not in result.output
    bad = runner.invoke(app, ["db", "current"], env={"LOAN_RECOVERY_DATABASE_URL": "oracle://x"})
    assert bad.exit_code == 2
    assert "database_url" in bad.output
