"""Errors of the case store.

They subclass :class:`LoanRecoveryError` (so the CLI prints them without a traceback and
the API maps them to HTTP statuses) and the matching built-in, as every domain error does.
"""

from __future__ import annotations

from loan_recovery.exceptions import LoanRecoveryError

#: What every "the schema is not there yet" message tells the user to run.
UPGRADE_HINT = "run `loan-recovery db upgrade`"


class StoreError(LoanRecoveryError, RuntimeError):
    """The case store cannot do what was asked."""


class DatabaseUnavailableError(StoreError, ConnectionError):
    """The database cannot be reached or opened (wrong host, credentials, missing driver)."""


class DatabaseNotMigratedError(StoreError):
    """The database's schema is missing or older than this code expects."""


class NotFoundError(StoreError, LookupError):
    """A loan, action or API key named by the caller does not exist (API: 404)."""


class InvalidRequestError(StoreError, ValueError):
    """A write the store refuses: unknown action, impossible status change (API: 409/422)."""
