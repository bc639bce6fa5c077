"""No personal data in logs: in-process at DEBUG, and from a real `loan-recovery serve`."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import (
    PLANTED_MARKERS,
    ApiClient,
    ApiWorld,
    JsonLog,
    bearer,
    make_keys,
    plant_free_text,
)

from loan_recovery.api.deps import get_models
from loan_recovery.api.logs import QUIET_LOGGERS, log_config
from loan_recovery.data import schema
from loan_recovery.store.db import open_store
from loan_recovery.store.models import AuditEntry, Role

PERSONAL = (schema.BORROWER_NAME, schema.PHONE, schema.EMAIL)
CLIENT_LOGGERS = ("httpx", "httpcore")


def _with_personal_data(loans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loans whose contact details are unmistakable markers (searched for in the logs)."""
    return [
        {
            **loan,
            schema.BORROWER_NAME: f"Zebulon Quartermaine {index}",
            schema.PHONE: f"+9199900{index:05d}",
            schema.EMAIL: f"zebulon.{index}@private.example",
        }
        for index, loan in enumerate(loans)
    ]


def _markers(loans: list[dict[str, Any]]) -> list[str]:
    return [str(loan[name]) for loan in loans for name in PERSONAL]


def _loan_ids(loans: list[dict[str, Any]]) -> list[str]:
    """What paths carry and logs must not: they name route templates instead."""
    return [str(loan[schema.LOAN_ID]) for loan in loans]


def _exercise(
    client: Any, headers_of: dict[Role, dict[str, str]], loans: list[dict[str, Any]]
) -> None:
    """Requests that carry, store, return or fail on personal data."""
    agent, viewer = headers_of[Role.AGENT], headers_of[Role.VIEWER]
    assert client.post("/v1/plan", json={"loans": loans}, headers=agent).status_code == 200
    assert client.post("/v1/score", json={"loans": loans}, headers=viewer).status_code == 200
    bad = [{**loans[0], "Age": 3}, {**loans[1], schema.EMAIL: "x\x00y"}]
    assert client.post("/v1/score", json={"loans": bad}, headers=viewer).status_code == 422
    duplicate = [loans[0], loans[0]]
    assert client.post("/v1/score", json={"loans": duplicate}, headers=viewer).status_code == 422
    detail = client.get(f"/v1/loans/{loans[0]['Loan_ID']}", headers=agent)
    assert detail.json()["borrower"][schema.PHONE] == loans[0][schema.PHONE]
    assert client.post("/v1/score", json={"loans": loans}).status_code == 401


def test_requests_with_personal_data_leave_none_in_logs(
    api: ApiClient,
    fresh_loans: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    json_log: JsonLog,
) -> None:
    """Sends, stores, reads and breaks loans with names/phones/emails; expects none, and
    no Loan_ID, logged.

    Logs are captured at DEBUG from every logger, so a library that logs bodies at a
    verbose level would be caught too, and as the server's JSON lines; an unexpected
    error whose message quotes a phone number is included.
    """
    loans = _with_personal_data(fresh_loans[:5])
    caplog.set_level(logging.DEBUG)
    headers_of = {role: api.as_role(role) for role in Role}
    _exercise(api.client, headers_of, loans)

    def leaky() -> None:
        raise RuntimeError(f"cannot reach {loans[0][schema.PHONE]}")

    app = api.client.app
    app.dependency_overrides[get_models] = leaky  # type: ignore[attr-defined]
    try:
        failed = api.client.get("/v1/models/champion", headers=headers_of[Role.VIEWER])
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert failed.status_code == 500
    output = capfd.readouterr()
    # The test's own HTTP client (httpx, in this process) logs the URLs it requests.
    served = [record for record in caplog.records if not record.name.startswith(CLIENT_LOGGERS)]
    logged = "\n".join(
        [record.getMessage() for record in served]
        + [str(record.args) for record in served]
        + [output.out, output.err, json_log.text()]
    )
    assert "RuntimeError" in logged  # the error was logged ...
    for marker in [*_markers(loans), *_loan_ids(loans)]:
        assert marker not in logged  # ... but no personal data or Loan_ID was


def test_the_server_log_config_keeps_payload_loggers_quiet() -> None:
    """Gives debug level; expects uvicorn and the app at DEBUG, payload loggers at WARNING."""
    config = log_config("debug")
    loggers = config["loggers"]
    assert loggers["loan_recovery"]["level"] == "DEBUG"
    assert all(loggers[name]["level"] == "WARNING" for name in QUIET_LOGGERS)
    with pytest.raises(ValueError, match="trace"):
        log_config("trace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(
    api_world: ApiWorld, sqlite_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict[Role, dict[str, str]], Path]]:
    """`loan-recovery serve` in a subprocess on a free port; its output in a file."""
    store = open_store(sqlite_url)
    keys = make_keys(store)
    store.dispose()
    port = _free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "LOAN_RECOVERY_DATABASE_URL": sqlite_url,
        "LOAN_RECOVERY_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("LOAN_RECOVERY_CONFIG", None)
    command = [sys.executable, "-m", "loan_recovery", "serve", "--port", str(port)]
    command += ["--models", str(api_world.models_dir), "--log-level", "debug"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"the server never became ready:\n{log.read_text()}")
        yield base, {role: bearer(keys.of(role)) for role in Role}, log
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_real_server_logs_requests_but_no_personal_data(
    served: tuple[str, dict[Role, dict[str, str]], Path],
    fresh_loans: list[dict[str, Any]],
    sqlite_url: str,
) -> None:
    """Runs the serve command at debug level, sends loans with contact details and plants
    a phone number and an email in every free-text field of every write route; expects
    JSON access lines naming route templates with a request id each, and no personal
    data or Loan_ID in the server's output, nor personal data in the audit table."""
    base, headers_of, log = served
    loans = _with_personal_data(fresh_loans[10:15])
    with httpx.Client(base_url=base, timeout=60) as client:
        _exercise(client, headers_of, loans)
        plant_free_text(client, headers_of, fresh_loans[20:22])
        assert client.get("/docs").status_code == 200
    time.sleep(0.3)  # let the server flush its last access lines
    text = log.read_text()
    # Every log line is JSON; the rest is the command's banner before uvicorn starts.
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "loan_recovery.api.access"]
    routes = {(line["method"], line["route"], line["status"]) for line in access}
    assert ("POST", "/v1/plan", 200) in routes
    assert ("PATCH", "/v1/actions/{action_id}", 200) in routes
    assert ("GET", "/v1/loans/{loan_id}", 200) in routes
    assert all(len(line["request_id"]) == 32 for line in access)
    assert len({line["request_id"] for line in access}) == len(access)
    assert any(line["message"].startswith("serving model") for line in lines)
    store = open_store(sqlite_url)
    try:
        with store.transaction() as session:
            audited = str(session.execute(sa.select(AuditEntry.__table__)).all())
    finally:
        store.dispose()
    for marker in [*_markers(loans), *PLANTED_MARKERS]:
        assert marker not in text
        assert marker not in audited
    for loan_id in _loan_ids(loans):
        assert loan_id not in text
