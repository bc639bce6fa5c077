"""POST /v1/score and /v1/plan: the CLI's numbers, located 422s, limits, audit rows."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from api_support import ApiClient
from fastapi.testclient import TestClient

from loan_recovery.api.app import create_app
from loan_recovery.api.schemas import UPLIFT_BY_ACTION, VALUE_BY_ACTION
from loan_recovery.api.scoring import load_serving_models
from loan_recovery.data import schema
from loan_recovery.exceptions import ModelError
from loan_recovery.jobs.assess import assess_loans, raw_frame
from loan_recovery.store.audit import SCORING_CALL
from loan_recovery.store.models import Role
from loan_recovery.store.queries import audit_entries
from loan_recovery.strategy.plan import plan_loans


def _score(api: ApiClient, loans: list[dict[str, Any]], role: Role = Role.VIEWER) -> Any:
    return api.client.post("/v1/score", json={"loans": loans}, headers=api.as_role(role))


def test_score_gives_exactly_the_numbers_of_assess_loans(
    api: ApiClient, fresh_loans: list[dict[str, Any]], api_world: Any
) -> None:
    """Gives 40 loans; expects each loan's risk, action, value of holding, uplift and every
    action's value and uplift equal to assess_loans' worklist, and consistent with each other."""
    loans = fresh_loans[:40]
    answer = _score(api, loans)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assessment = assess_loans(raw_frame(loans), api_world.models.bundle, api.settings)
    expected = assessment.worklist.set_index(schema.LOAN_ID)
    assert [row[schema.LOAN_ID] for row in body["loans"]] == [loan["Loan_ID"] for loan in loans]
    assert body["model_version"] == api_world.models.version
    assert body["reason_method"] == api.settings.explain.method
    for row in body["loans"]:
        want = expected.loc[row[schema.LOAN_ID]]
        assert row[schema.RISK_SCORE] == want[schema.RISK_SCORE]
        assert row[schema.RECOMMENDED_ACTION] == want[schema.RECOMMENDED_ACTION]
        for field in (
            schema.EXPECTED_NET_RECOVERY,
            schema.EXPECTED_UPLIFT,
            schema.VALUE_IF_LEFT_ALONE,
            schema.PRIORITY,
            schema.UPLIFT_VS_BASELINE,
        ):
            assert row[field] == want[field], field
        assert row[schema.RISK_BAND] == want[schema.RISK_BAND]
        assert row[schema.SEGMENT_NAME] == want[schema.SEGMENT_NAME]
        texts = [want[schema.reason_column(k)] for k in (1, 2, 3)]
        assert row["reasons"] == [text for text in texts if isinstance(text, str) and text]
        assert set(row[VALUE_BY_ACTION]) == set(row[UPLIFT_BY_ACTION]) == set(schema.ACTION_NAMES)
        for action, value in row[VALUE_BY_ACTION].items():
            assert value == want[schema.value_column(action)]
            uplift = row[UPLIFT_BY_ACTION][action]
            assert uplift == want[schema.uplift_column(action)]
            assert uplift == pytest.approx(value - row[schema.VALUE_IF_LEFT_ALONE])
        assert row[schema.EXPECTED_NET_RECOVERY] == pytest.approx(
            row[schema.VALUE_IF_LEFT_ALONE] + row[schema.EXPECTED_UPLIFT]
        )
        chosen = row[schema.RECOMMENDED_ACTION]
        if chosen == schema.HOLD:
            assert (row[schema.EXPECTED_UPLIFT], row[schema.PRIORITY]) == (0.0, 0.0)
        else:
            assert row[schema.EXPECTED_UPLIFT] == row[UPLIFT_BY_ACTION][chosen]
        scores = assessment.scores_of(row[schema.LOAN_ID])
        assert row[schema.SCORED_ASSET_CLASS] == scores[schema.SCORED_ASSET_CLASS]
        allowed = assessment.allowed_of(row[schema.LOAN_ID])
        assert row["allowed_actions"] == [name for name, ok in allowed.items() if ok]


def test_a_single_loan_scores_like_the_same_loan_in_a_plan(
    api: ApiClient, fresh_loans: list[dict[str, Any]], api_world: Any
) -> None:
    """Gives one loan alone; expects plan_loans' risk and action for it."""
    loan = fresh_loans[7]
    row = _score(api, [loan]).json()["loans"][0]
    table = assess_loans(raw_frame([loan]), api_world.models.bundle, api.settings).validation.table
    plan = plan_loans(table, api_world.models.bundle, api.settings).worklist.iloc[0]
    assert row[schema.RISK_SCORE] == plan[schema.RISK_SCORE]
    assert row[schema.RECOMMENDED_ACTION] == plan[schema.RECOMMENDED_ACTION]


def test_large_batches_use_approximate_reasons_and_the_same_choices(
    make_api: Callable[..., ApiClient], sqlite_url: str, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives 30 loans with a reason limit of 10; expects approximate reasons, same actions."""
    limited = make_api(sqlite_url)
    api_settings = limited.settings.api.model_copy(update={"approximate_reasons_above": 10})
    small = make_api(sqlite_url, api=api_settings)
    loans = fresh_loans[:30]
    exact = _score(limited, loans).json()
    approximate = _score(small, loans).json()
    assert (exact["reason_method"], approximate["reason_method"]) == ("exact", "approximate")
    for one, other in zip(exact["loans"], approximate["loans"], strict=True):
        assert one[schema.RISK_SCORE] == other[schema.RISK_SCORE]
        assert one[schema.RECOMMENDED_ACTION] == other[schema.RECOMMENDED_ACTION]
        assert len(other["reasons"]) <= limited.settings.explain.top_k
    # A loan lists only features that raise its risk, so a safe one may have fewer.
    top_k = limited.settings.explain.top_k
    assert any(len(row["reasons"]) == top_k for row in approximate["loans"])
    assert _score(small, loans[:10]).json()["reason_method"] == "exact"


def test_a_field_check_failure_names_the_row_and_field(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a loan with Age 5 second; expects 422 at body.loans.1.Age, no value echoed."""
    bad = {**fresh_loans[1], "Age": 5, "Gender": "M"}
    answer = _score(api, [fresh_loans[0], bad])
    assert answer.status_code == 422
    problems = answer.json()["errors"]
    locations = {tuple(problem["loc"]) for problem in problems}
    assert ("body", "loans", 1, "Age") in locations
    assert ("body", "loans", 1, "Gender") in locations
    assert all("input" not in problem for problem in problems)


def test_a_cross_field_failure_names_the_row_and_field_with_its_reason(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives outstanding > 3x the loan amount; expects validation's reason at that field."""
    bad = dict(fresh_loans[2])
    bad["Outstanding_Loan_Amount"] = bad["Loan_Amount"] * 4
    answer = _score(api, [fresh_loans[0], fresh_loans[1], bad])
    assert answer.status_code == 422
    (problem,) = answer.json()["errors"]
    assert problem["loc"] == ["body", "loans", 2, schema.OUTSTANDING_LOAN_AMOUNT]
    assert problem["type"] == "outstanding_exceeds_limit"
    assert schema.OUTSTANDING_LOAN_AMOUNT in problem["msg"]


@pytest.mark.parametrize(
    ("change", "where", "kind"),
    [
        ({"Days_Past_Du": 3}, "Days_Past_Du", "extra_forbidden"),
        ({"Loan_ID": "bad\x00id"}, "Loan_ID", "string_pattern_mismatch"),
        ({"Monthly_Income": 0}, "Monthly_Income", "greater_than"),
        ({"Interest_Rate": 101}, "Interest_Rate", "less_than_equal"),
        ({"Collection_Method": "Pigeons"}, "Collection_Method", "literal_error"),
        ({"Loan_Amount": 1e300}, "Loan_Amount", "less_than_equal"),
    ],
)
def test_schema_checks_come_from_the_column_specs(
    api: ApiClient, fresh_loans: list[dict[str, Any]], change: dict[str, Any], where: str, kind: str
) -> None:
    """Gives one broken field; expects 422 naming that field with pydantic's reason code."""
    answer = _score(api, [{**fresh_loans[0], **change}])
    assert answer.status_code == 422
    assert {"loc": ["body", "loans", 0, where], "type": kind} in [
        {"loc": problem["loc"], "type": problem["type"]} for problem in answer.json()["errors"]
    ]


def test_a_missing_required_column_is_named(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a loan without Days_Past_Due; expects 422 'missing' at that field."""
    loan = {key: value for key, value in fresh_loans[0].items() if key != schema.DAYS_PAST_DUE}
    problems = _score(api, [loan]).json()["errors"]
    assert {
        "loc": ["body", "loans", 0, schema.DAYS_PAST_DUE],
        "msg": "Field required",
        "type": "missing",
    } in problems


def test_monthly_emi_may_be_left_out_and_is_derived(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a loan without Monthly_EMI; expects 200 (validation derives it, as for files)."""
    loan = {key: value for key, value in fresh_loans[0].items() if key != schema.MONTHLY_EMI}
    assert _score(api, [loan]).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"Interest_Rate": 100.0, "Loan_Tenure": schema.MAX_TENURE_MONTHS},  # (1 + r)^n is huge
        {"Interest_Rate": 2.2e-309, "Loan_Tenure": schema.MAX_TENURE_MONTHS},  # 1 + r == 1
    ],
)
def test_extreme_but_valid_terms_derive_a_finite_emi(
    api: ApiClient, fresh_loans: list[dict[str, Any]], change: dict[str, Any]
) -> None:
    """Gives no Monthly_EMI and the schema's extreme terms; expects 200 and a scored loan."""
    loan = {key: value for key, value in fresh_loans[0].items() if key != schema.MONTHLY_EMI}
    answer = _score(api, [{**loan, **change}])
    assert answer.status_code == 200
    assert 0.0 <= answer.json()["loans"][0][schema.RISK_SCORE] <= 1.0


def test_a_tenure_beyond_the_schema_is_refused(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a 348,977-month tenure (its EMI formula overflows); expects 422 at that field."""
    answer = _score(api, [fresh_loans[1], {**fresh_loans[0], "Loan_Tenure": 348_977}])
    assert answer.status_code == 422
    (problem,) = answer.json()["errors"]
    assert problem["loc"] == ["body", "loans", 1, schema.LOAN_TENURE]


def test_a_repeated_loan_id_is_refused(api: ApiClient, fresh_loans: list[dict[str, Any]]) -> None:
    """Gives the same Loan_ID twice (with and without snapshot dates); expects 422 at the repeat."""
    first, second = fresh_loans[0], {**fresh_loans[1], "Loan_ID": fresh_loans[0]["Loan_ID"]}
    plain = _score(api, [first, second]).json()["errors"]
    assert plain[0]["loc"] == ["body", "loans", 1, schema.LOAN_ID]
    dated = _score(
        api, [{**first, "As_Of_Date": "2026-05-31"}, {**second, "As_Of_Date": "2026-06-30"}]
    )
    assert dated.status_code == 422
    assert dated.json()["errors"][0]["type"] == "duplicate_loan_id"


def test_batches_over_the_limit_are_refused(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives 1,000 loans, then 1,001; expects 200, then 422 (too many) without scoring."""
    assert len(fresh_loans) > 1_000
    ok = _score(api, fresh_loans[:1_000])
    assert ok.status_code == 200
    assert len(ok.json()["loans"]) == 1_000
    assert ok.json()["reason_method"] == "approximate"
    over = _score(api, fresh_loans[:1_001])
    assert over.status_code == 422
    assert over.json()["errors"][0]["loc"] == ["body", "loans"]
    assert over.json()["errors"][0]["type"] == "too_long"
    assert _score(api, []).status_code == 422


def test_bodies_over_the_byte_limit_get_413(
    make_api: Callable[..., ApiClient], sqlite_url: str, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a 20 kB limit; expects 413 for a larger body, declared or chunked, 200 below."""
    base = make_api(sqlite_url)
    api = make_api(sqlite_url, api=base.settings.api.model_copy(update={"max_body_bytes": 20_000}))
    headers = {**api.as_role(Role.VIEWER), "Content-Type": "application/json"}
    small = json.dumps({"loans": fresh_loans[:2]}).encode()
    large = json.dumps({"loans": fresh_loans[:100]}).encode()
    assert api.client.post("/v1/score", content=small, headers=headers).status_code == 200
    declared = api.client.post("/v1/score", content=large, headers=headers)
    assert declared.status_code == 413
    assert "20,000 bytes" in declared.json()["detail"]

    def chunks() -> Any:
        for start in range(0, len(large), 4_096):
            yield large[start : start + 4_096]

    chunked = api.client.post("/v1/score", content=chunks(), headers=headers)
    assert chunked.status_code == 413


def test_every_scoring_call_is_audited_without_loan_data(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Scores 3 loans as the viewer; expects one 'score' audit row naming key, version, count."""
    assert _score(api, fresh_loans[:3]).status_code == 200
    with api.store.transaction() as session:
        entries = audit_entries(session, action=SCORING_CALL).items
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor.startswith("viewer-")
    assert entry.details is not None
    assert entry.details["loans"] == 3
    assert entry.details["route"] == "score"
    assert fresh_loans[0]["Loan_ID"] not in json.dumps(entry.details)


def test_a_rejected_request_writes_no_audit_row(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives an invalid loan; expects 422 and the transaction rolled back (no audit row)."""
    bad = {**fresh_loans[0], "Outstanding_Loan_Amount": fresh_loans[0]["Loan_Amount"] * 9}
    assert _score(api, [bad]).status_code == 422
    with api.store.transaction() as session:
        assert audit_entries(session, action=SCORING_CALL).total == 0


def test_plan_stores_loans_scores_and_actions_then_keeps_them_on_a_rerun(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans 20 loans twice as an agent; expects them stored, then unchanged and actions kept,
    and a stored score that reads back the value of holding and the uplift planned on."""
    loans = fresh_loans[100:120]
    headers = api.as_role(Role.AGENT)
    first = api.client.post("/v1/plan", json={"loans": loans}, headers=headers)
    assert first.status_code == 200, first.text
    stored = first.json()["stored"]
    assert stored["scores"] == 20
    assert stored["loans_inserted"] == 20
    holds = sum(row[schema.RECOMMENDED_ACTION] == "hold" for row in first.json()["loans"])
    assert stored["actions_created"] == 20 - holds
    second = api.client.post("/v1/plan", json={"loans": loans}, headers=headers).json()["stored"]
    assert (second["loans_unchanged"], second["actions_kept"], second["actions_created"]) == (
        20,
        20 - holds,
        0,
    )
    worklist = api.client.get("/v1/worklist", params={"limit": 100}, headers=headers).json()
    assert worklist["total"] == 20
    priorities = [item["priority"] for item in worklist["items"]]
    assert priorities == sorted(priorities, reverse=True)
    by_id = {row[schema.LOAN_ID]: row for row in first.json()["loans"]}
    for item in worklist["items"]:
        assert item["recommended_action"] == by_id[item["loan_id"]][schema.RECOMMENDED_ACTION]
        assert item["risk_score"] == by_id[item["loan_id"]][schema.RISK_SCORE]
    planned = first.json()["loans"][0]
    detail = api.client.get(f"/v1/loans/{planned[schema.LOAN_ID]}", headers=headers).json()
    latest = detail["scores"][0]
    assert latest["expected_net"] == {
        schema.HOLD: planned[schema.VALUE_IF_LEFT_ALONE],
        **planned[VALUE_BY_ACTION],
    }
    assert latest["value_if_left_alone"] == planned[schema.VALUE_IF_LEFT_ALONE]
    assert latest["expected_uplift"] == pytest.approx(planned[schema.EXPECTED_UPLIFT], abs=1e-6)


def test_without_models_scoring_answers_503_and_reads_still_work(
    make_api: Callable[..., ApiClient],
    sqlite_url: str,
    fresh_loans: list[dict[str, Any]],
    tmp_path: Any,
) -> None:
    """Gives an empty registry; expects /ready 503, /v1/score 503, /v1/segments 200."""
    from fastapi.testclient import TestClient

    from loan_recovery.api.app import create_app

    api = make_api(sqlite_url)
    settings = api.settings.model_copy(update={"models_dir": tmp_path / "no-models"})
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["models"].startswith("not loaded")
        assert str(tmp_path) not in ready.text
        scored = client.post(
            "/v1/score", json={"loans": fresh_loans[:1]}, headers=api.as_role(Role.VIEWER)
        )
        assert scored.status_code == 503
        assert client.get("/v1/segments", headers=api.as_role(Role.VIEWER)).status_code == 200


def test_a_version_trained_without_a_hold_model_is_not_served(
    make_api: Callable[..., ApiClient],
    sqlite_url: str,
    api_world: Any,
    fresh_loans: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gives a champion whose outcome model lacks the hold arm (trained before uplift);
    expects loading to say retrain, /ready and /v1/score 503, never a 500."""
    current = api_world.models.bundle
    outcome = copy.copy(current.outcome_model)
    outcome.actions_ = tuple(arm for arm in outcome.actions_ if arm != schema.HOLD)
    old = dataclasses.replace(current, outcome_model=outcome)
    monkeypatch.setattr("loan_recovery.api.scoring.load_bundle", lambda *_args, **_kw: old)
    with pytest.raises(ModelError, match=r"no model of leaving a loan alone.*retrain"):
        load_serving_models(api_world.settings)
    api = make_api(sqlite_url)
    with TestClient(create_app(api.settings)) as client:
        assert client.get("/ready").status_code == 503
        scored = client.post(
            "/v1/score", json={"loans": fresh_loans[:1]}, headers=api.as_role(Role.VIEWER)
        )
        assert scored.status_code == 503


def test_response_floats_are_plain_json_numbers(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives 5 loans; expects every number finite (no NaN or Infinity tokens in the body)."""
    answer = _score(api, fresh_loans[:5])
    assert "NaN" not in answer.text
    assert "Infinity" not in answer.text
    values = [row[schema.EXPECTED_COST] for row in answer.json()["loans"]]
    assert np.isfinite(values).all()


def test_start_up_objects_leave_the_collectors_view() -> None:
    """Calls the lifespan's freeze; expects the objects alive now to be frozen (then thawed)."""
    import gc

    from loan_recovery.api.app import _freeze_start_up_objects

    sentinel = [object()]
    try:
        _freeze_start_up_objects()
        assert gc.get_freeze_count() > 1_000
        assert not any(item is sentinel for item in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(item is sentinel for item in gc.get_objects())
