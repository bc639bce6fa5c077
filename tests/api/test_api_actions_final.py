"""Finished actions are immutable: their money is refused (409) and racing closes cannot
both win. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from api_support import ApiClient

from loan_recovery.data import schema
from loan_recovery.store.models import Role
from loan_recovery.store.queries import audit_entries


@pytest.fixture
def action(
    make_api: Callable[..., ApiClient], database_url: str, fresh_loans: list[dict[str, Any]]
) -> tuple[ApiClient, str]:
    """An app on each database with one planned loan; the path of a new action on it."""
    api = make_api(database_url)
    agent = api.as_role(Role.AGENT)
    loans = fresh_loans[500:501]
    assert api.client.post("/v1/plan", json={"loans": loans}, headers=agent).status_code == 200
    created = api.client.post(
        "/v1/actions",
        json={"loan_id": loans[0][schema.LOAN_ID], "action": "settlement", "cost": 2000},
        headers=agent,
    )
    assert created.status_code == 201
    return api, f"/v1/actions/{created.json()['id']}"


@pytest.mark.parametrize("final", ["done", "cancelled"])
def test_money_of_a_finished_action_is_refused(action: tuple[ApiClient, str], final: str) -> None:
    """Closes the action, then patches its cost, promise amount and promise date; expects
    409 naming the field and the unchanged values, while a note is still accepted."""
    api, path = action
    agent = api.as_role(Role.AGENT)
    assert api.client.patch(path, json={"status": final}, headers=agent).status_code == 200
    for change in ({"cost": 1}, {"promise_amount": 500}, {"promise_date": "2027-02-01"}):
        refused = api.client.patch(path, json=change, headers=agent)
        assert refused.status_code == 409, change
        name = next(iter(change))
        assert f"is {final}, so its {name} cannot change" in refused.json()["detail"]
    noted = api.client.patch(path, json={"notes": "closed by phone"}, headers=agent)
    assert noted.status_code == 200
    assert (noted.json()["cost"], noted.json()["promise_amount"]) == (2000, None)
    assert noted.json()["status"] == final


def test_racing_closes_have_one_winner(action: tuple[ApiClient, str]) -> None:
    """Sends 12 concurrent PATCHes moving one planned action to done or cancelled; expects
    one status change audited, every 200 showing the winner's status (repeating it is a
    no-op), 409 for every request for the other status, and the winner's status stored."""
    api, path = action
    agent = api.as_role(Role.AGENT)
    targets = ["done", "cancelled"] * 6

    def close(target: str) -> Any:
        return api.client.patch(path, json={"status": target}, headers=agent)

    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(close, targets))
    assert {answer.status_code for answer in answers} == {200, 409}
    won = {answer.json()["status"] for answer in answers if answer.status_code == 200}
    assert len(won) == 1
    (winner,) = won
    losers = [answer for target, answer in zip(targets, answers, strict=True) if target != winner]
    assert {answer.status_code for answer in losers} == {409}
    with api.store.transaction() as session:
        updates = audit_entries(session, action="action.update")
    assert updates.total == 1
    assert updates.items[0].details["changes"]["status"]["new"] == winner
    stored = api.client.patch(path, json={}, headers=agent).json()  # an empty patch reads it
    assert stored["status"] == winner
