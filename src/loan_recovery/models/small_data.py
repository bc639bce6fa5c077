"""Small-data hyperparameters: a small grid searched by an inner CV on the training rows.

A lender's own export may hold a few hundred loans. Defaults tuned on large simulated
books can then over- or under-fit, so below ``risk.small_data.rows_below`` rows the
boosted model picks depth, learning rate and minimum child weight (and its number of
trees) by ``xgboost.cv`` on the rows it trains on. Run inside every outer training fold,
the outer CV stays an honest estimate of the whole procedure (nested CV).

The configured defaults are always the first grid point and XGBoost's own defaults
(``extra_points``) the next, so the search never picks worse than either on the inner
CV. The wall-clock budget is applied once, up front: the first point's cost
is measured and the grid cut to what fits, cheapest points kept, so the choice does not
depend on when a deadline happens to strike mid-search.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold

from loan_recovery.config import SmallDataSettings, XGBoostSettings
from loan_recovery.models.risk_inputs import Float32Array, IntArray
from loan_recovery.models.risk_learner import xgboost_params


@dataclass(frozen=True)
class GridChoice:
    """The chosen settings, their tree count and inner-CV AUC, and how much was searched."""

    settings: XGBoostSettings
    n_rounds: int
    inner_auc: float
    searched: int
    grid_size: int


@dataclass
class SmallDataSearch:
    """One search plan shared by every fold of a fit: the grid, cut once to the budget."""

    settings: SmallDataSettings
    defaults: XGBoostSettings
    grid: list[XGBoostSettings] = field(default_factory=list)
    grid_size: int = 0
    _cut: bool = False

    def __post_init__(self) -> None:
        self.grid = small_data_grid(self.defaults, self.settings)
        self.grid_size = len(self.grid)

    def choose(
        self,
        values: Float32Array,
        labels: IntArray,
        names: tuple[str, ...],
        random_state: int,
        threads: int,
        *,
        monotone: bool,
        fits_to_come: int,
    ) -> GridChoice:
        """Best grid point by inner-CV ROC-AUC on these rows.

        ``fits_to_come`` is how many searches this fit will run in all (outer folds plus
        the final refit); the first call cuts the grid so they all fit the budget.
        """
        folds = list(
            StratifiedKFold(
                self.settings.inner_folds, shuffle=True, random_state=random_state
            ).split(values, labels)
        )
        # Unnamed: XGBoost would otherwise re-check every feature name on every round.
        matrix = xgb.DMatrix(values, labels, nthread=threads)
        results: list[tuple[float, int, XGBoostSettings]] = []
        for index, candidate in enumerate(list(self.grid)):
            started = time.monotonic()
            auc, rounds = _inner_cv(
                matrix, folds, names, candidate, random_state, threads, monotone
            )
            results.append((auc, rounds, candidate))
            if index == 0 and not self._cut:
                self._cut = True
                per_point = max(time.monotonic() - started, 1e-3)
                affordable = int(self.settings.budget_seconds / (per_point * fits_to_come))
                self.grid = self.grid[: max(1, affordable)]
        auc, rounds, chosen = max(results, key=lambda item: item[0])
        return GridChoice(
            settings=chosen,
            n_rounds=rounds,
            inner_auc=auc,
            searched=len(self.grid),
            grid_size=self.grid_size,
        )


def small_data_grid(
    defaults: XGBoostSettings, settings: SmallDataSettings
) -> list[XGBoostSettings]:
    """The defaults first, the extra points next, then the grid cheapest first (shallow
    trees, fast learning); a point already listed is not repeated."""
    points = sorted(
        itertools.product(settings.max_depth, settings.learning_rate, settings.min_child_weight),
        key=lambda point: (point[0], -point[1], -point[2]),
    )
    grid = [defaults]
    for depth, rate, child in [*settings.extra_points, *points]:
        candidate = defaults.model_copy(
            update={"max_depth": depth, "learning_rate": rate, "min_child_weight": child}
        )
        if candidate not in grid:
            grid.append(candidate)
    return grid


def _inner_cv(
    matrix: xgb.DMatrix,
    folds: list[tuple[IntArray, IntArray]],
    names: tuple[str, ...],
    candidate: XGBoostSettings,
    random_state: int,
    threads: int,
    monotone: bool,
) -> tuple[float, int]:
    """Mean test ROC-AUC at the round of least mean test log-loss, and that round count."""
    params = xgboost_params(candidate, names, random_state, threads, monotone=monotone)
    params["eval_metric"] = ["auc", "logloss"]  # early stopping watches the last one
    history = xgb.cv(
        params,
        matrix,
        num_boost_round=candidate.n_estimators,
        folds=folds,
        early_stopping_rounds=candidate.early_stopping_rounds,
        verbose_eval=False,
        seed=random_state,
    )
    table = pd.DataFrame(history)
    best = int(np.argmin(table["test-logloss-mean"].to_numpy()))
    auc = float(table["test-auc-mean"].to_numpy()[best])
    return (auc if math.isfinite(auc) else 0.5), best + 1
