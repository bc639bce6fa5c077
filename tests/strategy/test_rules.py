"""Guardrails on hand-made loans: each rule removes exactly what it should, and says why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings, StrategySettings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import SchemaError
from loan_recovery.strategy.actions import HOLD, ActionCatalogue
from loan_recovery.strategy.policy import decide
from loan_recovery.strategy.rules import (
    GUARDRAIL_NAMES,
    GUARDRAILS,
    HOLD_SENTENCE,
    GuardrailOutcome,
    apply_guardrails,
)

ACTIONS = list(schema.ACTION_NAMES)


@pytest.fixture(scope="module")
def catalogue(settings: Settings) -> ActionCatalogue:
    return ActionCatalogue.from_settings(settings)


def _table(n: int = 1, columns: dict[str, list[Any]] | None = None) -> pd.DataFrame:
    """Loans no rule objects to at high risk and without asset-class floors: legal-eligible
    (DPD 120, so NPA), large, never in court, few contacts."""
    base: dict[str, list[Any]] = {
        schema.DAYS_PAST_DUE: [120] * n,
        schema.COLLATERAL_VALUE: [0.0] * n,
        schema.OUTSTANDING_LOAN_AMOUNT: [200_000.0] * n,
        schema.LEGAL_ACTION_TAKEN: ["No"] * n,
        schema.COLLECTION_ATTEMPTS: [2] * n,
    }
    base.update(columns or {})
    return pd.DataFrame(base)


def _fractions(n: int, **overrides: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({action: [0.6] * n for action in ACTIONS})
    for action, values in overrides.items():
        frame[action] = values
    return frame


#: The defaults without asset-class floors, so one rule at a time can be read off NPA loans.
NO_FLOORS = StrategySettings(guardrails={"asset_class_excluded_actions": {}})


def _apply(
    table: pd.DataFrame,
    catalogue: ActionCatalogue,
    risk: list[float] | None = None,
    fractions: pd.DataFrame | None = None,
    strategy: StrategySettings | None = None,
) -> GuardrailOutcome:
    n = len(table)
    return apply_guardrails(
        table,
        pd.Series(risk if risk is not None else [0.9] * n, index=table.index),
        fractions if fractions is not None else _fractions(n),
        catalogue,
        strategy if strategy is not None else NO_FLOORS,
    )


def _removed(outcome: GuardrailOutcome, rule: str) -> dict[str, list[bool]]:
    """Per action, the loans the rule removed it for (only actions with any removal)."""
    frame = outcome.removed_by[rule]
    return {action: frame[action].tolist() for action in frame.columns if frame[action].any()}


def test_registry_names_are_unique_and_described() -> None:
    """Gives the registry; expects unique names, each with a description."""
    assert len(set(GUARDRAIL_NAMES)) == len(GUARDRAILS) == 6
    assert all(rule.description for rule in GUARDRAILS)


def test_legal_escalation_names_each_failing_condition(catalogue: ActionCatalogue) -> None:
    """Gives loans failing none, each, and all legal conditions; expects exact removals."""
    table = _table(
        5,
        {
            schema.LEGAL_ACTION_TAKEN: ["No", "No", "Yes", "No", "Yes"],
            schema.OUTSTANDING_LOAN_AMOUNT: [50_000.0, 200_000.0, 200_000.0, 20_000.0, 20_000.0],
        },
    )
    outcome = _apply(table, catalogue, risk=[0.50, 0.41, 0.9, 0.9, 0.41])
    assert _removed(outcome, "legal-escalation") == {"legal": [False, True, True, True, True]}
    assert outcome.allowed["legal"].tolist() == [True, False, False, False, False]
    explanations = outcome.explanations.tolist()
    assert explanations[0] == ""
    assert explanations[1] == "legal removed: risk 0.41 below the legal threshold 0.50"
    assert explanations[2] == "legal removed: legal action already taken"
    assert explanations[3] == "legal removed: outstanding 20000 below the legal minimum 50000"
    assert explanations[4] == (
        "legal removed: risk 0.41 below the legal threshold 0.50, legal action already taken, "
        "outstanding 20000 below the legal minimum 50000"
    )
    assert outcome.explanations.name == schema.GUARDRAILS


def test_legal_needs_a_recorded_no(catalogue: ActionCatalogue) -> None:
    """Gives a blank Legal_Action_Taken; expects legal removed, saying the record is missing."""
    outcome = _apply(_table(1, {schema.LEGAL_ACTION_TAKEN: [None]}), catalogue)
    assert not outcome.allowed["legal"].iloc[0]
    assert outcome.explanations.iloc[0] == (
        "legal removed: no record that legal action was never taken"
    )


def test_rule_on_an_ineligible_action_is_recorded_not_explained(
    catalogue: ActionCatalogue,
) -> None:
    """Gives a low-risk loan at DPD 30 (legal not eligible); expects no legal sentence."""
    outcome = _apply(_table(1, {schema.DAYS_PAST_DUE: [30]}), catalogue, risk=[0.1])
    assert outcome.removed_by["legal-escalation"]["legal"].tolist() == [True]
    assert not outcome.eligible["legal"].iloc[0]
    assert outcome.explanations.iloc[0] == ""


def test_settlement_floor(catalogue: ActionCatalogue) -> None:
    """Gives expected settlement fractions 0.49, 0.50, 0.80; expects only the first removed."""
    outcome = _apply(_table(3), catalogue, fractions=_fractions(3, settlement=[0.49, 0.5, 0.8]))
    assert _removed(outcome, "settlement-floor") == {"settlement": [True, False, False]}
    assert outcome.explanations.iloc[0] == (
        "settlement removed: expected recovery 49% of outstanding, below the 50% floor "
        "(maximum discount)"
    )


def test_do_not_contact(catalogue: ActionCatalogue) -> None:
    """Gives Do_Not_Contact Yes / No / blank, then no column; expects reminder+call off for Yes."""
    table = _table(3, {schema.DO_NOT_CONTACT: ["Yes", "No", None]})
    outcome = _apply(table, catalogue)
    assert _removed(outcome, "do-not-contact") == {
        "reminder": [True, False, False],
        "call": [True, False, False],
    }
    assert outcome.explanations.iloc[0] == (
        "reminder and call removed: borrower must not be contacted"
    )
    assert _removed(_apply(_table(3), catalogue), "do-not-contact") == {}


def test_reminder_consent(catalogue: ActionCatalogue) -> None:
    """Gives consent pairs; expects the reminder off when neither channel says Yes."""
    table = _table(
        4,
        {
            schema.CONSENT_SMS: ["No", "Yes", "No", None],
            schema.CONSENT_EMAIL: ["No", "No", "Yes", "No"],
        },
    )
    outcome = _apply(table, catalogue)
    assert _removed(outcome, "reminder-consent") == {"reminder": [True, False, False, True]}
    assert outcome.explanations.iloc[0] == "reminder removed: no SMS or email consent"


def test_reminder_needs_an_address_on_a_consented_channel(catalogue: ActionCatalogue) -> None:
    """Gives consent with and without the channel's address (validation blanks unusable
    ones); expects the reminder off only when no consented channel has an address."""
    table = _table(
        5,
        {
            schema.CONSENT_SMS: ["Yes", "Yes", "No", "Yes", "No"],
            schema.CONSENT_EMAIL: ["No", "Yes", "Yes", "Yes", "No"],
            schema.PHONE: [None, None, "+919800000000", "+919800000000", None],
            schema.EMAIL: ["a@example.com", "a@example.com", None, None, None],
        },
    )
    outcome = _apply(table, catalogue)
    assert _removed(outcome, "reminder-consent") == {"reminder": [True, False, True, False, True]}
    assert outcome.explanations.iloc[0] == (
        "reminder removed: no usable phone or email on a consented channel"
    )
    assert outcome.explanations.iloc[4] == "reminder removed: no SMS or email consent"


def test_missing_address_column_says_nothing_about_addresses(catalogue: ActionCatalogue) -> None:
    """Gives SMS consent and an Email column but no Phone column; expects the reminder kept."""
    table = _table(
        1, {schema.CONSENT_SMS: ["Yes"], schema.CONSENT_EMAIL: ["No"], schema.EMAIL: [None]}
    )
    assert _removed(_apply(table, catalogue), "reminder-consent") == {}


def test_reminder_consent_inactive_without_both_columns(catalogue: ActionCatalogue) -> None:
    """Gives only Consent_SMS = No; expects the rule inactive (email consent is unknown)."""
    outcome = _apply(_table(1, {schema.CONSENT_SMS: ["No"]}), catalogue)
    assert _removed(outcome, "reminder-consent") == {}


def test_attempt_limit(catalogue: ActionCatalogue) -> None:
    """Gives 14, 15 and 30 attempts with a limit of 15; expects the call off from 15 on."""
    outcome = _apply(_table(3, {schema.COLLECTION_ATTEMPTS: [14, 15, 30]}), catalogue)
    assert _removed(outcome, "attempt-limit") == {"call": [False, True, True]}
    assert outcome.explanations.iloc[2] == "call removed: 30 contact attempts made, limit 15"


def test_asset_class_floor(catalogue: ActionCatalogue) -> None:
    """Gives Standard, SMA-2 and NPA loans and a custom SMA-2 floor; expects class removals."""
    table = _table(3, {schema.DAYS_PAST_DUE: [0, 75, 91]})
    defaults = _apply(table, catalogue, strategy=StrategySettings())
    assert _removed(defaults, "asset-class-floor") == {"reminder": [False, False, True]}
    strategy = StrategySettings(
        guardrails={
            "asset_class_excluded_actions": {"SMA-2": ("reminder", "call"), "NPA": ("reminder",)}
        }
    )
    outcome = _apply(table, catalogue, strategy=strategy)
    assert _removed(outcome, "asset-class-floor") == {
        "reminder": [False, True, True],
        "call": [False, True, False],
    }
    assert outcome.explanations.iloc[1] == (
        "reminder and call removed: not enough on its own for a loan classed SMA-2"
    )


def test_sentences_of_several_rules_join_in_registry_order(catalogue: ActionCatalogue) -> None:
    """Gives a loan hit by three rules; expects their sentences '; '-joined in order."""
    table = _table(
        1,
        {schema.COLLECTION_ATTEMPTS: [20], schema.LEGAL_ACTION_TAKEN: ["Yes"]},
    )
    outcome = _apply(
        table, catalogue, fractions=_fractions(1, settlement=[0.2]), strategy=StrategySettings()
    )
    assert outcome.explanations.iloc[0] == (
        "legal removed: legal action already taken; "
        "settlement removed: expected recovery 20% of outstanding, below the 50% floor "
        "(maximum discount); "
        "call removed: 20 contact attempts made, limit 15; "
        "reminder removed: not enough on its own for a loan classed NPA"
    )


def test_everything_removed_means_hold(catalogue: ActionCatalogue) -> None:
    """Gives an NPA floor excluding every action; expects hold and a hold sentence."""
    strategy = StrategySettings(
        guardrails={"asset_class_excluded_actions": {"NPA": schema.ACTION_NAMES}}
    )
    table = _table(2, {schema.DAYS_PAST_DUE: [120, 10]})
    outcome = _apply(table, catalogue, strategy=strategy)
    assert outcome.held.tolist() == [True, False]
    assert outcome.explanations.iloc[0].endswith(HOLD_SENTENCE)
    values = pd.DataFrame(np.ones((2, 6)), columns=ACTIONS)
    decision = decide(values, outcome.allowed, pd.Series(["legal", "legal"]))
    assert decision[schema.RECOMMENDED_ACTION].tolist() == [HOLD, "reminder"]
    assert decision[schema.EXPECTED_NET_RECOVERY].iloc[0] == 0.0
    assert decision[schema.PRIORITY].iloc[0] == 0.0


def _random_book(seed: int, n: int = 300) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: rng.integers(0, 400, n),
            schema.COLLATERAL_VALUE: rng.choice([0.0, 1e5], n),
            schema.OUTSTANDING_LOAN_AMOUNT: rng.uniform(0, 2e5, n),
            schema.LEGAL_ACTION_TAKEN: rng.choice(["Yes", "No"], n),
            schema.COLLECTION_ATTEMPTS: rng.integers(0, 30, n),
            schema.DO_NOT_CONTACT: rng.choice(["Yes", "No"], n, p=[0.2, 0.8]),
            schema.CONSENT_SMS: rng.choice(["Yes", "No"], n),
            schema.CONSENT_EMAIL: rng.choice(["Yes", "No"], n),
        }
    )
    fractions = pd.DataFrame(rng.random((n, 6)), columns=ACTIONS)
    return table, rng.random(n), fractions


@pytest.mark.parametrize("seed", range(5))
def test_decide_never_recommends_a_removed_action(catalogue: ActionCatalogue, seed: int) -> None:
    """Gives random loans and values; expects allowed = eligible minus every rule's removals,
    and no recommendation any rule (or eligibility) removed."""
    table, risk, fractions = _random_book(seed)
    settings = load_settings(actions={"restructure": {"requires_collateral": True}})
    catalogue = ActionCatalogue.from_settings(settings)
    outcome = apply_guardrails(table, risk, fractions, catalogue, settings.strategy)
    removed = np.zeros((len(table), 6), dtype=bool)
    for name in GUARDRAIL_NAMES:
        removed |= outcome.removed_by[name].to_numpy()
    expected = outcome.eligible.to_numpy() & ~removed
    np.testing.assert_array_equal(outcome.allowed.to_numpy(), expected)

    values = pd.DataFrame(
        np.random.default_rng(seed).normal(0, 1e4, (len(table), 6)), columns=ACTIONS
    )
    decision = decide(values, outcome.allowed, pd.Series(["call"] * len(table)))
    chosen = decision[schema.RECOMMENDED_ACTION].to_numpy()
    for position, action in enumerate(ACTIONS):
        picked = chosen == action
        assert not (picked & ~expected[:, position]).any(), action
        for name in GUARDRAIL_NAMES:
            assert not (picked & outcome.removed_by[name][action].to_numpy()).any(), name
    assert ((chosen == HOLD) == ~expected.any(axis=1)).all()


def test_inputs_are_checked(catalogue: ActionCatalogue) -> None:
    """Gives a missing column, a misaligned fraction frame and bad risks; expects SchemaErrors."""
    table = _table(2)
    with pytest.raises(SchemaError) as error:
        _apply(table.drop(columns=[schema.COLLECTION_ATTEMPTS]), catalogue)
    assert error.value.missing_columns == (schema.COLLECTION_ATTEMPTS,)
    with pytest.raises(SchemaError, match="table's index"):
        _apply(table, catalogue, fractions=_fractions(2).set_axis([7, 8]))
    with pytest.raises(SchemaError, match="probabilities"):
        _apply(table, catalogue, risk=[0.5, 1.5])
    with pytest.raises(SchemaError, match="one risk score per loan"):
        apply_guardrails(table, [0.5], _fractions(2), catalogue, StrategySettings())


def test_sentences_of_a_mixed_book_read_exactly(catalogue: ActionCatalogue) -> None:
    """Gives loans sharing and differing in risk, balance and attempts (numbers are formatted
    once per distinct value, then spread back); expects each loan's exact text."""
    table = _table(
        5,
        {
            schema.OUTSTANDING_LOAN_AMOUNT: [20_000.0, 200_000.0, 20_000.0, 30_000.4, 200_000.0],
            schema.COLLECTION_ATTEMPTS: [15, 2, 15, 40, 2],
            schema.LEGAL_ACTION_TAKEN: ["No", "No", None, "Yes", "No"],
            schema.DO_NOT_CONTACT: ["No", "Yes", "No", "No", "No"],
        },
    )
    outcome = _apply(table, catalogue, risk=[0.41, 0.41, 0.9, 0.333, 0.7])
    assert outcome.explanations.tolist() == [
        "legal removed: risk 0.41 below the legal threshold 0.50, outstanding 20000 below the "
        "legal minimum 50000; call removed: 15 contact attempts made, limit 15",
        "legal removed: risk 0.41 below the legal threshold 0.50; "
        "reminder and call removed: borrower must not be contacted",
        "legal removed: no record that legal action was never taken, outstanding 20000 below "
        "the legal minimum 50000; call removed: 15 contact attempts made, limit 15",
        "legal removed: risk 0.33 below the legal threshold 0.50, legal action already taken, "
        "outstanding 30000 below the legal minimum 50000; "
        "call removed: 40 contact attempts made, limit 15",
        "",
    ]
    assert outcome.explanations.dtype == "str"


def test_categories_arrow_strings_and_objects_give_the_same_outcome(
    catalogue: ActionCatalogue,
) -> None:
    """Gives one random book with blanks, its text columns as objects, Arrow strings and
    categories (compared by code); expects identical removals and sentences."""
    table, risk, fractions = _random_book(3)
    text_columns = [
        schema.LEGAL_ACTION_TAKEN,
        schema.DO_NOT_CONTACT,
        schema.CONSENT_SMS,
        schema.CONSENT_EMAIL,
    ]
    for column in text_columns:
        table[column] = table[column].astype(object).where(np.arange(len(table)) % 9 != 0)
    outcomes = []
    for dtype in (object, "str", "category"):
        typed = table.astype({column: dtype for column in text_columns})
        outcomes.append(apply_guardrails(typed, risk, fractions, catalogue, StrategySettings()))
    first = outcomes[0]
    assert (first.explanations != "").sum() > 100
    for other in outcomes[1:]:
        pd.testing.assert_series_equal(other.explanations, first.explanations)
        for name in GUARDRAIL_NAMES:
            pd.testing.assert_frame_equal(other.removed_by[name], first.removed_by[name])


def test_a_custom_rule_with_str_sentences_is_joined(catalogue: ActionCatalogue) -> None:
    """Gives an extra rule returning a pandas str Series (blank as NaN); expects its sentence
    after the built-in ones and the blank read as no sentence."""
    from loan_recovery.strategy.rules import Guardrail, RuleContext, RuleResult

    def no_agency(context: RuleContext) -> RuleResult:
        rows = np.array([True, False])
        sentences = pd.Series(["agency removed: test", None], index=context.table.index)
        return RuleResult(context.removal(["agency"], rows), sentences.astype("str"))

    rules = (*GUARDRAILS, Guardrail("no-agency", "test", no_agency))
    table = _table(2, {schema.COLLECTION_ATTEMPTS: [20, 20]})
    outcome = apply_guardrails(
        table, pd.Series([0.9, 0.9]), _fractions(2), catalogue, NO_FLOORS, rules=rules
    )
    assert outcome.explanations.tolist() == [
        "call removed: 20 contact attempts made, limit 15; agency removed: test",
        "call removed: 20 contact attempts made, limit 15",
    ]
