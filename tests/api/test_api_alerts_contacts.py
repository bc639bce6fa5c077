"""`GET /v1/alerts` and `POST /v1/contacts/opt-out`.

Alerts: computed from the case store with the early-warning champion the lifespan loaded,
equal to what `alerts --from-store` lists; paged, filtered; 503 without a model, an
empty list with a note without installments, recomputed after an import. Opt-out: by loan
or borrower, one channel or all, audited with the caller, 404/422 for bad requests, and
after it `run_remind` sends that borrower nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from api_support import ApiClient, ApiWorld

from loan_recovery.api.early_warning import EarlyWarningServing
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.alerts import run_alerts_store
from loan_recovery.jobs.remind import run_remind
from loan_recovery.models.early_warning import EarlyWarningBundle
from loan_recovery.notify.reminders import reminder_targets
from loan_recovery.notify.senders import OutgoingMessage
from loan_recovery.simulation.payments import SimulatedPayments
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.loans import import_loans
from loan_recovery.store.models import AuditEntry, Role
from loan_recovery.store.outbox import outbox_messages
from loan_recovery.store.payments import import_payments

MakeApi = Callable[..., ApiClient]
WEDNESDAY_1100_IST = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    """The 1,200 fresh loans, validated as an import keeps them."""
    result = validate_frame(simulate_portfolio(1_200, 22).loans)
    assert result.rejected == 0
    return result.table


def _models_dir(bundle: EarlyWarningBundle) -> Path:
    """The model registry folder whose early-warning sub-registry holds ``bundle``."""
    return bundle.path.parent.parent.parent  # <models>/early_warning/versions/v0001


def _with_history(api: ApiClient, book: pd.DataFrame, history: SimulatedPayments) -> None:
    import_loans(api.store.engine, book, actor="test", batch_size=5_000)
    import_payments(api.store.engine, history.history, actor="test", batch_size=50_000)


@pytest.fixture
def ew_api(make_api: MakeApi, sqlite_url: str, ew_bundle: EarlyWarningBundle) -> ApiClient:
    """An app whose settings point at the early-warning registry: the lifespan loads it."""
    return make_api(sqlite_url, models_dir=_models_dir(ew_bundle))


def _alerts(api: ApiClient, role: Role = Role.VIEWER, **params: Any) -> Any:
    answer = api.client.get("/v1/alerts", params=params, headers=api.as_role(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_alerts_are_the_stores_alerts_scored_by_the_loaded_champion(
    ew_api: ApiClient,
    book: pd.DataFrame,
    ew_history: SimulatedPayments,
    ew_bundle: EarlyWarningBundle,
) -> None:
    """Gives a store with 1,200 loans and their history; expects a viewer to get exactly
    the alerts `alerts --from-store` lists (order, scores, patterns, actions, reasons),
    under the schema's column names, with the cut-off, version and counts."""
    serving = ew_api.client.app.state.api.early_warning
    assert serving.bundle is not None
    assert serving.bundle.version == ew_bundle.version
    ready = ew_api.client.get("/ready").json()
    assert (ready["early_warning"], ready["early_warning_version"]) == ("ok", ew_bundle.version)
    _with_history(ew_api, book, ew_history)
    expected = run_alerts_store(ew_api.store, settings=ew_api.settings, bundle=ew_bundle).alerts
    found = _alerts(ew_api, limit=500)
    assert len(expected) > 10
    assert found["total"] == len(expected)
    assert found["model_version"] == ew_bundle.version
    assert found["cutoff"] == "2026-06-30"
    assert found["threshold"] == 0.3
    assert found["note"] is None
    assert found["scored"] > found["total"]
    items = found["items"]
    assert set(items[0]) == {
        schema.LOAN_ID,
        schema.BORROWER_ID,
        schema.CUTOFF_DATE,
        schema.DPD_AT_CUTOFF,
        schema.EARLY_WARNING_SCORE,
        schema.ALERT_PATTERN,
        schema.SUGGESTED_ACTION,
        "reasons",
    }
    assert [item[schema.LOAN_ID] for item in items] == expected[schema.LOAN_ID].tolist()
    assert [item[schema.EARLY_WARNING_SCORE] for item in items] == pytest.approx(
        expected[schema.EARLY_WARNING_SCORE].tolist()
    )
    for column in (schema.BORROWER_ID, schema.ALERT_PATTERN, schema.SUGGESTED_ACTION):
        assert [item[column] for item in items] == expected[column].tolist()
    reasons = expected[[schema.reason_column(rank) for rank in (1, 2, 3)]].to_numpy().tolist()
    assert [item["reasons"] for item in items] == reasons


def test_alerts_page_filter_and_threshold(
    ew_api: ApiClient, book: pd.DataFrame, ew_history: SimulatedPayments
) -> None:
    """Gives pages of 5, a suggested_action filter and a higher threshold; expects pages
    that add up to the whole list, only reminder alerts, and only scores >= 0.6."""
    _with_history(ew_api, book, ew_history)
    whole = _alerts(ew_api, limit=500)
    pages: list[dict[str, Any]] = []
    for offset in range(0, whole["total"] + 5, 5):
        page = _alerts(ew_api, limit=5, offset=offset)
        assert page["total"] == whole["total"]
        pages.extend(page["items"])
    assert pages == whole["items"]
    reminders = _alerts(ew_api, limit=500, suggested_action="reminder")
    wanted = [item for item in whole["items"] if item[schema.SUGGESTED_ACTION] == "reminder"]
    assert reminders["items"] == wanted
    assert reminders["total"] == len(wanted) > 0
    high = _alerts(ew_api, limit=500, threshold=0.6)
    assert 0 < high["total"] < whole["total"]
    assert all(item[schema.EARLY_WARNING_SCORE] >= 0.6 for item in high["items"])


@pytest.mark.parametrize(
    "params",
    [{"threshold": 1.5}, {"threshold": 0}, {"suggested_action": "pray"}, {"limit": 0}],
    ids=["threshold 1.5", "threshold 0", "unknown action", "limit 0"],
)
def test_bad_alert_queries_are_422(ew_api: ApiClient, params: dict[str, Any]) -> None:
    """Gives an out-of-range threshold, an unknown action or limit 0; expects 422."""
    answer = ew_api.client.get("/v1/alerts", params=params, headers=ew_api.as_role(Role.VIEWER))
    assert answer.status_code == 422, answer.text


def test_without_an_early_warning_model_alerts_answer_503(api: ApiClient) -> None:
    """Gives an app whose registry has no early-warning model; expects 503 saying how to
    train one, while the other routes keep working."""
    answer = api.client.get("/v1/alerts", headers=api.as_role(Role.VIEWER))
    assert answer.status_code == 503
    assert "train-early-warning" in answer.json()["detail"]
    assert api.client.get("/v1/segments", headers=api.as_role(Role.VIEWER)).status_code == 200
    ready = api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["early_warning_version"] is None
    assert ready.json()["early_warning"].startswith("not loaded")


def test_without_installments_the_list_is_empty_with_a_note_until_an_import(
    ew_api: ApiClient, book: pd.DataFrame, ew_history: SimulatedPayments
) -> None:
    """Gives an empty store, then loans only, then their history; expects an empty list
    with a note naming `import`, then `import-payments`, then the alerts (the cached
    scores follow the store)."""
    empty = _alerts(ew_api)
    assert (empty["items"], empty["total"], empty["cutoff"]) == ([], 0, None)
    assert "loan-recovery import FILE" in empty["note"]
    import_loans(ew_api.store.engine, book, actor="test", batch_size=5_000)
    loans_only = _alerts(ew_api)
    assert loans_only["items"] == []
    assert "import-payments" in loans_only["note"]
    import_payments(ew_api.store.engine, ew_history.history, actor="test", batch_size=50_000)
    scored = _alerts(ew_api)
    assert scored["total"] > 0
    assert scored["note"] is None


def test_a_preloaded_model_is_kept_and_shared(
    make_api: MakeApi,
    api_world: ApiWorld,
    sqlite_url: str,
    ew_bundle: EarlyWarningBundle,
    book: pd.DataFrame,
    ew_history: SimulatedPayments,
) -> None:
    """Sets a loaded model on the app's state (as the tests of other routes do); expects
    the lifespan to keep it and the route to score with it."""
    api = make_api(sqlite_url)
    state = api.client.app.state.api
    state.early_warning = EarlyWarningServing(bundle=ew_bundle)
    _with_history(api, book, ew_history)
    assert _alerts(api)["total"] > 0
    assert api_world.models_dir != _models_dir(ew_bundle)


# --- opt-out ------------------------------------------------------------------------------------
CONTACT: dict[str, str] = {
    schema.BORROWER_NAME: "Asha Rao",
    schema.PHONE: "+919811111111",
    schema.EMAIL: "asha.rao@example.com",
    schema.PREFERRED_LANGUAGE: "en",
    schema.TIME_ZONE: "Asia/Kolkata",
    schema.CONSENT_SMS: "Yes",
    schema.CONSENT_EMAIL: "Yes",
    schema.DO_NOT_CONTACT: "No",
}


@pytest.fixture
def contacts(api: ApiClient, book: pd.DataFrame) -> list[str]:
    """Three stored loans of three borrowers, each reachable by SMS and email; their ids."""
    rows = book.drop_duplicates(schema.BORROWER_ID).head(3).assign(**CONTACT)
    import_loans(api.store.engine, rows, actor="test", batch_size=100)
    return rows[schema.LOAN_ID].astype(str).tolist()


def _opt_out(api: ApiClient, body: dict[str, Any], role: Role = Role.AGENT) -> Any:
    return api.client.post("/v1/contacts/opt-out", json=body, headers=api.as_role(role))


def _borrower_of(api: ApiClient, loan_id: str) -> dict[str, Any]:
    answer = api.client.get(f"/v1/loans/{loan_id}", headers=api.as_role(Role.AGENT))
    assert answer.status_code == 200, answer.text
    borrower: dict[str, Any] = answer.json()["borrower"]
    return borrower


def test_opt_out_by_loan_stops_every_channel_and_is_audited(
    api: ApiClient, contacts: list[str]
) -> None:
    """Posts a STOP for a loan as agent; expects 201 naming the borrower and their loans,
    Do_Not_Contact set, and an audit row with the agent's key name, no personal data."""
    answer = _opt_out(api, {"loan_id": contacts[0], "source": "STOP"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    borrower = _borrower_of(api, contacts[0])
    assert body["borrower_id"] == borrower[schema.BORROWER_ID]
    assert (body["channel"], body["source"], body["held_messages"]) == ("all", "STOP", 0)
    assert body["loans"] == [contacts[0]]
    assert borrower[schema.DO_NOT_CONTACT] == "Yes"
    with api.store.transaction() as session:
        (entry,) = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "contact.opt_out")
        ).all()
        assert entry.actor.startswith("agent-")
        assert entry.entity_id == body["borrower_id"]
        assert "9811111111" not in str(entry.details)


def test_opt_out_by_borrower_of_one_channel(api: ApiClient, contacts: list[str]) -> None:
    """Posts an SMS-only opt-out by borrower id as admin; expects the SMS consent cleared,
    email consent and Do_Not_Contact untouched."""
    borrower_id = _borrower_of(api, contacts[1])[schema.BORROWER_ID]
    answer = _opt_out(api, {"borrower_id": borrower_id, "channel": "sms"}, Role.ADMIN)
    assert answer.status_code == 201, answer.text
    assert answer.json()["channel"] == "sms"
    after = _borrower_of(api, contacts[1])
    assert (after[schema.CONSENT_SMS], after[schema.CONSENT_EMAIL]) == ("No", "Yes")
    assert after[schema.DO_NOT_CONTACT] == "No"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"loan_id": "NO-SUCH-LOAN"}, 404),
        ({"borrower_id": "NO-SUCH-BORROWER"}, 404),
        ({}, 422),
        ({"loan_id": "A", "borrower_id": "B"}, 422),
        ({"loan_id": ""}, 422),
        ({"loan_id": "A", "channel": "fax"}, 422),
        ({"loan_id": "A", "reason": "STOP"}, 422),
        ({"loan_id": "A", "source": "x" * 65}, 422),
    ],
    ids=[
        "unknown loan",
        "unknown borrower",
        "neither",
        "both",
        "empty id",
        "unknown channel",
        "unknown field",
        "source too long",
    ],
)
def test_bad_opt_outs_are_refused(
    api: ApiClient, contacts: list[str], body: dict[str, Any], status: int
) -> None:
    """Gives unknown ids and malformed bodies; expects 404 or 422 and nothing written."""
    answer = _opt_out(api, body)
    assert answer.status_code == status, answer.text
    with api.store.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "contact.opt_out")
        )
    assert count == 0


@dataclass
class RecordingSender:
    """Delivers every message into a list."""

    delivered: list[OutgoingMessage] = field(default_factory=list)

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        handing_over()
        self.delivered.append(message)

    def close(self) -> None:
        return None


def test_after_an_api_opt_out_remind_sends_that_borrower_nothing(
    api: ApiClient, contacts: list[str]
) -> None:
    """Posts a STOP for the first loan, then runs the remind job for all three on a weekday
    morning; expects reminders to the other two only and the first held as opted out."""
    assert _opt_out(api, {"loan_id": contacts[0], "source": "STOP"}).status_code == 201
    sender = RecordingSender()
    outcome = run_remind(
        settings=api.settings,
        store=api.store,
        extra_targets=reminder_targets(contacts, "reminder"),
        now=WEDNESDAY_1100_IST,
        senders={"sms": sender, "email": sender},
    )
    assert outcome.dispatch is not None
    reached = sorted(message.idempotency_key.rsplit(":", 1)[1] for message in sender.delivered)
    assert reached == sorted(contacts[1:])
    with api.store.transaction() as session:
        (held,) = outbox_messages(session, loan_id=contacts[0]).items
    assert (held.status, held.reason) == ("held", "opted-out")


# --- contact details in requests ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        (schema.EMAIL, "not-an-email", "no @-sign"),
        (schema.EMAIL, "asha@example.com, ravi@example.com", "give exactly one address"),
        (schema.EMAIL, "asha@mail.test", "special-use"),
        (schema.PHONE, "98765", "not a valid number for country code +91"),
        (schema.PHONE, "call me", "not a phone number"),
        (schema.PREFERRED_LANGUAGE, "english", "not a BCP 47 language tag"),
    ],
)
def test_unusable_contacts_are_a_422_naming_the_field(
    api: ApiClient, fresh_loans: list[dict[str, Any]], field: str, value: str, why: str
) -> None:
    """Scores a loan with an unusable email, phone or language; expects 422 located at the
    field, saying why, and the value nowhere in the answer."""
    loan = {**fresh_loans[0], field: value}
    answer = api.client.post("/v1/score", json={"loans": [loan]}, headers=api.as_role(Role.VIEWER))
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["errors"]
    assert problem["loc"] == ["body", "loans", 0, field]
    assert problem["msg"].startswith(f"Value error, {field} is not a usable")
    assert why in problem["msg"]
    assert value not in answer.text


def test_planned_contacts_are_stored_normalised_in_any_language(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans a loan with a national phone number, a mixed-case internationalised address
    and Tamil; expects 200 and the borrower stored with E.164, the normal address and ta."""
    loan = {
        **fresh_loans[1],
        schema.PHONE: "098765 43210",
        schema.EMAIL: "Müller.Naidu@Example.COM",
        schema.PREFERRED_LANGUAGE: "ta",
    }
    headers = api.as_role(Role.AGENT)
    assert api.client.post("/v1/plan", json={"loans": [loan]}, headers=headers).status_code == 200
    borrower = _borrower_of(api, str(loan[schema.LOAN_ID]))
    stored = [borrower[name] for name in (schema.PHONE, schema.EMAIL, schema.PREFERRED_LANGUAGE)]
    assert stored == ["+919876543210", "Müller.Naidu@example.com", "ta"]
