"""A credit scorecard: a transparent challenger to the risk model, P(loan not fully recovered).

Why it is built this way:

* Model-risk reviews expect binned weight of evidence (WoE), a logistic regression and points
  per bin: every score is a sum a reviewer can trace to rows of one printed table.
* ``optbinning`` finds the bins at fit only. The fitted scorecard keeps plain numbers (split
  points, WoE per bin, coefficients): scoring is ``np.searchsorted`` and a sum, and the JSON
  it saves (never pickle) scores bit-identically.
* Bins are monotone, in the domain's direction where one is known (as for the trees); a
  feature whose coefficient comes out reversed (collinearity) is dropped and the regression
  refitted, so a riskier bin never earns more points.

WoE is optbinning's ln(share of non-events / share of events): higher WoE, lower risk. So
log-odds(1 = not recovered) = intercept + sum(coef * WoE) with coef <= 0, and points =
offset + factor * log-odds(0): more points, less risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from optbinning import OptimalBinning
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from loan_recovery.exceptions import IncompatibleModelError, ModelError, TrainingDataError
from loan_recovery.models.design import monotone_constraints
from loan_recovery.models.model_json import json_number, json_number_list

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FORMAT_NAME = "loan_recovery.scorecard"
FORMAT_VERSION = 1
#: Label of the bin that holds missing values (NaN) in the points table.
MISSING = "Missing"
#: optbinning's monotonic trend of the event rate per domain direction (0 = none known).
_TRENDS = {1: "ascending", -1: "descending", 0: "auto_asc_desc"}
#: Feature statuses; only ``binned`` features can carry a non-zero coefficient.
BINNED, SINGLE_BIN, ALL_MISSING, REVERSED = "binned", "single bin", "all missing", "reversed sign"
POINTS_COLUMNS = ("feature", "bin", "woe", "points", "count", "event_rate")
_SCALING = ("base_points", "base_odds", "pdo")


@dataclass(frozen=True, eq=False)
class FeatureBins:
    """One feature's bins as plain numbers: bin i holds ``splits[i-1] <= x < splits[i]``.

    ``woe``, ``counts`` and ``events`` have one entry per bin and a last one for missing
    values; ``counts``/``events`` are training rows and label-1 rows, for the points table.
    """

    name: str
    splits: FloatArray
    woe: FloatArray
    counts: IntArray
    events: IntArray
    status: str


def _woe(events: FloatArray, counts: FloatArray) -> FloatArray:
    """optbinning's WoE per bin; 0 for a bin without both classes (its own convention)."""
    nonevents = counts - events
    woe, both = np.zeros(events.shape[0]), (events > 0) & (nonevents > 0)
    woe[both] = np.log((nonevents[both] / nonevents.sum()) / (events[both] / events.sum()))
    return woe


def _bin_indices(column: FloatArray, splits: FloatArray) -> IntArray:
    """Bin of each value, ``len(splits) + 1`` (the missing slot) for NaN; vectorised."""
    indices = np.searchsorted(splits, column, side="right").astype(np.int64)
    indices[np.isnan(column)] = splits.shape[0] + 1
    return indices


def _bin_feature(
    column: FloatArray, labels: IntArray, name: str, trend: str, max_bins: int, min_size: float
) -> FeatureBins:
    """Optimal bins of one feature; a feature optbinning cannot bin gets WoE 0 everywhere."""
    splits, status = np.empty(0), BINNED
    if np.isnan(column).all():
        status = ALL_MISSING
    else:
        try:
            binning = OptimalBinning(
                name=name, max_n_bins=max_bins, min_bin_size=min_size, monotonic_trend=trend
            ).fit(column, labels)
        except Exception as error:  # optbinning raises many types on degenerate columns
            status = f"not binned: {type(error).__name__}: {error}"
        else:
            if binning.status == "OPTIMAL":
                splits = np.asarray(binning.splits, dtype=np.float64)
            else:
                status = f"not binned: optbinning status {binning.status}"
    indices = _bin_indices(column, splits)
    slots = splits.shape[0] + 2
    counts = np.bincount(indices, minlength=slots).astype(np.int64)
    events = np.bincount(indices, weights=labels, minlength=slots).astype(np.int64)
    woe = _woe(events.astype(np.float64), counts.astype(np.float64))
    # Too few missing values to estimate their WoE: score them as average, which is
    # optbinning's own default for missing values.
    if counts[-1] < min_size * labels.shape[0]:
        woe[-1] = 0.0
    if status == BINNED and splits.shape[0] == 0 and woe[-1] == 0.0:
        status = SINGLE_BIN
    if status != BINNED:
        woe[:] = 0.0
    return FeatureBins(name, splits, woe, counts, events, status)


def _expit(z: FloatArray) -> FloatArray:
    """Logistic function without overflow warnings for large |z|."""
    e = np.exp(-np.abs(z))
    result: FloatArray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return result


def _format_edges(splits: FloatArray) -> list[str]:
    """Split points with 2 decimals, or as many more as keep neighbours distinct."""
    for decimals in range(2, 13):
        shown = [f"{x:.{decimals}f}" for x in splits]
        if len(set(shown)) == len(shown):
            return shown
    return [repr(float(x)) for x in splits]


def _bin_labels(splits: FloatArray) -> list[str]:
    edges = ["-inf", *_format_edges(splits), "inf"]
    labels = [f"[{low}, {high})" for low, high in pairwise(edges)]
    labels[0] = "(" + labels[0][1:]
    return [*labels, MISSING]


def _float_array(values: npt.ArrayLike, error: type[Exception]) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as problem:
        raise error(f"values must be numeric; got {problem}.") from None


class Scorecard:
    """Binned WoE + logistic regression with points per bin; see the module docstring.

    The scaling gives ``base_points`` at odds ``base_odds``:1 of *good* (recovered) and
    ``pdo`` more points per doubling of those odds. Fitted (or loaded with
    :meth:`from_dict`), it has ``bins_`` (one :class:`FeatureBins` per feature), ``coef_``,
    ``intercept_``, ``feature_names_in_`` and ``fit_params_``.
    """

    def __init__(
        self, *, base_points: float = 600.0, base_odds: float = 50.0, pdo: float = 20.0
    ) -> None:
        self.base_points = base_points
        self.base_odds = base_odds
        self.pdo = pdo

    # --- fitting ----------------------------------------------------------------------------
    def _check_scaling(self, error: type[ModelError] = ModelError) -> None:
        scaling = (self.base_points, self.base_odds, self.pdo)
        if not (all(map(math.isfinite, scaling)) and self.base_odds > 0 and self.pdo > 0):
            raise error(f"scaling must be finite with base_odds, pdo > 0; got {scaling}.")

    def fit(
        self,
        values: npt.ArrayLike,
        labels: npt.ArrayLike,
        names: tuple[str, ...],
        *,
        random_state: int = 0,
        max_n_bins: int = 5,
        min_bin_size: float = 0.05,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name for the inverse regularisation
    ) -> Scorecard:
        """Bin every feature, fit the regression on WoE; ``labels`` 1 = not recovered."""
        self._check_scaling()
        if isinstance(max_n_bins, bool) or not isinstance(max_n_bins, int) or max_n_bins < 2:
            raise ModelError(f"max_n_bins must be an integer >= 2; got {max_n_bins!r}.")
        if not 0.0 < min_bin_size <= 0.5:
            raise ModelError(f"min_bin_size must be in (0, 0.5]; got {min_bin_size!r}.")
        if not (C > 0 and math.isfinite(C)):
            raise ModelError(f"C must be finite and > 0; got {C!r}.")
        X, y = self._training_arrays(values, labels, names)
        trends = [_TRENDS[direction] for direction in monotone_constraints(names)]
        bins = [
            _bin_feature(X[:, j], y, name, trends[j], max_n_bins, min_bin_size)
            for j, name in enumerate(names)
        ]
        woe = np.column_stack([f.woe[_bin_indices(X[:, j], f.splits)] for j, f in enumerate(bins)])
        coef = np.zeros(len(names))
        intercept = float(np.log(y.mean() / (1.0 - y.mean())))
        active = [j for j, feature in enumerate(bins) if feature.status == BINNED]
        while active:
            model = LogisticRegression(C=C, solver="newton-cholesky", random_state=random_state)
            model.fit(woe[:, active], y)
            fitted = np.asarray(model.coef_[0], dtype=np.float64)
            worst = int(np.argmax(fitted))
            if fitted[worst] <= 0.0:
                coef[active] = fitted
                intercept = float(model.intercept_[0])
                break
            # A positive coefficient on WoE would give the riskier bins more points.
            j = active.pop(worst)
            status = f"{REVERSED} ({fitted[worst]:+.3f}; collinear with others)"
            bins[j] = replace(bins[j], woe=np.zeros_like(bins[j].woe), status=status)
        self.bins_ = tuple(bins)
        self.coef_ = coef
        self.intercept_ = intercept
        self.feature_names_in_ = tuple(names)
        self.fit_params_: dict[str, Any] = dict(
            random_state=random_state, max_n_bins=max_n_bins, min_bin_size=min_bin_size, C=C
        )
        return self

    @staticmethod
    def _training_arrays(
        values: npt.ArrayLike, labels: npt.ArrayLike, names: tuple[str, ...]
    ) -> tuple[FloatArray, IntArray]:
        """Float64 values (NaN allowed, not inf) and 0/1 labels, or a TrainingDataError."""
        X = _float_array(values, TrainingDataError)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise TrainingDataError(f"values must be a non-empty 2-D array; got shape {X.shape}.")
        if len(names) != X.shape[1] or len(set(names)) != len(names):
            raise TrainingDataError(
                f"names must give {X.shape[1]} distinct names, one per column of values; "
                f"got {len(names)} ({len(set(names))} distinct)."
            )
        infinite = np.asarray(np.isinf(X).any(axis=0), dtype=np.bool_)
        if infinite.any():
            bad = [name for name, flag in zip(names, infinite, strict=True) if flag]
            raise TrainingDataError(f"values must not hold inf; columns {bad} do.")
        y = np.asarray(labels).ravel()
        if y.shape[0] != X.shape[0]:
            raise TrainingDataError(
                f"labels must have one entry per row of values ({X.shape[0]}); got {y.shape[0]}."
            )
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            shown = pd.unique(pd.Series(y, dtype=object)).tolist()[:5]
            raise TrainingDataError(
                f"labels must hold only 0 (recovered) and 1 (not recovered); got values {shown}."
            )
        y = y.astype(np.int64)
        if y.min() == y.max():
            raise TrainingDataError(
                f"labels hold a single class (all {y.shape[0]} rows are {y[0]}); a scorecard "
                "needs both recovered (0) and not-recovered (1) loans."
            )
        return X, y

    # --- scoring ----------------------------------------------------------------------------
    def _fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("the scorecard is not fitted; call fit or from_dict first.")

    def _scoring_values(self, values: npt.ArrayLike) -> FloatArray:
        self._fitted()
        X = _float_array(values, IncompatibleModelError)
        expected = len(self.feature_names_in_)
        if X.ndim != 2 or X.shape[1] != expected:
            raise IncompatibleModelError(
                f"values must have shape (n, {expected}), one column per scorecard feature "
                f"{list(self.feature_names_in_)}; got shape {X.shape}."
            )
        return X

    def _terms(self, X: FloatArray, tables: list[FloatArray]) -> FloatArray:
        """Each feature's table value at each row's bin, shape (p, n)."""
        bins = enumerate(zip(self.bins_, tables, strict=True))
        return np.stack([table[_bin_indices(X[:, j], f.splits)] for j, (f, table) in bins])

    def _log_odds_tables(self) -> list[FloatArray]:
        return [c * f.woe for c, f in zip(self.coef_, self.bins_, strict=True)]

    @property
    def names(self) -> tuple[str, ...]:
        """The features, in the column order ``values`` must have."""
        self._fitted()
        return self.feature_names_in_

    def decision_margin(self, values: npt.ArrayLike) -> FloatArray:
        """Log-odds of label 1 (not recovered) per row: intercept + sum(coef * WoE)."""
        X = self._scoring_values(values)
        margin: FloatArray = self.intercept_ + self._terms(X, self._log_odds_tables()).sum(axis=0)
        return margin

    def contributions(self, values: npt.ArrayLike) -> FloatArray:
        """Per row, each feature's coef * WoE and the intercept last (tree SHAP's layout,
        shape (n, p + 1)): they add up to the margin; > 0 means riskier than an average bin."""
        X = self._scoring_values(values)
        terms = self._terms(X, self._log_odds_tables())
        return np.vstack([terms, np.full(X.shape[0], self.intercept_)]).T

    def predict_proba_positive(self, values: npt.ArrayLike) -> FloatArray:
        """P(label 1 = not recovered) per row."""
        return _expit(self.decision_margin(values))

    # --- points -----------------------------------------------------------------------------
    @property
    def factor(self) -> float:
        """Points per unit of log-odds of good: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Points at log-odds of good 0, so that odds ``base_odds``:1 score ``base_points``."""
        return self.base_points - self.factor * math.log(self.base_odds)

    def _bin_points(self) -> list[FloatArray]:
        """Points of each feature's bins: -(coef * WoE + intercept / n) * factor + offset / n."""
        self._fitted()
        n = len(self.bins_)
        share = self.offset / n
        return [
            -(c * f.woe + self.intercept_ / n) * self.factor + share
            for c, f in zip(self.coef_, self.bins_, strict=True)
        ]

    def total_points(self, values: npt.ArrayLike) -> FloatArray:
        """Score per row: the sum of its bins' points; higher means lower risk."""
        X = self._scoring_values(values)
        points: FloatArray = self._terms(X, self._bin_points()).sum(axis=0)
        return points

    def probability_from_points(self, points: npt.ArrayLike) -> FloatArray:
        """P(not recovered) of total points: inverts the scaling of :meth:`total_points`."""
        self._check_scaling()
        return _expit((self.offset - np.asarray(points, dtype=np.float64)) / self.factor)

    def points_table(self) -> pd.DataFrame:
        """One row per bin (and per feature's missing bin) with WoE, points and training counts."""
        frames = []
        for f, points in zip(self.bins_, self._bin_points(), strict=True):
            rate = np.where(f.counts > 0, f.events / np.maximum(f.counts, 1), np.nan)
            columns = (f.name, _bin_labels(f.splits), f.woe, points, f.counts, rate)
            frames.append(pd.DataFrame(dict(zip(POINTS_COLUMNS, columns, strict=True))))
        return pd.concat(frames, ignore_index=True)

    def feature_summary(self) -> pd.DataFrame:
        """Per feature: status (why it has no effect, if so), coefficient, information value."""
        self._fitted()
        rows = []
        for f, coef in zip(self.bins_, self.coef_, strict=True):
            nonevents = f.counts - f.events
            shares = nonevents / nonevents.sum() - f.events / f.events.sum()
            rows.append((f.name, f.status, float(coef), float((shares * f.woe).sum())))
        return pd.DataFrame(rows, columns=["feature", "status", "coefficient", "iv"])

    def to_csv(self, path: Path | str) -> Path:
        """Write :meth:`points_table` as CSV, for the model-risk review pack."""
        self.points_table().to_csv(path, index=False)
        return Path(path)

    # --- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fitted scorecard as plain JSON values; open bin ends are implicit (no inf)."""
        self._fitted()
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "scaling": {key: float(getattr(self, key)) for key in _SCALING},
            "intercept": float(self.intercept_),
            "fit_params": dict(self.fit_params_),
            "features": [
                {
                    "name": f.name,
                    "status": f.status,
                    "coefficient": float(c),
                    "splits": [float(x) for x in f.splits],
                    "woe": [float(x) for x in f.woe[:-1]],
                    "woe_missing": float(f.woe[-1]),
                    "counts": [int(x) for x in f.counts],
                    "events": [int(x) for x in f.events],
                }
                for f, c in zip(self.bins_, self.coef_, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scorecard:
        """Rebuild a fitted scorecard; IncompatibleModelError when ``data`` is malformed."""
        if not isinstance(data, Mapping):
            raise IncompatibleModelError("a scorecard must be a JSON object.")
        if data.get("format") != FORMAT_NAME or data.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModelError(
                f"expected format {FORMAT_NAME!r} version {FORMAT_VERSION}; got "
                f"{data.get('format')!r} version {data.get('format_version')!r}."
            )
        scaling, features = data.get("scaling"), data.get("features")
        if not isinstance(scaling, Mapping) or not isinstance(features, list) or not features:
            raise IncompatibleModelError("a scorecard needs 'scaling' and a list of 'features'.")
        card = cls(**{key: json_number(scaling.get(key), f"scorecard {key}") for key in _SCALING})
        card._check_scaling(IncompatibleModelError)
        bins: list[FeatureBins] = []
        coef: list[float] = []
        for item in features:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise IncompatibleModelError("scorecard features must be objects with a name.")
            name = item["name"]
            splits = json_number_list(item.get("splits"), f"scorecard {name} splits")
            woe = np.append(
                json_number_list(item.get("woe"), f"scorecard {name} woe"),
                json_number(item.get("woe_missing"), f"scorecard {name} woe_missing"),
            )
            counts = json_number_list(item.get("counts"), f"scorecard {name} counts").astype(
                np.int64
            )
            events = json_number_list(item.get("events"), f"scorecard {name} events").astype(
                np.int64
            )
            if np.any(np.diff(splits) <= 0) or not (
                woe.shape == counts.shape == events.shape == (splits.shape[0] + 2,)
            ):
                raise IncompatibleModelError(
                    f"scorecard feature {name!r} needs increasing splits and one woe, count and "
                    "event per bin plus missing."
                )
            bins.append(FeatureBins(name, splits, woe, counts, events, str(item.get("status"))))
            coef.append(json_number(item.get("coefficient"), f"scorecard {name} coefficient"))
        names = tuple(f.name for f in bins)
        if len(set(names)) != len(names):
            raise IncompatibleModelError(f"scorecard feature names repeat: {list(names)}.")
        card.bins_ = tuple(bins)
        card.coef_ = np.asarray(coef, dtype=np.float64)
        card.intercept_ = json_number(data.get("intercept"), "scorecard intercept")
        card.feature_names_in_ = names
        fit_params = data.get("fit_params")
        card.fit_params_ = dict(fit_params) if isinstance(fit_params, Mapping) else {}
        return card
