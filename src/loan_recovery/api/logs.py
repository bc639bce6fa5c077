"""Logging of the API server: request lines and errors, never request or response bodies.

Bodies carry borrowers' names, phone numbers and email addresses, so no logger may see
them. What is logged, and why it is safe:

* uvicorn's access log: client address, method, path with query, status. Paths and
  queries hold loan ids, filters and key ids, never personal data (it travels only in
  JSON bodies);
* this package's ``loan_recovery`` loggers: start-up, model loading, database errors by
  type, and unexpected errors by type and stack frames, without exception messages (see
  :mod:`loan_recovery.api.errors`);
* everything that could dump payloads is held at WARNING whatever the server's level:
  uvicorn's ASGI message trace, SQLAlchemy's statement echo (engines already hide bound
  parameters) and the HTTP client libraries.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any

from uvicorn.config import LOGGING_CONFIG

#: Loggers that can print request content at verbose levels; never below WARNING.
QUIET_LOGGERS: tuple[str, ...] = (
    "uvicorn.asgi",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "multipart",
    "python_multipart",
)


class LogLevel(StrEnum):
    """Levels the server accepts; not uvicorn's ``trace``, which prints every ASGI message."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


LEVELS: tuple[str, ...] = tuple(level.value for level in LogLevel)


def log_config(level: str = "info", *, access_log: bool = True) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``uvicorn.run`` (and each of its workers).

    ``level`` applies to uvicorn and this package; ``trace`` is refused because uvicorn's
    trace level prints every ASGI message the server passes.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}; got {level!r}.")
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    loggers: dict[str, Any] = config["loggers"]
    upper = level.upper()
    loggers["uvicorn"]["level"] = upper
    loggers["uvicorn.error"]["level"] = upper
    loggers["uvicorn.access"]["level"] = upper if access_log else "WARNING"
    loggers["loan_recovery"] = {"handlers": ["default"], "level": upper, "propagate": False}
    for name in QUIET_LOGGERS:
        loggers[name] = {"level": "WARNING"}
    return config
