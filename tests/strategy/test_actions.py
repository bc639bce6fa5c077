"""Known-answer tests for the action catalogue: order, cost arithmetic, eligibility, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.strategy.actions import HOLD, ActionCatalogue


@pytest.fixture(scope="module")
def catalogue(settings: Settings) -> ActionCatalogue:
    return ActionCatalogue.from_settings(settings)


def _fractions(rows: list[dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(schema.ACTION_NAMES))


def test_catalogue_follows_schema_order_and_settings(catalogue: ActionCatalogue) -> None:
    """Gives default settings; expects schema order, configured costs and read-only arrays."""
    assert catalogue.names == schema.ACTION_NAMES
    assert len(catalogue) == 6
    assert HOLD not in catalogue.names
    legal = catalogue.index_of("legal")
    assert catalogue.fixed_cost[legal] == 25_000
    assert catalogue.recovery_share[legal] == pytest.approx(0.05)
    assert catalogue.min_days_past_due[legal] == 91
    assert np.isinf(catalogue.max_days_past_due[legal])
    assert catalogue.collection_methods[legal] == "Legal Notice"
    with pytest.raises(ValueError, match="read-only"):
        catalogue.fixed_cost[0] = 0.0


#: Actions from the quickest money to the slowest (15, 30, 45, 60, 90, 540 days).
_BY_DAYS = ("reminder", "call", "settlement", "restructure", "agency", "legal")


def test_discount_factors_follow_days_to_money(catalogue: ActionCatalogue) -> None:
    """Gives default settings (9% cost of funds); expects DF = 1.09 ** (-days / 365) per
    action (reminder 15 days, legal 540) and 30 days for hold."""
    assert catalogue.discount[catalogue.index_of("reminder")] == pytest.approx(
        1.09 ** (-15 / 365), rel=1e-12
    )
    assert catalogue.discount[catalogue.index_of("legal")] == pytest.approx(0.8802971, rel=1e-6)
    assert catalogue.hold_discount == pytest.approx(1.09 ** (-30 / 365), rel=1e-12)
    assert catalogue.hold_discount == pytest.approx(0.9929419, rel=1e-6)
    assert (np.diff(catalogue.discount[[catalogue.index_of(a) for a in _BY_DAYS]]) < 0).all()
    with pytest.raises(ValueError, match="read-only"):
        catalogue.discount[0] = 1.0


def test_cost_arithmetic_known_answers(catalogue: ActionCatalogue) -> None:
    """Gives one loan of 100,000 outstanding; expects recovered, cost and discounted net
    worked by hand (DF(t) = 1.09 ** (-t / 365))."""
    fractions = _fractions(
        [
            {
                "reminder": 0.1,
                "call": 0.2,
                "restructure": 0.5,
                "settlement": 0.55,
                "legal": 0.6,
                "agency": 0.5,
            }
        ]
    )
    outstanding = pd.Series([100_000.0])
    recovered = catalogue.expected_recovered(fractions, outstanding).iloc[0]
    cost = catalogue.cost(fractions, outstanding).iloc[0]
    net = catalogue.expected_net(fractions, outstanding).iloc[0]
    assert recovered["legal"] == pytest.approx(60_000)
    # legal: 25,000 fixed + 5% of 60,000 recovered
    assert cost["legal"] == pytest.approx(28_000)
    # legal: 57,000 kept after the lawyer's 5%, paid in 540 days (DF 0.88030), less 25,000
    assert net["legal"] == pytest.approx(57_000 * 1.09 ** (-540 / 365) - 25_000)
    assert net["legal"] == pytest.approx(25_176.937, abs=1e-3)
    # agency: 3,000 fixed + 15% of 50,000
    assert cost["agency"] == pytest.approx(10_500)
    assert net["agency"] == pytest.approx(42_500 * 1.09 ** (-90 / 365) - 3_000)
    assert net["agency"] == pytest.approx(38_606.432, abs=1e-3)
    assert net["reminder"] == pytest.approx(9_914.647, abs=1e-3)
    assert net["restructure"] == pytest.approx(45_296.684, abs=1e-3)


def test_hold_value_known_answer(catalogue: ActionCatalogue) -> None:
    """Gives a hold fraction of 0.3 on 100,000; expects 30,000 x DF(30 days) = 29,788.26,
    no cost, and a SchemaError naming the hold column when the fractions lack it."""
    fractions = _fractions([dict.fromkeys(schema.ACTION_NAMES, 0.5)]).assign(**{HOLD: 0.3})
    value = catalogue.hold_value(fractions, pd.Series([100_000.0]))
    assert value.name == HOLD
    assert value.iloc[0] == pytest.approx(29_788.258, abs=1e-3)
    with pytest.raises(SchemaError, match="hold") as error:
        catalogue.hold_value(fractions.drop(columns=[HOLD]), [100_000.0])
    assert error.value.missing_columns == (HOLD,)
    with pytest.raises(SchemaError, match=r"within \[0, 1\]"):
        catalogue.hold_value(fractions.assign(**{HOLD: 1.5}), [100_000.0])


def test_net_is_recovered_minus_cost_without_a_cost_of_funds() -> None:
    """Gives random fractions and balances at a 0% cost of funds; expects net == recovered
    - cost everywhere (no discounting)."""
    catalogue = ActionCatalogue.from_settings(load_settings(economics={"cost_of_funds": 0.0}))
    assert (catalogue.discount == 1.0).all()
    assert catalogue.hold_discount == 1.0
    rng = np.random.default_rng(0)
    fractions = pd.DataFrame(rng.random((50, 6)), columns=list(schema.ACTION_NAMES))
    outstanding = rng.uniform(0, 1e6, 50)
    net = catalogue.expected_net(fractions, outstanding)
    gap = catalogue.expected_recovered(fractions, outstanding) - catalogue.cost(
        fractions, outstanding
    )
    np.testing.assert_allclose(net.to_numpy(), gap.to_numpy(), rtol=1e-12, atol=1e-6)
    assert list(net.columns) == list(schema.ACTION_NAMES)


def test_discounting_only_delays_the_recovered_money(catalogue: ActionCatalogue) -> None:
    """Gives random fractions and balances at 9%; expects net == recovered x (1 - share) x DF
    - fixed cost: below the undiscounted net by exactly the waiting cost, never above it."""
    rng = np.random.default_rng(0)
    fractions = pd.DataFrame(rng.random((50, 6)), columns=list(schema.ACTION_NAMES))
    outstanding = rng.uniform(0, 1e6, 50)
    net = catalogue.expected_net(fractions, outstanding).to_numpy()
    recovered = catalogue.expected_recovered(fractions, outstanding).to_numpy()
    kept = recovered * (1 - catalogue.recovery_share)
    undiscounted = (recovered - catalogue.cost(fractions, outstanding)).to_numpy()
    np.testing.assert_allclose(net, kept * catalogue.discount - catalogue.fixed_cost, rtol=1e-12)
    np.testing.assert_allclose(
        undiscounted - net, kept * (1 - catalogue.discount), rtol=1e-9, atol=1e-6
    )
    assert (net <= undiscounted + 1e-9).all()


def test_fractions_are_checked(catalogue: ActionCatalogue) -> None:
    """Gives a missing action column, then a fraction of 1.2; expects clear SchemaErrors."""
    partial = pd.DataFrame({"reminder": [0.1]})
    with pytest.raises(SchemaError, match="missing") as error:
        catalogue.expected_net(partial, [1.0])
    assert "legal" in error.value.missing_columns
    bad = _fractions([dict.fromkeys(schema.ACTION_NAMES, 0.5) | {"legal": 1.2}])
    with pytest.raises(SchemaError, match=r"within \[0, 1\].*'legal'"):
        catalogue.cost(bad, [1.0])


def test_outstanding_is_checked(catalogue: ActionCatalogue) -> None:
    """Gives a misaligned Series, a wrong length and a negative balance; expects SchemaErrors."""
    fractions = _fractions([dict.fromkeys(schema.ACTION_NAMES, 0.5)] * 2)
    with pytest.raises(SchemaError, match="same index"):
        catalogue.expected_net(fractions, pd.Series([1.0, 2.0], index=[5, 6]))
    with pytest.raises(SchemaError, match="one outstanding amount per loan"):
        catalogue.expected_net(fractions, [1.0])
    with pytest.raises(SchemaError, match=">= 0"):
        catalogue.expected_net(fractions, [1.0, -2.0])


def test_eligibility_windows_and_collateral() -> None:
    """Gives call capped at DPD 60 and secured-only restructure; expects inclusive windows."""
    settings = load_settings(
        actions={
            "call": {"max_days_past_due": 60},
            "restructure": {"requires_collateral": True},
        }
    )
    catalogue = ActionCatalogue.from_settings(settings)
    table = pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: [0, 60, 61, 90, 91, 400],
            schema.COLLATERAL_VALUE: [0.0, 1.0, 0.0, 5.0, 0.0, 1e6],
        }
    )
    eligible = catalogue.eligibility(table)
    assert eligible["call"].tolist() == [True, True, False, False, False, False]
    assert eligible["legal"].tolist() == [False, False, False, False, True, True]
    assert eligible["restructure"].tolist() == [False, True, False, True, False, True]
    assert eligible["reminder"].all()
    assert eligible["agency"].all()


def test_unknown_dpd_fails_only_windowed_actions(catalogue: ActionCatalogue) -> None:
    """Gives a blank DPD; expects open-window actions eligible and legal (DPD >= 91) not."""
    table = pd.DataFrame({schema.DAYS_PAST_DUE: [np.nan], schema.COLLATERAL_VALUE: [0.0]})
    eligible = catalogue.eligibility(table).iloc[0]
    assert not eligible["legal"]
    assert eligible.drop("legal").all()


def test_eligibility_needs_its_columns(catalogue: ActionCatalogue) -> None:
    """Gives a table without collateral; expects a SchemaError naming the column."""
    with pytest.raises(SchemaError) as error:
        catalogue.eligibility(pd.DataFrame({schema.DAYS_PAST_DUE: [1]}))
    assert error.value.missing_columns == (schema.COLLATERAL_VALUE,)


def test_config_errors_are_clear() -> None:
    """Gives an unknown action, a negative cost and a reversed window; expects ConfigErrors."""
    with pytest.raises(ConfigError, match="teleport"):
        load_settings(
            actions={"teleport": {"fixed_cost": 1, "channel": "x", "collection_method": "Calls"}}
        )
    with pytest.raises(ConfigError, match=r"actions\.legal\.fixed_cost"):
        load_settings(actions={"legal": {"fixed_cost": -5}})
    with pytest.raises(ConfigError, match="max_days_past_due must be >= min_days_past_due"):
        load_settings(actions={"call": {"min_days_past_due": 30, "max_days_past_due": 10}})


def test_unknown_action_lookup(catalogue: ActionCatalogue) -> None:
    """Gives an unknown name; expects a ConfigError listing the catalogue."""
    with pytest.raises(ConfigError, match="unknown action 'hold'"):
        catalogue.index_of(HOLD)
