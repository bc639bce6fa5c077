"""Personal data typed into free text: redacted in the audit log, never logged, and shown
only to agents and admins. On SQLite and PostgreSQL.

The real server's own log output gets the same planted requests in
``test_api_logging.py::test_a_real_server_logs_requests_but_no_personal_data``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import (
    PLANTED_MARKERS,
    PLANTED_NOTE,
    ApiClient,
    plant_free_text,
)

from loan_recovery.store.audit import MASK, redact_text
from loan_recovery.store.models import AuditEntry, Role


def audit_text(api: ApiClient) -> str:
    """Every audit row, every column, as one JSON text."""
    with api.store.transaction() as session:
        rows = session.execute(
            sa.select(
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.entity,
                AuditEntry.entity_id,
                AuditEntry.details,
            )
        ).all()
    return json.dumps([list(row) for row in rows], ensure_ascii=False)


def test_planted_contact_details_reach_no_log_and_no_audit_row(
    make_api: Callable[..., ApiClient],
    database_url: str,
    fresh_loans: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Plants a phone number and an email in every free-text field of every write route
    (and in failing requests), logging at DEBUG; expects neither in any log record, the
    process output, the audit table or the admin's audit listing, and the notes' redacted
    text in the audit log instead."""
    api = make_api(database_url)
    caplog.set_level(logging.DEBUG)
    headers_of = {role: api.as_role(role) for role in Role}
    plant_free_text(api.client, headers_of, fresh_loans[400:403])

    output = capfd.readouterr()
    logged = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [str(record.args) for record in caplog.records]
        + [output.out, output.err]
    )
    audited = audit_text(api)
    listing = api.client.get(
        "/v1/audit", params={"limit": 1000}, headers=headers_of[Role.ADMIN]
    ).text
    for marker in PLANTED_MARKERS:
        assert marker not in logged
        assert marker not in audited
        assert marker not in listing
    assert json.dumps(redact_text(PLANTED_NOTE), ensure_ascii=False) in audited
    assert '"action.update"' in audited
    assert '"apikey.revoke"' in audited


def test_notes_are_shown_to_agents_and_admins_only(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plants the same, then reads the loan as each role; expects the viewer's answer free
    of every marker (notes '***'), the agent's and admin's with the notes as typed."""
    headers_of = {role: api.as_role(role) for role in Role}
    plant_free_text(api.client, headers_of, fresh_loans[410:412])
    loan_id = fresh_loans[410]["Loan_ID"]
    path = f"/v1/loans/{loan_id}"
    viewer = api.client.get(path, headers=headers_of[Role.VIEWER])
    assert viewer.status_code == 200
    for marker in PLANTED_MARKERS:
        assert marker not in viewer.text
    noted = [action for action in viewer.json()["actions"] if action["notes"] is not None]
    assert noted
    assert {action["notes"] for action in noted} == {MASK}
    for role in (Role.AGENT, Role.ADMIN):
        actions = api.client.get(path, headers=headers_of[role]).json()["actions"]
        assert f"after: {PLANTED_NOTE}" in {action["notes"] for action in actions}
