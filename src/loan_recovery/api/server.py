"""Running the API under uvicorn: checks first, then N worker processes.

Kept apart from :mod:`loan_recovery.api.app` so the command line can check and start a
server without importing FastAPI and the models into its own process: uvicorn imports
the app factory in each worker, which reads the settings from the environment. Options
the command line was given (config file, model folder) are therefore passed on as the
environment variables settings already read.

The server speaks HTTP/1.1 through h11, not httptools: h11 caps the request head it
buffers, httptools does not (a 64 MiB header cost the server 130 MB and was answered
200). :class:`HeadLimitedH11Protocol` adds deadlines on slow clients. What a request
may carry once its head is parsed is checked by :mod:`loan_recovery.api.limits`; every
limit comes from ``api.limits`` in the settings (``docs/http-limits.md``).

Logs are JSON lines (:func:`loan_recovery.api.logs.log_config`); the access line is the
app's own (it names route templates, not paths), so uvicorn's is always off.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import h11
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from loan_recovery.api.logs import log_config
from loan_recovery.api.request_id import REQUEST_ID_HEADER, new_request_id
from loan_recovery.config import CONFIG_FILE_ENV, HttpLimitsSettings, Settings
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.store.db import open_store

#: What uvicorn imports in each worker (called with no arguments: ``factory=True``).
APP_FACTORY = "loan_recovery.api.app:create_app"
MODELS_DIR_ENV = "LOAN_RECOVERY_MODELS_DIR"
#: :mod:`loan_recovery.api.problems`' media type and blank type, repeated so that module
#: (and FastAPI) stays out of the command line's process.
PROBLEM_MEDIA_TYPE = "application/problem+json"
BLANK_PROBLEM_TYPE = "about:blank"

logger = logging.getLogger("loan_recovery.api")


def check_serveable(settings: Settings) -> str:
    """Fail before starting when the server could not serve: the champion's version.

    Raises :class:`~loan_recovery.exceptions.ModelNotFoundError` without a champion and the
    store's errors when the database is unreachable or not migrated, each saying what to
    run. (A server started anyway would answer 503 on ``/ready`` until fixed.)
    """
    version = ModelRegistry(settings.registry_dir).resolve()
    open_store(settings).dispose()
    return version


def run_server(
    *,
    host: str,
    port: int,
    workers: int,
    config_file: Path | None = None,
    models_dir: Path | None = None,
    log_level: str = "info",
    access_log: bool = True,
    limits: HttpLimitsSettings | None = None,
) -> None:
    """Serve the API until interrupted; blocks. Settings come from the environment.

    ``limits`` (default: :class:`~loan_recovery.config.HttpLimitsSettings`' defaults)
    bound what one connection may cost: the head's size, slow clients, idle keep-alive
    connections, and how many connections and requests one worker holds.
    """
    limits = limits if limits is not None else HttpLimitsSettings()
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(Path(config_file).resolve())
    if models_dir is not None:
        os.environ[MODELS_DIR_ENV] = str(Path(models_dir).resolve())
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(log_level, access_log=access_log),
        access_log=False,  # the app writes its own access line (no paths in it)
        server_header=False,
        http=head_limited_protocol(limits.header_timeout),
        h11_max_incomplete_event_size=limits.max_header_bytes,
        ws="none",  # the API has no WebSocket routes
        timeout_keep_alive=limits.keep_alive_timeout,
        limit_concurrency=limits.max_concurrency,
    )


def head_limited_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """What ``uvicorn.run(http=...)`` takes: :class:`HeadLimitedH11Protocol`, deadline bound.

    A ``functools.partial`` of a module-level class, so it pickles into worker processes;
    uvicorn only ever calls it.
    """
    factory = functools.partial(HeadLimitedH11Protocol, header_timeout=header_timeout)
    return cast("type[asyncio.Protocol]", factory)


class HeadLimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on what a client sends unasked.

    h11 buffers at most ``config.h11_max_incomplete_event_size`` bytes of a head and
    refuses more; this answers that with 431 rather than uvicorn's bare 400. The
    deadline, ``header_timeout`` seconds, runs while a request head is incomplete (from
    the connection opening, or from the head's first byte on a kept-alive connection),
    and while the rest of a body the application did not read is still arriving after
    the response: there every byte restarts uvicorn's keep-alive timer, so one byte a
    second would hold the connection for ever. Past it: 408 if part of a head came,
    else the connection is just closed.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # stops uvicorn's keep-alive timer
        if self._reading_unasked():
            self._start_deadline()
        else:
            self._stop_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the keep-alive timer: it times idleness
        if self._reading_unasked() and (self._draining() or self._pending()):
            self._start_deadline()

    def send_400_response(self, msg: str) -> None:
        """431 when h11 refused the head for its size, else uvicorn's 400."""
        limit = self.config.h11_max_incomplete_event_size
        if limit is not None and len(self.conn.trailing_data[0]) > limit:
            self._answer_and_close(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"the request line and headers are over the limit of {limit:,} bytes.",
            )
            return
        super().send_400_response(msg)

    def _reading_unasked(self) -> bool:
        """Waiting for a request head, or for the rest of a body nobody reads."""
        if self.transport.is_closing():
            return False
        return self.conn.their_state is h11.IDLE or self._draining()

    def _draining(self) -> bool:
        """The response went out while the client was still sending the request body."""
        return self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE

    def _pending(self) -> bool:
        """Bytes of an incomplete head are buffered."""
        return bool(self.conn.trailing_data[0])

    def _start_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._deadline_passed)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if not self._reading_unasked():
            return
        if self.conn.their_state is h11.IDLE and self._pending():
            self._answer_and_close(
                HTTPStatus.REQUEST_TIMEOUT,
                f"the request head did not arrive within {self.header_timeout:g} s.",
                level=logging.INFO,
            )
        else:  # nothing sent yet, or the response already went out: just hang up
            self.transport.close()

    def _answer_and_close(
        self, status: HTTPStatus, detail: str, *, level: int = logging.WARNING
    ) -> None:
        """Answer a head that was never read whole with a problem document, and hang up.

        The fields of :class:`loan_recovery.api.problems.Problem` but ``instance`` (no
        path was read), written here so the command line never imports FastAPI; a fresh
        request id joins the answer to its log line (logged at ``level``).
        """
        request_id = new_request_id()
        logger.log(
            level,
            "request head from %s refused with %s: %s",
            self.client,
            status.value,
            detail,
            extra={"request_id": request_id, "status": status.value},
        )
        problem = {
            "type": BLANK_PROBLEM_TYPE,
            "title": status.phrase,
            "status": status.value,
            "detail": detail,
            "request_id": request_id,
        }
        body = json.dumps(problem, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"content-length: {len(body)}\r\n"
            f"{REQUEST_ID_HEADER.lower()}: {request_id}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
