"""Alembic environment of the case store, run from Python by :mod:`loan_recovery.store.db`.

The caller hands over an open connection (``config.attributes["connection"]``), so
migrations run inside its transaction on its database; ``sqlalchemy.url`` is the fallback
for running Alembic by hand. SQLite gets batch mode, since it can only alter a table by
copying it.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from loan_recovery.store.models import Base, UtcDateTime


def _render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes plain SQLAlchemy types, so revisions never import the models."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes.")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as own_connection:
        _configure(own_connection)
        own_connection.commit()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
