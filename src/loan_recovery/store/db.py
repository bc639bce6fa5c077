"""Connecting to the case store and migrating it.

SQLite (a file under ``var/``) is the default so the store works on one machine with
nothing installed; PostgreSQL is chosen by URL (``postgresql://...`` uses psycopg 3). The
schema changes only through the Alembic migrations shipped in this package, run from
Python (no ``alembic.ini``): :func:`upgrade`, :func:`downgrade`, :func:`current_revision`.
:func:`open_store` refuses a database whose schema is not at this code's head revision, so
a command never fails half-way on a missing table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from loan_recovery.config import Settings
from loan_recovery.exceptions import ConfigError
from loan_recovery.store.errors import (
    UPGRADE_HINT,
    DatabaseNotMigratedError,
    DatabaseUnavailableError,
    StoreError,
)

#: Alembic's ``package:folder`` spelling of the migrations shipped inside the package.
MIGRATIONS_LOCATION = "loan_recovery.store:migrations"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_POSTGRES_DRIVER = "psycopg"
_SQLITE_BUSY_TIMEOUT_MS = 30_000


# --- URLs ---------------------------------------------------------------------------------
def parse_database_url(text: str) -> URL:
    """The SQLAlchemy URL of ``text``, with ``postgresql://`` mapped to psycopg 3.

    Raises :class:`ConfigError` for text that is not a URL or names another database.
    """
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"database_url must look like sqlite:///var/loan_recovery.db or "
            f"postgresql://user:password@host:5432/name; got {_hide_password(text)!r}."
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"database_url must name one of {', '.join(SUPPORTED_BACKENDS)}; "
            f"got {url.drivername!r}."
        )
    if backend == "postgresql" and not driver:
        driver = _POSTGRES_DRIVER
    return url.set(drivername=f"{backend}+{driver}" if driver else backend)


def shown_url(url: URL | str) -> str:
    """The URL as text with any password hidden: safe for messages and logs."""
    if isinstance(url, str):
        return _hide_password(url)
    return url.render_as_string(hide_password=True)


def _hide_password(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a URL>"


def settings_url(settings: Settings) -> URL:
    """The store URL the settings select (default: SQLite under ``var_dir``)."""
    return parse_database_url(settings.database_url_or_default)


# --- engines ------------------------------------------------------------------------------
def create_store_engine(url: URL | str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, foreign keys enforced.

    SQLite runs in WAL mode so readers (API, dashboard) never block an import's writes,
    and with a busy timeout so two writers wait for each other instead of failing.
    Statement parameters are never put into error messages: they may hold a borrower's
    name, phone or email, and error messages end up in terminals and logs.
    """
    url = parse_database_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except (NoSuchModuleError, ImportError) as error:
        raise DatabaseUnavailableError(
            f"no database driver for {url.drivername}: {error}. PostgreSQL needs psycopg 3 "
            "(pip install 'psycopg[binary]')."
        ) from None


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


@contextmanager
def _connection(engine: Engine) -> Iterator[sa.Connection]:
    """A connection, or :class:`DatabaseUnavailableError` naming the database and why."""
    try:
        connection = engine.connect()
    except DBAPIError as error:
        raise DatabaseUnavailableError(
            f"cannot connect to {shown_url(engine.url)}: {_first_line(error.orig)}"
        ) from None
    with connection:
        yield connection


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else "unknown error"
    return text.splitlines()[0] if text else type(error).__name__


# --- migrations ---------------------------------------------------------------------------
def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic settings pointing at the packaged migrations; no ini file involved.

    ``connection`` is handed to ``env.py`` so migrations run on the caller's connection
    (one transaction, and the same in-memory or temporary database the caller uses).
    """
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise StoreError("no migrations found in the package; the installation is broken.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with _connection(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision reached."""
    _run(engine, "upgrade", revision)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str = "-1") -> str | None:
    """Undo migrations down to ``revision`` (``base``: drop everything); returns it."""
    _run(engine, "downgrade", revision)
    return current_revision(engine)


def _run(engine: Engine, direction: str, revision: str) -> None:
    with _connection(engine) as connection:
        config = alembic_config(connection)
        try:
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        except CommandError as error:
            raise StoreError(f"cannot {direction} to {revision!r}: {error}") from None
        connection.commit()


def check_migrated(engine: Engine) -> None:
    """Raise :class:`DatabaseNotMigratedError` unless the schema is at the head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = shown_url(engine.url)
    if current is None:
        raise DatabaseNotMigratedError(f"the database {where} has no tables yet; {UPGRADE_HINT}.")
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if current not in known:
        raise DatabaseNotMigratedError(
            f"the database {where} is at revision {current}, which this version of "
            "loan-recovery does not know (is it newer?); upgrade the package."
        )
    raise DatabaseNotMigratedError(
        f"the database {where} is at revision {current}, this code needs {head}; {UPGRADE_HINT}."
    )


# --- the store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Store:
    """An engine and its session factory: what the CLI, jobs and the API's lifespan hold."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(url: URL | str | Settings, *, check: bool = True) -> Store:
    """A :class:`Store` for ``url`` (or the settings' URL), checked to be migrated.

    ``check=False`` skips the revision check (the ``db`` commands use it: they exist to
    fix a database that is not migrated).
    """
    if isinstance(url, Settings):
        url = settings_url(url)
    engine = create_store_engine(url)
    try:
        if check:
            check_migrated(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


@contextmanager
def store_session_scope(settings: Settings, store: Store | None = None) -> Iterator[Store]:
    """``store`` when the caller holds one (left open), else one opened for the block and
    disposed after it: jobs take an optional store so the API can share its own."""
    if store is not None:
        yield store
        return
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.dispose()
