"""Reconstructing the lender's current rule from a logged history."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from loan_recovery.data import schema
from loan_recovery.exceptions import SchemaError
from loan_recovery.strategy.bau import (
    BAU_COLUMNS,
    BAU_FEATURES,
    BauRule,
    BauRuleError,
    bau_features,
    fit_bau_rule,
)

ACTIONS = np.array(["hold", "reminder", "call", "legal", "agency"], dtype=object)


def _table(n: int, seed: int) -> pd.DataFrame:
    """A canonical-looking history: a third current, the rest spread over 1-200 DPD."""
    rng = np.random.default_rng(seed)
    days = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 200, n))
    income = rng.uniform(20_000, 150_000, n)
    return pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: days,
            schema.MONTHLY_EMI: income * rng.uniform(0.1, 0.7, n),
            schema.MONTHLY_INCOME: income,
            schema.COLLATERAL_VALUE: np.where(rng.random(n) < 0.5, rng.uniform(1e5, 1e6, n), 0.0),
            schema.LEGAL_ACTION_TAKEN: rng.choice(["Yes", "No"], n, p=[0.2, 0.8]),
            schema.OUTSTANDING_LOAN_AMOUNT: rng.uniform(1e4, 1e6, n),
        }
    )


def _known_rule(table: pd.DataFrame) -> np.ndarray:
    """DPD 0 hold, up to 30 reminder, up to 60 call, beyond: legal if secured else agency."""
    days = table[schema.DAYS_PAST_DUE].to_numpy()
    secured = table[schema.COLLATERAL_VALUE].to_numpy() > 0
    late = np.where(secured, "legal", "agency")
    chosen = np.select([days == 0, days <= 30, days <= 60], ["hold", "reminder", "call"], late)
    return chosen.astype(object)


def _history(n: int = 4_000, seed: int = 0, noise: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    """The known rule, with a share ``noise`` of rows given a uniformly random action."""
    table = _table(n, seed)
    rng = np.random.default_rng(seed + 1)
    logged = _known_rule(table)
    flip = rng.random(n) < noise
    logged[flip] = rng.choice(ACTIONS, int(flip.sum()))
    return table, logged


@pytest.fixture(scope="module")
def history() -> tuple[pd.DataFrame, np.ndarray]:
    return _history()


@pytest.fixture(scope="module")
def rule(history: tuple[pd.DataFrame, np.ndarray]) -> BauRule:
    table, logged = history
    # Greedy splitting spends its first split on DPD 0 (the largest class), so a five-action
    # rule needs depth 4 to separate all of them; the default depth 3 merges two.
    return fit_bau_rule(table, logged, max_depth=4)


def test_known_threshold_rule_is_recovered_despite_noise(
    rule: BauRule, history: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Gives a 10%-noisy history of a DPD/secured rule; expects >= 85% agreement, the rule
    itself on fresh loans, and rule text that reads in DPD terms."""
    table, logged = history
    assert rule.agreement >= 0.85
    assert rule.agreement == pytest.approx(float(np.mean(rule.predict(table) == logged)))
    fresh = _table(2_000, seed=99)
    assert float(np.mean(rule.predict(fresh) == _known_rule(fresh))) >= 0.95
    text = rule.rules_text()
    assert "days_past_due" in text
    assert "if days_past_due <= 0.5: hold" in text
    assert "secured" in text


def test_rule_text_reads_as_nested_if_else(rule: BauRule) -> None:
    """Gives the fitted rule; expects each action at a leaf, indented else branches."""
    text = rule.rules_text()
    lines = text.splitlines()
    assert lines[0].startswith("if ")
    assert any(line.startswith("    ") for line in lines)
    for action in ("hold", "reminder", "call", "legal", "agency"):
        assert action in text


def test_prediction_from_the_arrays_equals_sklearn(
    rule: BauRule, history: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Gives the same tree fitted directly with sklearn; expects identical actions."""
    table, logged = history
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=50, random_state=0)
    tree.fit(bau_features(table).to_numpy(), logged.astype(str))
    fresh = _table(3_000, seed=5)
    assert np.array_equal(rule.predict(fresh), tree.predict(bau_features(fresh).to_numpy()))


def test_json_round_trip_predicts_identically(rule: BauRule) -> None:
    """Gives the rule saved to JSON text and loaded back; expects an equal rule, same actions."""
    loaded = BauRule.from_json(json.loads(json.dumps(rule.to_json(), allow_nan=False)))
    assert loaded == rule
    fresh = _table(2_000, seed=7)
    assert np.array_equal(loaded.predict(fresh), rule.predict(fresh))
    assert loaded.rules_text() == rule.rules_text()


def test_thresholds_on_float32_edges_route_like_sklearn() -> None:
    """Gives fractional EMI ratios splitting the book; expects the saved rule to agree with
    sklearn on every row, including values at the float32 edge of a threshold."""
    table = _table(3_000, seed=11)
    ratio = table[schema.MONTHLY_EMI] / table[schema.MONTHLY_INCOME]
    logged = np.where(ratio > 0.4, "restructure", "reminder").astype(object)
    rule = fit_bau_rule(table, logged, max_depth=2, min_samples_leaf=1)
    assert rule.agreement == 1.0
    assert "emi_to_income <= 0.4" in rule.rules_text()
    loaded = BauRule.from_json(json.loads(json.dumps(rule.to_json(), allow_nan=False)))
    tree = DecisionTreeClassifier(max_depth=2, min_samples_leaf=1, random_state=0)
    tree.fit(bau_features(table).to_numpy(), logged.astype(str))
    edge = table.copy()
    edge[schema.MONTHLY_EMI] = edge[schema.MONTHLY_INCOME] * rule.threshold[0]
    assert np.array_equal(loaded.predict(edge), tree.predict(bau_features(edge).to_numpy()))


def test_single_action_history_gives_a_one_leaf_rule() -> None:
    """Gives a history where everyone got a reminder; expects that rule, fully agreeing."""
    table = _table(200, seed=3)
    rule = fit_bau_rule(table, np.full(200, "reminder", dtype=object))
    assert rule.rules_text() == "reminder"
    assert rule.depth == 0
    assert rule.agreement == 1.0
    assert set(rule.predict(table)) == {"reminder"}


def test_features_have_readable_names_and_flags() -> None:
    """Gives two loans; expects the five named features with 0/1 secured and prior legal."""
    table = pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: [0, 45],
            schema.MONTHLY_EMI: [5_000.0, 2_000.0],
            schema.MONTHLY_INCOME: [10_000.0, 0.0],
            schema.COLLATERAL_VALUE: [0.0, 50_000.0],
            schema.LEGAL_ACTION_TAKEN: ["No", "Yes"],
            schema.OUTSTANDING_LOAN_AMOUNT: [1_000.0, 2_000.0],
        }
    )
    frame = bau_features(table)
    assert tuple(frame.columns) == BAU_FEATURES
    np.testing.assert_allclose(frame.to_numpy(), [[0, 0.5, 0, 0, 1_000], [45, 100.0, 1, 1, 2_000]])


def test_missing_column_is_named(history: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Gives a table without collateral; expects a SchemaError naming that column."""
    table, logged = history
    with pytest.raises(SchemaError, match=schema.COLLATERAL_VALUE) as caught:
        fit_bau_rule(table.drop(columns=[schema.COLLATERAL_VALUE]), logged)
    assert caught.value.missing_columns == (schema.COLLATERAL_VALUE,)
    assert set(BAU_COLUMNS) >= set(caught.value.missing_columns)


@pytest.mark.parametrize(
    ("rows", "actions", "message"),
    [
        (0, [], "at least one row"),
        (3, ["hold", "call"], "one logged action per loan"),
        (2, ["hold", None], "must all be named"),
    ],
)
def test_unusable_history_is_refused(rows: int, actions: list[str | None], message: str) -> None:
    """Gives an empty, mismatched or blank-labelled history; expects a BauRuleError."""
    with pytest.raises(BauRuleError, match=message):
        fit_bau_rule(_table(rows, seed=0), np.asarray(actions, dtype=object))


def test_bad_settings_are_refused(history: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Gives max_depth 0; expects a BauRuleError naming both settings."""
    table, logged = history
    with pytest.raises(BauRuleError, match="max_depth and min_samples_leaf must be >= 1"):
        fit_bau_rule(table, logged, max_depth=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "expected a BAU rule with format"),
        ({"features": ["days_past_due"]}, "uses features"),
        ({"left": [5, -1, -1]}, "points to children"),
        ({"node_action": [0, 0, 9]}, "chooses action 9"),
        ({"threshold": [0.5]}, "of one length"),
    ],
)
def test_malformed_json_is_refused(change: dict[str, object], message: str) -> None:
    """Gives a saved rule with one field broken; expects a BauRuleError saying which."""
    good = {
        "format": "loan_recovery.bau_rule/1",
        "features": list(BAU_FEATURES),
        "actions": ["call", "hold"],
        "feature": [0, -1, -1],
        "threshold": [0.5, 0.0, 0.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "node_action": [1, 1, 0],
        "agreement": 1.0,
    }
    assert (
        BauRule.from_json(good).rules_text()
        == "if days_past_due <= 0.5: hold\nelse: call  # days_past_due > 0.5"
    )
    with pytest.raises(BauRuleError, match=message):
        BauRule.from_json(good | change)
    with pytest.raises(BauRuleError, match="incomplete or malformed"):
        BauRule.from_json({key: value for key, value in good.items() if key != "agreement"})
