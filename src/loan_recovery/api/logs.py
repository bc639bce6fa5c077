"""Logging of the API server: one JSON object per line, never request or response bodies.

Bodies carry borrowers' names, phone numbers and email addresses, and paths carry
Loan_IDs, so no logger may see either. What is logged, and why it is safe:

* the access log (``loan_recovery.api.access``, one line per request, written by
  :class:`~loan_recovery.api.observe.ObservabilityMiddleware`): method, the route's
  *template* (``/v1/loans/{loan_id}``, not the path), status and duration. uvicorn's own
  access log, which prints the path and query, is switched off;
* this package's ``loan_recovery`` loggers: start-up, model loading, database errors by
  type, and unexpected errors by type and stack frames, without exception messages (see
  :mod:`loan_recovery.api.errors`);
* everything that could dump payloads is held at WARNING whatever the server's level:
  uvicorn's ASGI message trace, SQLAlchemy's statement echo (engines already hide bound
  parameters) and the HTTP client libraries.

Every line is a JSON object (:class:`JsonFormatter`) with ``time``, ``level``,
``logger``, ``message`` and ``request_id`` (the request being served when the line was
written, null outside one), plus the access fields in :data:`LOG_FIELDS`. A log shipper
parses lines without a grammar, and one request's lines are found by its id.
"""

from __future__ import annotations

import copy
import json
import logging
import traceback
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from loan_recovery.api.request_id import current_request_id

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
#: The logger of one line per request (method, route template, status, duration).
ACCESS_LOGGER = "loan_recovery.api.access"
#: Fields a record may add to its line (through ``extra=``); nothing else is written, so
#: a value passed in ``extra`` by mistake (a loan, a body) never reaches the log.
LOG_FIELDS: tuple[str, ...] = ("method", "route", "status", "duration_ms")


class LogLevel(StrEnum):
    """Levels the server accepts; not uvicorn's ``trace``, which prints every ASGI message."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


LEVELS: tuple[str, ...] = tuple(level.value for level in LogLevel)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served where it was logged.

    A handler filter runs in the thread and context of the logging call, so it sees the
    request's context variable; the formatter may run later and elsewhere.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON; an exception by its type and frames, not its message.

    Exception messages of libraries can quote the values they choked on (a phone number),
    so a traceback is written without its last line, as :mod:`loan_recovery.api.errors`
    logs them.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update({name: getattr(record, name) for name in LOG_FIELDS if hasattr(record, name)})
        if record.exc_info is not None and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["frames"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, default=str)


def log_config(level: str = "info", *, access_log: bool = True) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``uvicorn.run`` (and each of its workers).

    ``level`` applies to uvicorn and this package; ``access_log`` turns the per-request
    line on or off. ``trace`` is refused because uvicorn's trace level prints every ASGI
    message the server passes.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}; got {level!r}.")
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": RequestIdFilter}}
    config["formatters"] = {"json": {"()": JsonFormatter}}
    for handler in config["handlers"].values():  # uvicorn's: default (stderr), access (stdout)
        handler["formatter"] = "json"
        handler["filters"] = ["request_id"]
    loggers: dict[str, Any] = config["loggers"]
    upper = level.upper()
    loggers["uvicorn"]["level"] = upper
    loggers["uvicorn.error"]["level"] = upper
    loggers["uvicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
    loggers["loan_recovery"] = {"handlers": ["default"], "level": upper, "propagate": False}
    loggers[ACCESS_LOGGER] = {
        "handlers": ["access"],
        "level": upper if access_log else "WARNING",
        "propagate": False,
    }
    for name in QUIET_LOGGERS:
        loggers[name] = {"level": "WARNING"}
    return config
