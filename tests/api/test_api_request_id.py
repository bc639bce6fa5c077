"""The request id and the JSON log: echoed, kept or replaced, and on every log line."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import pytest
from api_support import ApiClient, JsonLog

from loan_recovery.api.deps import get_models
from loan_recovery.api.logs import ACCESS_LOGGER, JsonFormatter, RequestIdFilter, log_config
from loan_recovery.api.request_id import accepted_request_id, bind_request_id, unbind_request_id
from loan_recovery.exceptions import ModelError
from loan_recovery.store.models import Role

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_sane_client_request_id_is_echoed_and_logged(api: ApiClient, json_log: JsonLog) -> None:
    """Sends X-Request-ID 'client.trace-42_A'; expects it echoed and on the access line,
    with the route template, status and a duration."""
    sent = "client.trace-42_A"
    answer = api.client.get(
        "/v1/segments", headers={**api.as_role(Role.VIEWER), "X-Request-ID": sent}
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == sent
    (line,) = [line for line in json_log.access() if line["request_id"] == sent]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/segments", 200)
    assert line["level"] == "INFO"
    assert line["duration_ms"] > 0


@pytest.mark.parametrize(
    "sent",
    ["has space", "x" * 65, "+447911123456", 'quote"d', "semi;colon", ""],
    ids=["space", "too long", "phone", "quote", "semicolon", "empty"],
)
def test_a_request_id_that_is_not_a_plain_token_is_replaced(
    api: ApiClient, json_log: JsonLog, sent: str
) -> None:
    """Sends an id with a space, 65 characters, a '+', a quote, a ';' or nothing; expects
    a generated id instead, on the answer and the access line, and the sent text nowhere
    in the log."""
    answer = api.client.get(
        "/v1/segments", headers={**api.as_role(Role.VIEWER), "X-Request-ID": sent}
    )
    given = answer.headers["x-request-id"]
    assert GENERATED.fullmatch(given)
    assert [line["request_id"] for line in json_log.access()] == [given]
    if sent:
        assert sent not in json_log.text()


def test_without_a_request_id_each_request_gets_its_own(api: ApiClient, json_log: JsonLog) -> None:
    """Sends two requests without X-Request-ID; expects two different generated ids, each
    on its own access line."""
    ids = [
        api.client.get("/v1/segments", headers=api.as_role(Role.VIEWER)).headers["x-request-id"]
        for _ in range(2)
    ]
    assert all(GENERATED.fullmatch(given) for given in ids)
    assert ids[0] != ids[1]
    assert [line["request_id"] for line in json_log.access()] == ids


def test_answers_of_the_middleware_and_lines_of_the_handlers_carry_the_id(
    api: ApiClient, json_log: JsonLog
) -> None:
    """Sends a keyless request (refused by the limits middleware before routing) and one
    whose model dependency fails (a 503 its handler logs); expects the id on both
    answers, in both problems, and on the handler's warning line."""
    refused = api.client.post("/v1/score", json={"loans": []}, headers={"X-Request-ID": "r-401"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == refused.json()["request_id"] == "r-401"

    def unavailable() -> None:
        raise ModelError("the champion is being replaced")

    app = api.client.app
    app.dependency_overrides[get_models] = unavailable  # type: ignore[attr-defined]
    try:
        failed = api.client.get(
            "/v1/models/champion", headers={**api.as_role(Role.VIEWER), "X-Request-ID": "r-503"}
        )
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert failed.status_code == 503
    assert failed.json()["request_id"] == "r-503"
    by_id = {(line["request_id"], line["logger"]) for line in json_log.lines()}
    assert ("r-503", "loan_recovery.api") in by_id  # the handler's "503: ..." warning
    assert ("r-401", ACCESS_LOGGER) in by_id
    assert ("r-503", ACCESS_LOGGER) in by_id


def test_accepted_request_ids() -> None:
    """Gives ids at and past the limits; expects 64 plain characters kept, the rest new."""
    assert accepted_request_id("a" * 64) == "a" * 64
    assert accepted_request_id("A.b_c-9") == "A.b_c-9"
    for bad in (None, "a" * 65, "a\n", "é", "a/b", "a b"):
        assert GENERATED.fullmatch(accepted_request_id(bad)), bad


def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("loan_recovery.api", logging.ERROR, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_the_json_formatter_writes_only_known_fields_and_no_exception_message() -> None:
    """Formats a record with an allowed field, an unknown one holding a phone number and
    an exception whose message quotes it; expects one JSON object with the allowed field,
    the exception's type and frames, and the phone number nowhere."""
    phone = "+44" + "7911123456"  # built, so the frame's source line does not hold it
    try:
        raise ValueError(f"cannot parse {phone}")
    except ValueError:
        exc_info = sys.exc_info()
    record = _record("unexpected error", route="/v1/score", borrower="+447911123456")
    record.exc_info = exc_info
    token = bind_request_id("req-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        unbind_request_id(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-1"
    assert entry["route"] == "/v1/score"
    assert entry["exception"] == "ValueError"
    assert "raise ValueError" in entry["frames"]
    assert "447911123456" not in line
    assert set(entry) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "route",
        "exception",
        "frames",
    }


def test_the_server_log_config_writes_json_and_only_the_apps_access_line() -> None:
    """Gives info with and without access lines; expects JSON on every handler with the
    request id filter, uvicorn's access log silenced, the app's following the flag."""
    config = log_config("info")
    assert set(config["formatters"]) == {"json"}
    assert all(handler["formatter"] == "json" for handler in config["handlers"].values())
    assert all(handler["filters"] == ["request_id"] for handler in config["handlers"].values())
    loggers = config["loggers"]
    assert loggers["uvicorn.access"] == {"handlers": [], "level": "WARNING", "propagate": False}
    assert loggers[ACCESS_LOGGER]["level"] == "INFO"
    assert log_config("info", access_log=False)["loggers"][ACCESS_LOGGER]["level"] == "WARNING"
