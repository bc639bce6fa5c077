"""Optional extras: what a command needs beyond the core install, and a clear refusal.

The core install (validate, train, score, plan, ...) must work without the REST API, the
dashboard, PostgreSQL or tuning. So the command line imports their modules only inside
the commands that use them, and checks first that the extra's packages are installed:
a missing one is a one-line message naming the extra and exit code 2, not a traceback
from deep inside an import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from loan_recovery.config import Settings
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.store.db import settings_url


class MissingExtraError(LoanRecoveryError, ImportError):
    """A command needs an optional extra whose packages are not installed."""


@dataclass(frozen=True)
class Extra:
    """An optional extra: its name in ``pip install 'loan-recovery[name]'``, what needs
    it (as the message says it) and the modules it installs."""

    name: str
    feature: str
    modules: tuple[str, ...]

    def message(self, missing: list[str]) -> str:
        """The one line a user reads: what needs the extra, how to install it, what is gone."""
        return (
            f"{self.feature} needs the [{self.name}] extra: pip install "
            f"'loan-recovery[{self.name}]' (not installed: {', '.join(missing)})"
        )


API = Extra("api", "the REST API", ("fastapi", "uvicorn", "prometheus_client"))
DASHBOARD = Extra("dashboard", "the dashboard", ("streamlit", "plotly"))
POSTGRES = Extra("postgres", "a PostgreSQL database_url", ("psycopg",))
TUNE = Extra("tune", "train --tune", ("optuna",))


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (streamlit takes seconds).

    A module set to None in ``sys.modules`` counts as missing, as the import system
    treats it.
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(extra: Extra) -> None:
    """Refuse with :class:`MissingExtraError` when a module of ``extra`` is missing."""
    missing = [module for module in extra.modules if not _installed(module)]
    if missing:
        raise MissingExtraError(extra.message(missing))


@contextmanager
def extra_imports(extra: Extra) -> Iterator[None]:
    """Check ``extra`` first, then turn a missing module met while importing the code that
    uses it (one of the extra's packages or something they need) into the same refusal."""
    require_extra(extra)
    try:
        yield
    except ModuleNotFoundError as error:
        raise MissingExtraError(extra.message([error.name or str(error)])) from None


def require_database_driver(settings: Settings) -> None:
    """Refuse a PostgreSQL ``database_url`` without psycopg before a command starts work.

    SQLite needs nothing beyond the core install, so only a ``postgresql`` URL is checked.
    """
    url = settings_url(settings)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        require_extra(POSTGRES)
