"""Safe policy improvement over BAU on toy worlds whose true values are known."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from loan_recovery.data import schema
from loan_recovery.exceptions import SchemaError
from loan_recovery.strategy.intervals import dr_scores
from loan_recovery.strategy.safe import (
    N_CELLS,
    SafeDeviations,
    SafePolicyError,
    cell_labels,
    fit_safe_deviations,
    support_cells,
)

N_ACTIONS = 3  # 0 hold, 1 call, 2 legal
EPSILON = 0.3  # share of rows where the logging policy explores uniformly


@dataclass(frozen=True)
class World:
    """A logged history with the true value of every action on every row."""

    cells: np.ndarray
    true_values: np.ndarray
    bau: np.ndarray
    logged: np.ndarray
    propensity: np.ndarray
    rewards: np.ndarray
    predicted: np.ndarray

    @property
    def proposed(self) -> np.ndarray:
        """The learned policy: the best action by the (noisy, biased) model."""
        return np.argmax(self.predicted, axis=1)

    def true_total(self, actions: np.ndarray) -> float:
        return float(self.true_values[np.arange(len(actions)), actions].sum())

    def fit(self, **settings: object) -> SafeDeviations:
        arguments: dict[str, object] = {"min_support": 30, "confidence": 0.95} | settings
        return fit_safe_deviations(
            cells=self.cells,
            proposed=self.proposed,
            bau=self.bau,
            logged=self.logged,
            propensity=self.propensity,
            rewards=self.rewards,
            predicted=self.predicted,
            **arguments,  # type: ignore[arg-type]
        )


def _world(seed: int, base: np.ndarray, bias: np.ndarray, bau_by_cell: np.ndarray) -> World:
    """Rows spread over the cells; true value = cell mean + row noise; epsilon-greedy BAU
    logging with known propensities; the model adds a per-cell bias and row noise."""
    rng = np.random.default_rng(seed)
    n_cells = base.shape[0]
    n = 1_500 * n_cells
    cells = rng.integers(0, n_cells, n)
    true_values = base[cells] + rng.normal(0, 1, (n, N_ACTIONS))
    bau = bau_by_cell[cells]
    explore = rng.random(n) < EPSILON
    logged = np.where(explore, rng.integers(0, N_ACTIONS, n), bau)
    propensity = np.where(logged == bau, 1 - EPSILON + EPSILON / N_ACTIONS, EPSILON / N_ACTIONS)
    rewards = true_values[np.arange(n), logged] + rng.normal(0, 3, n)
    predicted = true_values + bias[cells] + rng.normal(0, 2, (n, N_ACTIONS))
    return World(cells, true_values, bau, logged, propensity, rewards, predicted)


def _misleading_world(seed: int) -> World:
    """A model that overrates a worse action in every cell, so its proposals lose to BAU."""
    base = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 0.5]])
    bias = np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [0.0, 2.5, 2.5]])
    return _world(seed, base, bias, bau_by_cell=np.array([0, 1, 0]))


def _world_with_a_good_cell(seed: int) -> World:
    """As the misleading world plus a cell where calling beats BAU's hold by 5."""
    base = np.array([[0.0, 5.0, 2.0], [3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 0.5]])
    bias = np.array([[0.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [0.0, 2.5, 2.5]])
    return _world(seed, base, bias, bau_by_cell=np.array([0, 0, 1, 0]))


@pytest.mark.parametrize("seed", range(5))
def test_safe_policy_never_loses_to_bau_when_the_model_misleads(seed: int) -> None:
    """Gives proposals worse than BAU in every cell; expects the naive policy to lose to BAU
    and the safe one not to (its true total >= BAU's)."""
    world = _misleading_world(seed)
    deviations = world.fit()
    safe = deviations.apply(world.cells, world.proposed, world.bau)
    bau_total = world.true_total(world.bau)
    assert world.true_total(world.proposed) < bau_total - 1_000
    assert world.true_total(safe) >= bau_total
    assert not deviations.report["approved"].any()


@pytest.mark.parametrize("seed", range(5))
def test_safe_policy_keeps_the_genuine_gain_and_drops_the_losses(seed: int) -> None:
    """Gives one cell where calling beats hold by 5; expects that deviation approved, the
    harmful ones refused, and the safe policy beating both BAU and the naive policy."""
    world = _world_with_a_good_cell(seed)
    deviations = world.fit()
    safe = deviations.apply(world.cells, world.proposed, world.bau)
    assert (0, 1) in deviations.approved
    assert {cell for cell, _ in deviations.approved} == {0}
    bau_total = world.true_total(world.bau)
    assert world.true_total(safe) > bau_total + 1_000
    assert world.true_total(safe) > world.true_total(world.proposed)
    for cell in (1, 2, 3):
        rows = world.cells == cell
        assert np.array_equal(safe[rows], world.bau[rows])


@pytest.mark.parametrize("seed", range(5))
def test_policy_test_never_loses_to_bau_when_the_model_misleads(seed: int) -> None:
    """Gives proposals worse than BAU in every cell to the held-out policy test; expects
    nothing approved, so the safe policy is BAU exactly, and every check's bound <= 0."""
    world = _misleading_world(seed)
    deviations = world.fit(test="policy", random_state=seed)
    assert deviations.approved == ()
    safe = deviations.apply(world.cells, world.proposed, world.bau)
    np.testing.assert_array_equal(safe, world.bau)
    assert not deviations.checks["chosen"].any()
    assert (deviations.checks["lower_bound"].fillna(0.0) <= 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_policy_test_keeps_the_genuine_gain(seed: int) -> None:
    """Gives one cell where calling beats hold by 5; expects the held-out test to approve
    it and the safe policy to beat BAU and the naive policy."""
    world = _world_with_a_good_cell(seed)
    deviations = world.fit(test="policy", random_state=seed)
    assert (0, 1) in deviations.approved
    assert deviations.checks["chosen"].sum() == 1
    safe = deviations.apply(world.cells, world.proposed, world.bau)
    bau_total = world.true_total(world.bau)
    assert world.true_total(safe) > bau_total + 1_000
    assert world.true_total(safe) > world.true_total(world.proposed)


def test_policy_test_selects_on_one_half_and_tests_on_the_other() -> None:
    """Gives the good-cell world; expects the report's counts from the selection half only,
    and the chosen check's mean to be the DR gain per held-out row of the policy departing
    on the chosen pairs, with its one-sided bound at the Bonferroni-shared level."""
    world = _world_with_a_good_cell(3)
    seed, thresholds, confidence = 7, (0.0, 1.0, 2.0), 0.9
    deviations = world.fit(
        test="policy", random_state=seed, thresholds=thresholds, confidence=confidence
    )
    selection = np.random.default_rng(seed).random(len(world.cells)) < 0.5
    report = deviations.report.set_index(["cell", "action"])
    departs = (world.cells == 0) & (world.proposed == 1) & (world.bau != 1)
    assert report.loc[(0, 1), "rows"] == (departs & selection).sum()

    def score(target: np.ndarray) -> np.ndarray:
        return dr_scores(
            world.rewards, world.logged, world.propensity, target, world.predicted, max_weight=50
        )

    deployed = deviations.apply(world.cells, world.proposed, world.bau)
    gain = (score(deployed) - score(world.bau))[~selection]
    chosen = deviations.checks[deviations.checks["chosen"]].iloc[0]
    assert chosen["mean_gain"] == pytest.approx(gain.mean())
    level = 1 - (1 - confidence) / len(thresholds)
    bound = gain.mean() - norm.ppf(level) * gain.std(ddof=1) / np.sqrt(len(gain))
    assert chosen["lower_bound"] == pytest.approx(bound)
    assert chosen["pairs"] == len(deviations.approved)


def test_policy_test_must_pay_for_every_deployment() -> None:
    """Gives two deployments of the departures: the plan's (departs where approved) and one
    that never departs from BAU (as a capacity limit that reverts every departure would);
    expects the good cell approved with the first alone, and nothing approved with both,
    since the second's held-out gain is exactly zero."""
    world = _world_with_a_good_cell(0)

    def departing(mask: np.ndarray) -> np.ndarray:
        assert mask.shape == (4, N_ACTIONS)
        keep = (world.proposed == world.bau) | mask[world.cells, world.proposed]
        return np.where(keep, world.proposed, world.bau)

    def staying(mask: np.ndarray) -> np.ndarray:
        return world.bau

    alone = world.fit(test="policy", deploys=(departing,))
    assert (0, 1) in alone.approved
    both = world.fit(test="policy", deploys=(departing, staying))
    assert both.approved == ()
    assert (both.checks["mean_gain"] == 0.0).all()  # each check shows its worst deployment


def test_policy_test_is_seeded() -> None:
    """Gives the same world and seed twice; expects identical approvals and checks."""
    world = _world_with_a_good_cell(4)
    first = world.fit(test="policy", random_state=11)
    second = world.fit(test="policy", random_state=11)
    assert first == second
    pd.testing.assert_frame_equal(first.checks, second.checks)


def test_min_support_above_every_count_gives_bau_exactly() -> None:
    """Gives a min_support no action reaches in any cell; expects the safe policy == BAU."""
    world = _world_with_a_good_cell(0)
    deviations = world.fit(min_support=len(world.cells) + 1)
    assert deviations.approved == ()
    safe = deviations.apply(world.cells, world.proposed, world.bau)
    assert np.array_equal(safe, world.bau)


def test_the_confidence_covers_the_family_of_tested_departures() -> None:
    """Gives the good-cell world; expects the family-wise bound (Bonferroni over the pairs
    tested) to be lower than the per-pair bound, and never to approve more."""
    world = _world_with_a_good_cell(1)
    per_pair = world.fit(confidence=0.9, family=False)
    family = world.fit(confidence=0.9)
    report = per_pair.report
    tested = int(((report["rows"] >= 30) & (report["logged_support"] >= 30)).sum())
    assert tested >= 2
    joined = per_pair.report.merge(family.report, on=["cell", "action"], suffixes=("", "_f"))
    finite = joined["lower_bound"].notna()
    assert (joined.loc[finite, "lower_bound_f"] <= joined.loc[finite, "lower_bound"]).all()
    assert set(family.approved) <= set(per_pair.approved)


def test_report_holds_the_dr_gain_and_its_lower_bound() -> None:
    """Gives the good-cell world; expects the report's mean gain and bound for (0, call) to
    equal the DR gain computed directly, and logged support to count logged rows."""
    world = _world_with_a_good_cell(1)
    deviations = world.fit(confidence=0.9, family=False)
    report = deviations.report.set_index(["cell", "action"])
    rows = (world.cells == 0) & (world.proposed == 1) & (world.bau != 1)

    def score(target: np.ndarray) -> np.ndarray:
        return dr_scores(
            world.rewards, world.logged, world.propensity, target, world.predicted, max_weight=50
        )

    gain = (score(world.proposed) - score(world.bau))[rows]
    entry = report.loc[(0, 1)]
    assert entry["rows"] == rows.sum()
    assert entry["logged_support"] == ((world.cells == 0) & (world.logged == 1)).sum()
    assert entry["mean_gain"] == pytest.approx(gain.mean())
    bound = gain.mean() - norm.ppf(0.9) * gain.std(ddof=1) / np.sqrt(rows.sum())
    assert entry["lower_bound"] == pytest.approx(bound)
    assert entry["mean_gain"] == pytest.approx(5.0, abs=0.6)
    assert list(deviations.report.columns) == [
        "cell",
        "action",
        "rows",
        "logged_support",
        "mean_gain",
        "lower_bound",
        "approved",
    ]


def test_a_single_row_group_is_never_approved() -> None:
    """Gives one deviating row with a huge gain; expects no bound (NaN) and no approval."""
    deviations = fit_safe_deviations(
        cells=np.array([0, 0]),
        proposed=np.array([1, 0]),
        bau=np.array([0, 0]),
        logged=np.array([1, 0]),
        propensity=np.array([0.5, 0.5]),
        rewards=np.array([100.0, 0.0]),
        predicted=np.zeros((2, 2)),
        min_support=0,
        confidence=0.9,
    )
    assert deviations.approved == ()
    assert np.isnan(deviations.report["lower_bound"].iloc[0])
    assert deviations.report["mean_gain"].iloc[0] == pytest.approx(200.0)
    text = json.dumps(deviations.to_json(), allow_nan=False)  # strict JSON: NaN saved as null
    pd.testing.assert_frame_equal(
        SafeDeviations.from_json(json.loads(text)).report, deviations.report
    )


def test_apply_follows_the_approved_pairs_only() -> None:
    """Gives one approved pair; expects it kept, other deviations reverted, agreement kept."""
    report = pd.DataFrame(columns=["cell", "action"])
    deviations = SafeDeviations(n_cells=2, n_actions=3, approved=((1, 2),), report=report)
    safe = deviations.apply(
        cells=np.array([1, 1, 0, 0]),
        proposed=np.array([2, 1, 2, 0]),
        bau=np.array([0, 0, 1, 0]),
    )
    np.testing.assert_array_equal(safe, [2, 0, 1, 0])


@pytest.mark.parametrize("test", ["pairs", "policy"])
def test_json_round_trip_keeps_pairs_report_and_decisions(test: str) -> None:
    """Gives fitted deviations through JSON text; expects equal pairs, report, held-out
    checks and actions."""
    world = _world_with_a_good_cell(2)
    deviations = world.fit(test=test)  # type: ignore[arg-type]
    loaded = SafeDeviations.from_json(json.loads(json.dumps(deviations.to_json(), allow_nan=False)))
    assert loaded == deviations
    pd.testing.assert_frame_equal(loaded.report, deviations.report)
    pd.testing.assert_frame_equal(loaded.checks, deviations.checks)
    assert (len(loaded.checks) > 0) == (test == "policy")
    np.testing.assert_array_equal(
        loaded.apply(world.cells, world.proposed, world.bau),
        deviations.apply(world.cells, world.proposed, world.bau),
    )


def _loans(days: list[int], collateral: list[float], emi: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: days,
            schema.COLLATERAL_VALUE: collateral,
            schema.MONTHLY_EMI: emi,
            schema.MONTHLY_INCOME: [1_000.0] * len(days),
        }
    )


def test_support_cells_have_known_codes() -> None:
    """Gives loans at bucket edges; expects bucket x 4 + secured x 2 + high burden."""
    table = _loans(
        days=[0, 30, 31, 45, 90, 180, 181, 5000],
        collateral=[0.0, 10.0, 0.0, 10.0, 0.0, 0.0, 10.0, 0.0],
        emi=[100.0, 450.0, 451.0, 500.0, 0.0, 900.0, 460.0, 1.0],
    )
    np.testing.assert_array_equal(support_cells(table), [0, 6, 9, 11, 12, 17, 23, 20])
    labels = cell_labels()
    assert len(labels) == N_CELLS == 24
    assert labels[11] == "31-60 DPD, secured, high burden"
    assert labels[0] == "0 DPD, unsecured, low burden"


def test_support_cells_name_a_missing_column() -> None:
    """Gives a table without income; expects a SchemaError naming it."""
    table = _loans([0], [0.0], [1.0]).drop(columns=[schema.MONTHLY_INCOME])
    with pytest.raises(SchemaError, match=schema.MONTHLY_INCOME):
        support_cells(table)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confidence": 1.0}, "confidence must lie in"),
        ({"min_support": -1}, "min_support must be >= 0"),
        ({"proposed": np.array([0, 3])}, r"proposed must lie in \[0, 2\)"),
        ({"bau": np.array([0])}, "bau must be 1-D integer codes of length 2"),
        ({"cells": np.array([0.0, 1.0])}, "cells must be 1-D integer codes"),
        ({"propensity": np.array([0.0, 1.0])}, "propensity must lie in"),
        ({"predicted": np.zeros(2)}, "n x k value matrix"),
        ({"test": "both"}, r"test must be one of \['policy', 'pairs'\]"),
        ({"test": "policy", "thresholds": (0.0, np.inf)}, "thresholds must be finite"),
    ],
)
def test_inputs_that_do_not_line_up_are_refused(change: dict[str, object], message: str) -> None:
    """Gives one bad argument each; expects a ValueError from this package saying which."""
    arguments: dict[str, object] = {
        "cells": np.array([0, 1]),
        "proposed": np.array([1, 0]),
        "bau": np.array([0, 0]),
        "logged": np.array([1, 0]),
        "propensity": np.array([0.5, 0.5]),
        "rewards": np.array([1.0, 0.0]),
        "predicted": np.zeros((2, 2)),
        "min_support": 1,
        "confidence": 0.9,
    } | change
    with pytest.raises(ValueError, match=message):
        fit_safe_deviations(**arguments)  # type: ignore[arg-type]


def test_apply_refuses_unknown_cells_and_bad_json() -> None:
    """Gives a cell code beyond the fitted cells and a wrongly tagged dict; expects errors."""
    deviations = SafeDeviations(n_cells=2, n_actions=2, approved=(), report=pd.DataFrame())
    with pytest.raises(SafePolicyError, match=r"cells must lie in \[0, 2\)"):
        deviations.apply(np.array([2]), np.array([0]), np.array([0]))
    with pytest.raises(SafePolicyError, match="expected safe deviations with format"):
        SafeDeviations.from_json({"format": "x"})
    with pytest.raises(SafePolicyError, match="outside 2 cells"):
        SafeDeviations(n_cells=2, n_actions=2, approved=((2, 0),), report=pd.DataFrame())
