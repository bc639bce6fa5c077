"""Case-store commands: its schema's migrations (``db``) and the API keys (``apikey``).

Each checks first that the configured database can be reached with what is installed
(a PostgreSQL URL needs the [postgres] extra).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from loan_recovery.cli.common import (
    JsonOption,
    current_settings,
    echo_json,
    stderr_console,
    stdout_console,
    user_errors,
)
from loan_recovery.cli.extras import require_database_driver
from loan_recovery.config import Settings
from loan_recovery.jobs.store import MigrationState, migration_state, run_migrate
from loan_recovery.store.apikeys import ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key
from loan_recovery.store.audit import CLI_ACTOR
from loan_recovery.store.db import open_store
from loan_recovery.store.models import Role

db_app = typer.Typer(
    help="The case store's schema: apply or undo migrations, show the revision.",
    no_args_is_help=True,
)
apikey_app = typer.Typer(
    help="API keys: create (the key is shown once), list, revoke.", no_args_is_help=True
)


def _store_settings() -> Settings:
    """Settings of a command that opens the case store, its database driver checked."""
    settings = current_settings()
    require_database_driver(settings)
    return settings


def _report_state(found: MigrationState, *, as_json: bool) -> None:
    """Where the database stands: a line, or ``db --json``'s document."""
    if as_json:
        echo_json(
            {
                "database": found.database,
                "current": found.current,
                "head": found.head,
                "up_to_date": found.up_to_date,
            }
        )
        return
    where = "head" if found.up_to_date else f"head is {found.head}"
    current = found.current or "none (empty database)"
    stdout_console().print(f"Database {found.database} at revision [bold]{current}[/] ({where})")


@db_app.command("upgrade")
@user_errors
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
    as_json: JsonOption = False,
) -> None:
    """Create or migrate the store's tables (SQLite under var/ unless DATABASE_URL says).

    --json prints {"database", "current", "head", "up_to_date"}: the database (password
    hidden), its revision now, the code's head revision and whether they match.
    """
    found = run_migrate(_store_settings(), direction="upgrade", revision=revision)
    _report_state(found, as_json=as_json)


@db_app.command("downgrade")
@user_errors
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Revision to return to; 'base' drops every table.")
    ] = "-1",
    as_json: JsonOption = False,
) -> None:
    """Undo migrations (default: the last one). 'base' deletes all stored data.

    --json prints {"database", "current", "head", "up_to_date"}: the database (password
    hidden), its revision now (null at base), the head revision and whether they match.
    """
    found = run_migrate(_store_settings(), direction="downgrade", revision=revision)
    _report_state(found, as_json=as_json)


@db_app.command("current")
@user_errors
def db_current(as_json: JsonOption = False) -> None:
    """Show the database's revision and whether it is up to date.

    --json prints {"database", "current", "head", "up_to_date"}: the database (password
    hidden), its revision (null when empty), the head revision and whether they match.
    """
    found = migration_state(_store_settings())
    _report_state(found, as_json=as_json)
    if not found.up_to_date and not as_json:
        stdout_console().print("Run [bold]loan-recovery db upgrade[/] to bring it up to date.")


def _key_payload(info: ApiKeyInfo) -> dict[str, Any]:
    """One key as ``apikey`` commands print it in JSON: never the key itself."""
    return {
        "key_id": info.key_id,
        "name": info.name,
        "role": info.role,
        "created_at": info.created_at.isoformat(),
        "revoked_at": None if info.revoked_at is None else info.revoked_at.isoformat(),
    }


@apikey_app.command("create")
@user_errors
def apikey_create(
    role: Annotated[Role, typer.Option(help="viewer: read; agent: work cases; admin: all.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key; the audit log's actor.")],
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once: only its hash is stored.

    --json prints {"key_id", "name", "role", "created_at", "revoked_at", "key"}: the new
    key's listing and, this once, the key.
    """
    store = open_store(_store_settings())
    try:
        with store.transaction() as session:
            created = create_api_key(session, name=name, role=role.value, actor=CLI_ACTOR)
    finally:
        store.dispose()
    info = created.info
    stderr_console().print(
        f"Created API key [bold]{info.key_id}[/] for {info.name} ({info.role}). "
        "This is the only time it is shown; store it now:",
        highlight=False,
    )
    if as_json:
        echo_json(_key_payload(info) | {"key": created.key})
        return
    typer.echo(created.key)


def _keys_table(keys: list[ApiKeyInfo]) -> Table:
    table = Table(title="API keys")
    for header in ("id", "name", "role", "created (UTC)", "revoked (UTC)"):
        table.add_column(header)
    for key in keys:
        revoked = "" if key.revoked_at is None else f"{key.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(key.key_id, key.name, key.role, f"{key.created_at:%Y-%m-%d %H:%M}", revoked)
    return table


@apikey_app.command("list")
@user_errors
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """List API keys (ids, names, roles; never the keys)."""
    store = open_store(_store_settings())
    try:
        with store.transaction() as session:
            keys = list_api_keys(session)
    finally:
        store.dispose()
    if as_json:
        typer.echo(json.dumps([_key_payload(key) for key in keys]))
        return
    stdout_console().print(_keys_table(keys))


@apikey_app.command("revoke")
@user_errors
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id, as `apikey list` shows.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key: it stops working at once; its audit trail stays.

    --json prints {"key_id", "name", "role", "created_at", "revoked_at"}: the key as
    `apikey list --json` now lists it.
    """
    store = open_store(_store_settings())
    try:
        with store.transaction() as session:
            info = revoke_api_key(session, key_id=key_id, actor=CLI_ACTOR)
    finally:
        store.dispose()
    if as_json:
        echo_json(_key_payload(info))
        return
    stdout_console().print(f"API key [bold]{info.key_id}[/] ({info.name}) revoked")
