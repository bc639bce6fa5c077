"""What the API will call: worklist, loan detail, action lifecycle, outcomes, summaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from loan_recovery.data import schema
from loan_recovery.store.audit import MASK, SCORING_CALL, audit_scoring
from loan_recovery.store.cases import create_action, record_outcome, update_action
from loan_recovery.store.db import Store
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.plans import store_plan
from loan_recovery.store.queries import (
    audit_entries,
    loan_detail,
    portfolio_summary,
    segments_summary,
    worklist,
)

Worklist = Callable[..., pd.DataFrame]


@pytest.fixture
def planned(store: Store, loans_table: pd.DataFrame, make_worklist: Worklist) -> pd.DataFrame:
    """The 300 loans imported and planned twice; returns the second (current) worklist."""
    with store.transaction() as session:
        first = make_worklist(loans_table, ["call"], seed=1)
        store_plan(session, first, model_version="v1", actor="cli", loans=loans_table)
    current = make_worklist(loans_table, ["call", "settlement", "legal", "hold"], seed=2)
    with store.transaction() as session:
        store_plan(session, current, model_version="v2", actor="cli")
    return current


def test_worklist_is_the_latest_score_in_priority_order(
    store: Store, planned: pd.DataFrame
) -> None:
    """Expects every loan once, from the latest run, highest priority first, paged."""
    with store.transaction() as session:
        page = worklist(session, limit=1_000)
        second_page = worklist(session, limit=10, offset=10)
    assert page.total == 300
    expected = planned.sort_values(
        [schema.PRIORITY, schema.LOAN_ID], ascending=[False, True], kind="stable"
    )
    assert [item.loan_id for item in page.items] == expected[schema.LOAN_ID].tolist()
    assert {item.model_version for item in page.items} == {"v2"}
    assert [item.loan_id for item in second_page.items] == expected[schema.LOAN_ID].tolist()[10:20]
    top = page.items[0]
    assert top.priority == pytest.approx(expected[schema.PRIORITY].iloc[0])
    assert top.reasons == ["reason 1", "reason 2", "reason 3"]
    legal = next(item for item in page.items if item.recommended_action == "legal")
    assert legal.action_status == "planned"
    hold = next(item for item in page.items if item.recommended_action == "hold")
    assert hold.action_id is None


def test_worklist_filters(store: Store, planned: pd.DataFrame, loans_table: pd.DataFrame) -> None:
    """Filters by action, segment, band and exposure; expects the matching loans only."""
    exposure = loans_table.set_index(schema.LOAN_ID)[schema.OUTSTANDING_LOAN_AMOUNT]
    threshold = float(exposure.median())
    with store.transaction() as session:
        legal = worklist(session, action="legal", limit=1_000)
        segment = worklist(session, segment="Secured owners", risk_band="High", limit=1_000)
        large = worklist(session, min_exposure=threshold, limit=1_000)
    assert legal.total == (planned[schema.RECOMMENDED_ACTION] == "legal").sum()
    assert all(item.recommended_action == "legal" for item in legal.items)
    wanted = (planned[schema.SEGMENT_NAME] == "Secured owners") & (
        planned[schema.RISK_BAND] == "High"
    )
    assert segment.total == wanted.sum()
    assert large.total == (exposure >= threshold).sum()
    assert all(item.exposure >= threshold for item in large.items)
    with pytest.raises(InvalidRequestError, match="limit"), store.transaction() as session:
        worklist(session, limit=0)


def test_loan_detail_masks_personal_data_unless_asked(
    store: Store, planned: pd.DataFrame, loans_table: pd.DataFrame
) -> None:
    """Expects the loan's canonical fields, masked contacts, newest score first."""
    row = loans_table.iloc[0]
    loan_id = str(row[schema.LOAN_ID])
    with store.transaction() as session:
        detail = loan_detail(session, loan_id=loan_id)
        personal = loan_detail(session, loan_id=loan_id, include_personal=True)
    assert detail.loan[schema.DAYS_PAST_DUE] == row[schema.DAYS_PAST_DUE]
    assert detail.loan[schema.OUTSTANDING_LOAN_AMOUNT] == row[schema.OUTSTANDING_LOAN_AMOUNT]
    assert detail.borrower[schema.PHONE] == MASK
    assert detail.borrower[schema.EMAIL] == MASK
    assert detail.borrower[schema.CONSENT_SMS] == row[schema.CONSENT_SMS]
    assert personal.borrower[schema.PHONE] == row[schema.PHONE]
    assert [score.model_version for score in detail.scores] == ["v2", "v1"]
    with pytest.raises(NotFoundError), store.transaction() as session:
        loan_detail(session, loan_id="nope")


def test_action_lifecycle_is_audited_and_only_moves_forward(
    store: Store, planned: pd.DataFrame
) -> None:
    """Creates, starts, reassigns and finishes an action; expects stamps, audit, refusals."""
    loan_id = str(planned[schema.LOAN_ID].iloc[0])
    with store.transaction() as session:
        action = create_action(
            session,
            loan_id=loan_id,
            action="call",
            actor="agent-7",
            assigned_agent="agent-7",
            promise_amount=5_000,
            promise_date=date(2026, 7, 15),
        )
    assert (action.status, action.started_at) == ("planned", None)
    with store.transaction() as session:
        started = update_action(session, action_id=action.id, actor="agent-7", status="in-progress")
        moved = update_action(session, action_id=action.id, actor="lead", assigned_agent="agent-9")
        done = update_action(session, action_id=action.id, actor="agent-9", status="done")
    assert started.started_at is not None
    assert moved.assigned_agent == "agent-9"
    assert done.completed_at is not None
    assert done.promise_amount == 5_000
    with pytest.raises(InvalidRequestError, match="cannot become"), store.transaction() as session:
        update_action(session, action_id=action.id, actor="x", status="planned")
    with store.transaction() as session:
        trail = audit_entries(session, entity="action", entity_id=str(action.id))
    assert [entry.action for entry in trail.items] == [
        "action.update",
        "action.update",
        "action.update",
        "action.create",
    ]
    assert trail.items[1].details == {
        "loan_id": loan_id,
        "changes": {"assigned_agent": {"old": "agent-7", "new": "agent-9"}},
    }
    assert trail.items[0].actor == "agent-9"
    for bad in (
        {"loan_id": "nope", "action": "call"},
        {"loan_id": loan_id, "action": "teleport"},
        {"loan_id": loan_id, "action": "call", "cost": -1.0},
    ):
        with pytest.raises((NotFoundError, InvalidRequestError)), store.transaction() as session:
            create_action(session, actor="x", **bad)  # type: ignore[arg-type]


def test_outcome_closes_its_action_and_feeds_the_summary(
    store: Store, planned: pd.DataFrame
) -> None:
    """Records an outcome for a planned action; expects it done and the totals updated."""
    with store.transaction() as session:
        item = worklist(session, action="call", limit=1).items[0]
        assert item.action_id is not None
        outcome = record_outcome(
            session,
            loan_id=item.loan_id,
            amount_recovered=12_500.0,
            status=schema.PARTIALLY_RECOVERED,
            outcome_date=date(2026, 7, 31),
            actor="agent-1",
            action_id=item.action_id,
        )
    assert outcome.amount_recovered == 12_500.0
    with store.transaction() as session:
        detail = loan_detail(session, loan_id=item.loan_id)
        summary = portfolio_summary(session)
        with pytest.raises(InvalidRequestError, match="status"):
            record_outcome(
                session,
                loan_id=item.loan_id,
                amount_recovered=1.0,
                status="Paid",
                outcome_date=date(2026, 7, 31),
                actor="x",
            )
    assert detail.actions[0].status == "done"
    assert detail.outcomes[0].id == outcome.id
    assert summary.outcomes == 1
    assert summary.amount_recovered == 12_500.0
    assert summary.actions_by_status["done"] == 1


def test_portfolio_and_segment_summaries(
    store: Store, planned: pd.DataFrame, loans_table: pd.DataFrame
) -> None:
    """Expects totals over the current scores and one line per segment adding up."""
    with store.transaction() as session:
        summary = portfolio_summary(session)
        segments = segments_summary(session)
    assert (summary.loans, summary.scored_loans) == (300, 300)
    assert summary.borrowers == loans_table[schema.BORROWER_ID].nunique()
    assert summary.exposure == pytest.approx(loans_table[schema.OUTSTANDING_LOAN_AMOUNT].sum())
    assert summary.mean_risk == pytest.approx(planned[schema.RISK_SCORE].mean())
    assert summary.expected_net_recovery == pytest.approx(
        planned[schema.EXPECTED_NET_RECOVERY].sum()
    )
    assert summary.recommended_actions == (
        planned[schema.RECOMMENDED_ACTION].value_counts().to_dict()
    )
    assert summary.last_scored_at is not None
    assert summary.last_scored_at.tzinfo is not None
    assert datetime.now(UTC) - summary.last_scored_at < timedelta(minutes=5)
    assert {segment.segment for segment in segments} == set(planned[schema.SEGMENT_NAME])
    assert sum(segment.loans for segment in segments) == 300
    assert sum(segment.exposure for segment in segments) == pytest.approx(summary.exposure)
    for segment in segments:
        rows = planned[planned[schema.SEGMENT_NAME] == segment.segment]
        assert segment.mean_risk == pytest.approx(rows[schema.RISK_SCORE].mean())
        assert (
            segment.recommended_actions == rows[schema.RECOMMENDED_ACTION].value_counts().to_dict()
        )


def test_audit_entries_filter_and_page(store: Store, planned: pd.DataFrame) -> None:
    """Expects newest-first audit rows, filtered by actor and action, with a total."""
    with store.transaction() as session:
        everything = audit_entries(session, limit=1_000)
        plans = audit_entries(session, action="plan.store")
        by_actor = audit_entries(session, actor="nobody")
        recent = audit_entries(session, since=datetime.now(UTC) - timedelta(minutes=5), limit=1)
    assert everything.total == len(everything.items)
    assert [entry.id for entry in everything.items] == sorted(
        (entry.id for entry in everything.items), reverse=True
    )
    assert plans.total == 2
    assert by_actor.total == 0
    assert recent.total == everything.total
    assert len(recent.items) == 1


def test_scoring_calls_are_audited(store: Store) -> None:
    """Records an API scoring call; expects who, which model and how many loans."""
    with store.transaction() as session:
        audit_scoring(session, actor="api-key-1", model_version="v3", loans=25)
    with store.transaction() as session:
        (entry,) = audit_entries(session, action=SCORING_CALL).items
    assert (entry.actor, entry.entity_id) == ("api-key-1", "v3")
    assert entry.details == {"loans": 25}
