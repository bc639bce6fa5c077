"""Reasons where they are read: the plan explains the loans it works, unless told otherwise.

On 1,500 fresh loans and the session's trained registry: with ``explain.scope = "worked"``
only the first ``worked_loans`` worked loans of the worklist get reason codes, and they
are exactly the reasons ``scope = "all"`` gives them; every other column of the worklist
is identical; a plan of at most ``all_below`` loans explains every loan; with capacity,
only the loans within it are worked and explained.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import plan_loans

LOANS = 1_500
REASONS = [schema.reason_column(rank) for rank in (1, 2, 3)]


@pytest.fixture(scope="module")
def bundle(served_models: Path) -> ModelBundle:
    return load_bundle(ModelRegistry(served_models))


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return validate_frame(simulate_portfolio(LOANS, 99).loans).table


def _settings(**explain: object) -> Settings:
    return load_settings(strategy={"capacity": {}, "budget": None}, explain=explain)


def _worked(worklist: pd.DataFrame) -> pd.Series:
    return worklist[schema.RECOMMENDED_ACTION] != HOLD


def test_worked_scope_explains_the_first_worked_loans_as_all_does(
    book: pd.DataFrame, bundle: ModelBundle
) -> None:
    """Gives 1,500 loans, all_below 100 and worked_loans 200; expects reasons on exactly
    the first 200 worked loans of the worklist, equal to scope=all's, the rest blank, and
    every other column identical."""
    every = plan_loans(book, bundle, _settings(scope="all")).worklist
    worked = plan_loans(book, bundle, _settings(all_below=100, worked_loans=200)).worklist
    assert _worked(every).sum() > 200  # the limit binds
    explained = worked[REASONS[0]] != ""
    expected = _worked(worked) & (_worked(worked).cumsum() <= 200)
    assert explained.tolist() == expected.tolist()
    pd.testing.assert_frame_equal(worked[explained][REASONS], every[explained][REASONS])
    assert (worked.loc[~explained, REASONS] == "").all().all()
    assert (every[REASONS[0]] != "").all()
    others = [column for column in every.columns if column not in REASONS]
    pd.testing.assert_frame_equal(worked[others], every[others])


def test_a_small_plan_explains_every_loan(book: pd.DataFrame, bundle: ModelBundle) -> None:
    """Gives 50 loans with the default settings (all_below 1,000); expects every loan,
    held ones included, explained."""
    worklist = plan_loans(book.head(50), bundle, _settings()).worklist
    assert (~_worked(worklist)).any()
    assert (worklist[REASONS[0]] != "").all()


def test_with_capacity_only_loans_within_it_are_explained(
    book: pd.DataFrame, bundle: ModelBundle
) -> None:
    """Gives calls capped at 30 and no other action allowed a slot; expects reasons on the
    worked loans only (the capacity's), none beyond."""
    settings = _settings(all_below=0)
    capacity = {action: 0 for action in schema.ACTION_NAMES if action != "call"} | {"call": 30}
    worklist = plan_loans(book, bundle, settings, capacity=capacity).worklist
    explained = worklist[REASONS[0]] != ""
    assert _worked(worklist).sum() == 30
    assert explained.tolist() == _worked(worklist).tolist()


def test_every_loan_follows_scope_and_size() -> None:
    """Gives scope and all_below; expects every_loan true for scope=all or a small plan."""
    worked = load_settings(explain={"scope": "worked", "all_below": 10}).explain
    assert (worked.every_loan(10), worked.every_loan(11)) == (True, False)
    assert load_settings(explain={"scope": "all", "all_below": 0}).explain.every_loan(10**6)


def test_a_plan_that_works_no_loan_has_blank_reasons(
    book: pd.DataFrame, bundle: ModelBundle
) -> None:
    """Gives every action zero capacity (nothing is worked); expects blank reasons, no error."""
    capacity = dict.fromkeys(schema.ACTION_NAMES, 0)
    worklist = plan_loans(book, bundle, _settings(all_below=0), capacity=capacity).worklist
    assert (worklist[schema.RECOMMENDED_ACTION] == HOLD).all()
    assert (worklist[REASONS] == "").all().all()
