"""Safe policy improvement over business as usual (SPIBB-style, with a confidence bound).

A learned policy is only as good as the outcome model behind it, and that model is least
reliable exactly where the lender rarely tried anything but its usual action: there it
extrapolates, and an optimistic extrapolation becomes a confident, wrong recommendation.
Following SPIBB (Laroche et al., 2019, "Safe Policy Improvement with Baseline
Bootstrapping"), the learned policy may leave the BAU choice only in coarse
:func:`support_cells` of observable facts where the history logged the proposed action at
least ``min_support`` times and the policy proposes it on at least as many history rows.
Whether the departures *pay* is then tested on the doubly robust (DR) gain over BAU's
action, in one of two ways:

* ``"policy"`` (the default; Thomas et al., 2015, "High Confidence Policy
  Improvement"): the history is split at random in two halves. The first *selects*
  candidate sets of (cell, action) pairs, those whose DR gain's t-statistic there
  exceeds each of a few thresholds; the second *tests* each set as a whole: the
  one-sided lower bound, at ``confidence`` shared by the sets (Bonferroni), of the mean
  gain per history row of the policy that departs only on that set. The set with the
  highest positive bound is approved; with none, the policy is BAU. One test of the
  whole departure is far more powerful than one per pair, and selecting on other rows
  than those tested keeps the test honest.
* ``"pairs"``: every (cell, action) pair is tested on its own rows, at ``confidence``
  for the whole family of pairs (Bonferroni): each approved departure pays by itself,
  at the price of approving far fewer.

Everywhere else the BAU action stands. With no approved deviation the safe policy *is*
BAU, so it can only lose to BAU where the test was fooled, at a rate set by
``confidence``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from loan_recovery import features
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError, SchemaError
from loan_recovery.strategy.intervals import dr_scores

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: EMI-to-income share above which a borrower counts as highly burdened.
HIGH_BURDEN_RATIO = 0.45
#: Number of :func:`support_cells`: 6 DPD buckets x secured x high burden.
N_CELLS = len(schema.DPD_BUCKETS) * 2 * 2
#: Columns :func:`support_cells` reads.
CELL_COLUMNS: tuple[str, ...] = (
    schema.DAYS_PAST_DUE,
    schema.COLLATERAL_VALUE,
    schema.MONTHLY_EMI,
    schema.MONTHLY_INCOME,
)
#: Tag of the JSON form; bump when its layout changes.
JSON_FORMAT = "loan_recovery.safe_deviations/1"
#: Columns of :attr:`SafeDeviations.report`.
REPORT_COLUMNS: tuple[str, ...] = (
    "cell",
    "action",
    "rows",
    "logged_support",
    "mean_gain",
    "lower_bound",
    "approved",
)
#: Columns of :attr:`SafeDeviations.checks`: one row per candidate set the ``"policy"``
#: test tried on the held-out half.
CHECK_COLUMNS: tuple[str, ...] = ("threshold", "pairs", "mean_gain", "lower_bound", "chosen")
#: The two ways of testing departures (see the module docstring).
SafeTest = Literal["policy", "pairs"]
SAFE_TESTS: tuple[SafeTest, ...] = ("policy", "pairs")
#: Selection t-statistics of the ``"policy"`` test's candidate sets.
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.0, 1.0, 2.0)
#: Deployed action per history row when only the approved (cell x action) mask may depart.
Deploy = Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.int64]]


class SafePolicyError(LoanRecoveryError, ValueError):
    """Inputs to safe policy improvement do not line up or are out of range."""


def support_cells(table: pd.DataFrame) -> IntArray:
    """A coarse cell per loan: ``dpd_bucket x 4 + secured x 2 + high_burden``, 0..23.

    DPD bucket codes follow ``schema.DPD_BUCKETS`` (0, 1-30, 31-60, 61-90, 91-180, 180+ ->
    0..5); secured means collateral > 0; high burden means EMI-to-income above
    :data:`HIGH_BURDEN_RATIO`. The cells are coarse on purpose: each must hold enough
    logged rows of an action to judge it, and these are the facts a collections desk
    already sorts loans by, so "we changed the action for secured 31-60 DPD loans" is a
    statement the lender can check. Codes are stable: the same loan always gets the same
    cell, whatever else is in the table (see :func:`cell_labels`).
    """
    missing = tuple(column for column in CELL_COLUMNS if column not in table.columns)
    if missing:
        raise SchemaError(
            f"support cells need columns {list(CELL_COLUMNS)}; missing {list(missing)}.",
            missing_columns=missing,
        )
    bucket = np.asarray(features.dpd_bucket(table).cat.codes, dtype=np.int64)
    secured = np.asarray(features.secured_flag(table), dtype=np.int64)
    burdened = (features.emi_to_income_ratio(table).to_numpy() > HIGH_BURDEN_RATIO).astype(np.int64)
    cells: IntArray = bucket * 4 + secured * 2 + burdened
    return cells


def cell_labels() -> tuple[str, ...]:
    """Readable name of every cell code, e.g. ``"31-60 DPD, secured, high burden"``."""
    return tuple(
        f"{bucket} DPD, {'secured' if secured else 'unsecured'}, "
        f"{'high' if burdened else 'low'} burden"
        for bucket in schema.DPD_BUCKETS
        for secured in (0, 1)
        for burdened in (0, 1)
    )


def _codes(values: npt.ArrayLike, name: str, n_rows: int, limit: int) -> IntArray:
    array = np.asarray(values)
    if array.shape != (n_rows,) or array.dtype.kind not in "iu":
        raise SafePolicyError(
            f"{name} must be 1-D integer codes of length {n_rows}; "
            f"got shape {array.shape}, dtype {array.dtype}."
        )
    codes: IntArray = array.astype(np.int64)
    if n_rows and (codes.min() < 0 or codes.max() >= limit):
        raise SafePolicyError(
            f"{name} must lie in [0, {limit}); got values from {codes.min()} to {codes.max()}."
        )
    return codes


@dataclass(frozen=True, slots=True)
class SafeDeviations:
    """The (cell, action) pairs where the learned policy may overrule BAU, and why.

    ``approved`` is sorted; ``report`` has one row per (cell, proposed action) that
    differed from BAU on the history, with its row count, logged support, mean DR gain
    over BAU, the gain's lower confidence bound (NaN with fewer than two rows) and the
    verdict; under the ``"policy"`` test these are measured on the selection half and
    the bound is per pair. ``checks`` (``"policy"`` test only) has one row per candidate
    set tried on the held-out half: its selection threshold, pairs, mean DR gain per
    held-out row, lower bound and whether it was chosen. Equality compares ``approved``
    and the sizes, not the reports.
    """

    n_cells: int
    n_actions: int
    approved: tuple[tuple[int, int], ...]
    report: pd.DataFrame = field(compare=False, repr=False)
    checks: pd.DataFrame = field(
        default_factory=lambda: checks_frame([]), compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.n_cells < 1 or self.n_actions < 1:
            raise SafePolicyError(
                f"n_cells and n_actions must be >= 1; got {self.n_cells}, {self.n_actions}."
            )
        for cell, action in self.approved:
            if not (0 <= cell < self.n_cells and 0 <= action < self.n_actions):
                raise SafePolicyError(
                    f"approved pair ({cell}, {action}) is outside "
                    f"{self.n_cells} cells x {self.n_actions} actions."
                )

    def allowed(self) -> BoolArray:
        """``n_cells x n_actions`` mask of approved deviations."""
        mask = np.zeros((self.n_cells, self.n_actions), dtype=np.bool_)
        if self.approved:
            cells, actions = np.asarray(self.approved, dtype=np.int64).T
            mask[cells, actions] = True
        return mask

    def apply(self, cells: npt.ArrayLike, proposed: npt.ArrayLike, bau: npt.ArrayLike) -> IntArray:
        """The safe action per loan: the proposal where approved (or equal to BAU), else BAU."""
        cell = np.asarray(cells)
        if cell.ndim != 1:
            raise SafePolicyError(f"cells must be 1-D integer codes; got shape {cell.shape}.")
        n_rows = cell.shape[0]
        cell_codes = _codes(cell, "cells", n_rows, self.n_cells)
        proposal = _codes(proposed, "proposed", n_rows, self.n_actions)
        usual = _codes(bau, "bau", n_rows, self.n_actions)
        keep = (proposal == usual) | self.allowed()[cell_codes, proposal]
        safe: IntArray = np.where(keep, proposal, usual)
        return safe

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as null) that :meth:`from_json` turns back unchanged."""
        report = self.report.astype(object).where(self.report.notna(), None)
        return {
            "format": JSON_FORMAT,
            "n_cells": self.n_cells,
            "n_actions": self.n_actions,
            "approved": [list(pair) for pair in self.approved],
            "report": {column: report[column].tolist() for column in REPORT_COLUMNS},
            "checks": self.checks.astype(object)
            .where(self.checks.notna(), None)
            .to_dict("records"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SafeDeviations:
        """Rebuild the deviations saved by :meth:`to_json`."""
        if data.get("format") != JSON_FORMAT:
            raise SafePolicyError(
                f"expected safe deviations with format {JSON_FORMAT!r}; got {data.get('format')!r}."
            )
        try:
            report = _report_frame({column: data["report"][column] for column in REPORT_COLUMNS})
            approved = tuple(sorted((int(cell), int(action)) for cell, action in data["approved"]))
            return cls(
                n_cells=int(data["n_cells"]),
                n_actions=int(data["n_actions"]),
                approved=approved,
                report=report,
                checks=checks_frame(data.get("checks", [])),
            )
        except SafePolicyError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise SafePolicyError(
                f"the saved safe deviations are incomplete or malformed: {error!r}."
            ) from error


def _report_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """The report with fixed dtypes, so a JSON round trip gives an equal frame."""
    frame = pd.DataFrame(
        {
            "cell": np.asarray(columns["cell"], dtype=np.int64),
            "action": np.asarray(columns["action"], dtype=np.int64),
            "rows": np.asarray(columns["rows"], dtype=np.int64),
            "logged_support": np.asarray(columns["logged_support"], dtype=np.int64),
            "mean_gain": np.asarray(columns["mean_gain"], dtype=np.float64),
            "lower_bound": np.asarray(
                [np.nan if value is None else value for value in columns["lower_bound"]],
                dtype=np.float64,
            ),
            "approved": np.asarray(columns["approved"], dtype=np.bool_),
        }
    )
    return frame


def checks_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The held-out checks with fixed dtypes (JSON nulls back to NaN)."""

    def column(name: str) -> list[Any]:
        return [row[name] for row in rows]

    return pd.DataFrame(
        {
            "threshold": np.asarray(column("threshold"), dtype=np.float64),
            "pairs": np.asarray(column("pairs"), dtype=np.int64),
            "mean_gain": np.asarray(
                [np.nan if v is None else v for v in column("mean_gain")], dtype=np.float64
            ),
            "lower_bound": np.asarray(
                [np.nan if v is None else v for v in column("lower_bound")], dtype=np.float64
            ),
            "chosen": np.asarray(column("chosen"), dtype=np.bool_),
        }
    )


@dataclass(frozen=True)
class _PairStats:
    """Per (cell, action) key: rows proposing the departure, mean DR gain, its std error."""

    rows: IntArray
    mean: FloatArray
    stderr: FloatArray


def _pair_stats(key: IntArray, gain: FloatArray, size: int) -> _PairStats:
    rows = np.bincount(key, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(key, weights=gain, minlength=size) / rows
        squares = np.bincount(key, weights=(gain - mean[key]) ** 2, minlength=size)
        stderr = np.sqrt(squares / (rows - 1) / rows)
    return _PairStats(rows=rows, mean=mean, stderr=stderr)


def _lower_bound(values: FloatArray, level: float) -> tuple[float, float]:
    """(mean, one-sided normal lower bound at ``level``) of ``values``; NaN bound below 2."""
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan")
    return mean, mean - float(norm.ppf(level)) * float(values.std(ddof=1)) / np.sqrt(len(values))


def fit_safe_deviations(
    *,
    cells: npt.ArrayLike,
    proposed: npt.ArrayLike,
    bau: npt.ArrayLike,
    logged: npt.ArrayLike,
    propensity: npt.ArrayLike,
    rewards: npt.ArrayLike,
    predicted: npt.ArrayLike,
    min_support: int,
    confidence: float,
    n_cells: int | None = None,
    max_weight: float = 50.0,
    family: bool = True,
    test: SafeTest = "pairs",
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    deploys: Sequence[Deploy] = (),
    random_state: int = 0,
) -> SafeDeviations:
    """Decide which (cell, proposed action) departures from BAU the history supports.

    All arrays run over the history rows: ``proposed`` is the learned policy's action code,
    ``bau`` BAU's, ``logged`` the action actually taken with its ``propensity``,
    ``rewards`` the realised net value and ``predicted`` the outcome model's n x k value
    matrix (hold column included). A pair is testable when the action was logged at least
    ``min_support`` times in the cell and proposed on at least as many (tested) rows.
    Inverse propensity weights are capped at ``max_weight``; ``n_cells`` defaults to the
    largest cell code + 1.

    ``test="pairs"``: a pair is approved when the normal-approximation lower bound,
    one-sided at ``confidence``, of its mean DR gain ``dr(a) - dr(bau)`` over the rows
    proposing it is above zero; with ``family`` (the default) the confidence is for all
    tested pairs together (Bonferroni) and the report's ``lower_bound`` is at that level.

    ``test="policy"``: a seeded (``random_state``) half of the rows selects, per
    ``thresholds`` entry, the testable pairs whose gain t-statistic exceeds it; the other
    half tests each set by the lower bound of the mean DR gain per row of the policy that
    departs on that set only, at ``confidence`` shared by the sets. Each of ``deploys``
    gives that policy's action per row for an ``n_cells x n_actions`` approval mask, one
    way it may be deployed (default, one: the proposal where approved, else BAU, as
    :meth:`SafeDeviations.apply`); the plan passes its own choice, which may fall back to
    a second-best approved arm, and that choice held to BAU's own capacity. A set must
    pass for every deployment (the confidence is shared by all of them too), and the set
    whose worst bound is highest is approved, else none.
    """
    value_matrix = np.asarray(predicted, dtype=np.float64)
    if value_matrix.ndim != 2 or value_matrix.shape[0] == 0 or value_matrix.shape[1] == 0:
        raise SafePolicyError(
            f"predicted must be a non-empty n x k value matrix; got shape {value_matrix.shape}."
        )
    n_rows, n_actions = value_matrix.shape
    if isinstance(min_support, bool) or not isinstance(min_support, int | np.integer):
        raise SafePolicyError(f"min_support must be an integer >= 0; got {min_support!r}.")
    if min_support < 0:
        raise SafePolicyError(f"min_support must be >= 0; got {min_support}.")
    if not 0 < confidence < 1:
        raise SafePolicyError(f"confidence must lie in (0, 1); got {confidence}.")
    if test not in SAFE_TESTS:
        raise SafePolicyError(f"test must be one of {list(SAFE_TESTS)}; got {test!r}.")
    if test == "policy" and (not thresholds or not all(np.isfinite(thresholds))):
        raise SafePolicyError(f"thresholds must be finite numbers; got {list(thresholds)}.")
    raw_cells = np.asarray(cells)
    if raw_cells.shape != (n_rows,) or raw_cells.dtype.kind not in "iu":
        raise SafePolicyError(
            f"cells must be 1-D integer codes of length {n_rows}; "
            f"got shape {raw_cells.shape}, dtype {raw_cells.dtype}."
        )
    if n_cells is None:
        n_cells = int(raw_cells.max()) + 1
    cell = _codes(raw_cells, "cells", n_rows, n_cells)
    proposal = _codes(proposed, "proposed", n_rows, n_actions)
    usual = _codes(bau, "bau", n_rows, n_actions)
    taken = _codes(logged, "logged", n_rows, n_actions)

    def score(target: IntArray) -> FloatArray:
        return dr_scores(rewards, taken, propensity, target, value_matrix, max_weight=max_weight)

    gain = score(proposal) - score(usual)
    size = n_cells * n_actions
    support = np.bincount(cell * n_actions + taken, minlength=size)
    deviates = proposal != usual
    key = cell * n_actions + proposal
    # The policy test selects pairs on a random half and tests them on the other.
    halves = np.random.default_rng(random_state).random(n_rows)
    selection: BoolArray = np.asarray(halves < 0.5 if test == "policy" else halves >= 0.0)
    stats = _pair_stats(key[deviates & selection], gain[deviates & selection], size)
    level = confidence
    # The test must see the departure on enough loans too: a bound over a handful of rows
    # says little about the hundreds of loans the deployed policy will move in that cell.
    testable = (stats.rows >= max(2, min_support)) & (support >= min_support)
    if test == "pairs":
        # ``confidence`` holds for the whole family of departures tested (Bonferroni):
        # with dozens of (cell, action) pairs, a per-pair level would let lucky ones through.
        level = 1.0 - (1.0 - confidence) / max(1, int(testable.sum())) if family else confidence
    lower = np.where(stats.rows >= 2, stats.mean - norm.ppf(level) * stats.stderr, np.nan)
    checks: list[dict[str, Any]] = []
    if test == "pairs":
        approved_mask = testable & (lower > 0)
    else:

        def default_deploy(mask: npt.NDArray[np.bool_]) -> IntArray:
            return np.where(mask.ravel()[key], proposal, usual)

        ways = list(deploys) or [default_deploy]

        def gains(mask: BoolArray) -> list[FloatArray]:
            """The held-out DR gain per row of each deployment of the departures in mask."""
            approved = mask.reshape(n_cells, n_actions)
            return [
                (score(_codes(way(approved), "deploy", n_rows, n_actions)) - score(usual))[
                    ~selection
                ]
                for way in ways
            ]

        with np.errstate(divide="ignore", invalid="ignore"):  # untestable keys: -inf
            t_statistic = np.where(testable, stats.mean / stats.stderr, -np.inf)
        approved_mask, checks = _held_out_choice(
            gains_of=gains,
            t_statistic=t_statistic,
            thresholds=thresholds,
            level=1.0 - (1.0 - confidence) / (len(thresholds) * len(ways)),
        )

    present = np.flatnonzero(stats.rows)
    report = _report_frame(
        {
            "cell": present // n_actions,
            "action": present % n_actions,
            "rows": stats.rows[present],
            "logged_support": support[present],
            "mean_gain": stats.mean[present],
            "lower_bound": lower[present],
            "approved": approved_mask[present],
        }
    )
    approved_keys = np.flatnonzero(approved_mask)
    return SafeDeviations(
        n_cells=n_cells,
        n_actions=n_actions,
        approved=tuple(
            (int(key) // n_actions, int(key) % n_actions) for key in approved_keys.tolist()
        ),
        report=report,
        checks=checks_frame(checks),
    )


def _held_out_choice(
    *,
    gains_of: Callable[[BoolArray], list[FloatArray]],
    t_statistic: FloatArray,
    thresholds: Sequence[float],
    level: float,
) -> tuple[BoolArray, list[dict[str, Any]]]:
    """The candidate set (pairs whose selection t-statistic beats a threshold) whose worst
    held-out lower bound over its deployments is highest and positive, and a check row
    per distinct set tried (with the deployment of the worst bound)."""
    with np.errstate(invalid="ignore"):
        sets = [t_statistic > threshold for threshold in thresholds]
    checks: list[dict[str, Any]] = []
    best: tuple[float, int, int] | None = None  # bound, check row, set
    for index, (threshold, members) in enumerate(zip(thresholds, sets, strict=True)):
        if not members.any() or any(np.array_equal(members, s) for s in sets[:index]):
            continue
        mean, bound = min(
            (_lower_bound(gain, level) for gain in gains_of(members)),
            key=lambda pair: (np.nan_to_num(pair[1], nan=-np.inf), pair[0]),
        )
        checks.append(
            {
                "threshold": float(threshold),
                "pairs": int(members.sum()),
                "mean_gain": mean,
                "lower_bound": bound,
                "chosen": False,
            }
        )
        if bound > 0 and (best is None or bound > best[0]):
            best = (bound, len(checks) - 1, index)
    if best is None:
        return np.zeros_like(t_statistic, dtype=np.bool_), checks
    checks[best[1]]["chosen"] = True
    return sets[best[2]], checks
