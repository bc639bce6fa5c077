"""Early warning: will a loan that is current (or only a little late) default soon?

For loans at most ``eligible_max_dpd`` days past due at a cut-off date, the model gives
the probability of reaching ``default_dpd`` (60) days past due within ``horizon_months``
(3) after it. Why this shape:

* **No look-ahead.** :func:`behaviour_features` reads only instalments due on or before
  the cut-off and payments dated on or before it (later payments read as not made, as in
  a file exported that day); from the loan table, contract terms (EMI, income) and the
  contact count of the latest row *dated* on or before the cut-off (``As_Of_Date``; an
  undated or later row gives no count). The label (:func:`early_warning_labels`) reads the
  payments after the cut-off. A test proves changing every later row changes no feature.
* **Time split.** :func:`train_early_warning` tests on the latest cut-off whose label
  window the data covers and trains on earlier monthly cut-offs, whose data (features and
  label windows) ends before the test cut-off: the model is measured on a month it never
  saw, as it will be used.
* **Behaviour features** a collections analyst reads off a payment card: how late the last
  instalments were paid and whether that is growing, short payments, missed ones, how far
  behind the loan is today, plus the EMI burden and recent contacts.
* **Model**: gradient-boosted trees (XGBoost) with monotone directions where the domain is
  clear (more missed never lowers risk), early stopping on a split by loan, saved as JSON
  plus XGBoost's own UBJSON (never pickle). Reason codes are exact tree SHAP values through
  :func:`explain.reason_codes`, worded with this module's feature descriptions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from loan_recovery import features
from loan_recovery.config import EarlyWarningSettings, XGBoostSettings
from loan_recovery.data import schema
from loan_recovery.exceptions import IncompatibleModelError, ModelError, TrainingDataError
from loan_recovery.models import metrics
from loan_recovery.models.boosting import named
from loan_recovery.models.explain import ReasonCodes, reason_codes, tree_contributions
from loan_recovery.models.model_json import (
    column_difference,
    load_checked_booster,
    read_model_json,
)
from loan_recovery.models.registry import ModelRegistry, VersionInfo
from loan_recovery.simulation.payments import (
    history_end,
    instalment_coverage,
    months_before,
    payments_known_at,
    reached_days_past_due,
)

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Instalments the "recent" features look at (the last three due before the cut-off).
RECENT_INSTALLMENTS = 3
#: Instalments the trend and the partial-payment share look at.
TREND_INSTALLMENTS = 6
#: Paid below this share of the amount due (but above 0): a partial payment.
PARTIAL_BELOW = 0.99
#: Paid-to-due ratios are clipped here (a catch-up payment may pay several instalments).
PAID_TO_DUE_CAP = 3.0
#: An unpaid latest instalment counts as missed once this many days overdue; earlier
#: instalments count as soon as the next one fell due with nothing paid against them.
MISSED_AFTER_DAYS = 30

#: Model inputs, in order.
EARLY_WARNING_FEATURES: tuple[str, ...] = (
    schema.DAYS_LATE_RECENT,
    schema.DAYS_LATE_TREND,
    schema.PARTIAL_PAYMENT_SHARE,
    schema.PAID_TO_DUE_RECENT,
    schema.MISSED_RECENT,
    schema.DPD_AT_CUTOFF,
    schema.INSTALLMENTS_OBSERVED,
    schema.EMI_TO_INCOME_RATIO,
    schema.CONTACTS_AT_CUTOFF,
)

FEATURE_DESCRIPTIONS: dict[str, str] = {
    schema.DAYS_LATE_RECENT: f"Mean days late over the last {RECENT_INSTALLMENTS} instalments",
    schema.DAYS_LATE_TREND: f"Change in days late per instalment (last {TREND_INSTALLMENTS})",
    schema.PARTIAL_PAYMENT_SHARE: f"Share of the last {TREND_INSTALLMENTS} instalments paid "
    "only in part",
    schema.PAID_TO_DUE_RECENT: f"Amount paid per amount due over the last {RECENT_INSTALLMENTS} "
    "instalments",
    schema.MISSED_RECENT: f"Instalments missed among the last {RECENT_INSTALLMENTS}",
    schema.DPD_AT_CUTOFF: "Days past due at the cut-off",
    schema.INSTALLMENTS_OBSERVED: f"Instalments due so far (counted up to {TREND_INSTALLMENTS})",
    schema.EMI_TO_INCOME_RATIO: features.FEATURE_DESCRIPTIONS[schema.EMI_TO_INCOME_RATIO],
    schema.CONTACTS_AT_CUTOFF: "Collection contacts made by the cut-off",
}

#: How each feature's value reads in a reason: days and counts whole, shares as percent.
_VALUE_FORMATS: dict[str, str] = {
    schema.DAYS_LATE_RECENT: "{:,.0f}",
    schema.DAYS_LATE_TREND: "{:+,.1f}",
    schema.PARTIAL_PAYMENT_SHARE: "{:.0%}",
    schema.PAID_TO_DUE_RECENT: "{:.0%}",
    schema.MISSED_RECENT: "{:,.0f}",
    schema.DPD_AT_CUTOFF: "{:,.0f}",
    schema.INSTALLMENTS_OBSERVED: "{:,.0f}",
    schema.EMI_TO_INCOME_RATIO: "{:.2f}",
    schema.CONTACTS_AT_CUTOFF: "{:,.0f}",
}

#: +1: more of it never lowers the risk; -1: never raises it; others unconstrained.
MONOTONE_DIRECTIONS: dict[str, int] = {
    schema.DAYS_LATE_RECENT: 1,
    schema.MISSED_RECENT: 1,
    schema.DPD_AT_CUTOFF: 1,
    schema.PARTIAL_PAYMENT_SHARE: 1,
    schema.EMI_TO_INCOME_RATIO: 1,
}

MODEL_JSON = "early_warning_model.json"
XGBOOST_FILE = "early_warning_xgboost.ubj"
FORMAT_NAME = "loan_recovery.early_warning_model"
FORMAT_VERSION = 1
#: Metadata value naming an early-warning registry version.
MODEL_KIND = "early_warning"
#: Fewest rows of each class the model trains on.
MIN_ROWS_PER_CLASS = 10


# --- features -----------------------------------------------------------------------------
def _empty_features() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=np.float64) for name in EARLY_WARNING_FEATURES},
        index=pd.Index([], name=schema.LOAN_ID, dtype="str"),
    )


def _stamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ModelError(f"cutoff must be a date; got {value!r}.")
    return stamp.normalize()


def _loan_columns(loans: pd.DataFrame, cutoff: pd.Timestamp, index: pd.Index) -> pd.DataFrame:
    """EMI burden (contract terms, any row) and contacts (rows dated by the cut-off only)."""
    for column in (schema.LOAN_ID, schema.MONTHLY_EMI, schema.MONTHLY_INCOME):
        if column not in loans.columns:
            raise TrainingDataError(
                f"early-warning features need loan column {column}; validate the loan file first."
            )
    ids = loans[schema.LOAN_ID].astype("str").to_numpy(dtype=object)
    burden = pd.Series(features.emi_to_income_ratio(loans).to_numpy(np.float64), index=ids)
    out = pd.DataFrame(index=index)
    out[schema.EMI_TO_INCOME_RATIO] = burden.groupby(level=0).last().reindex(index)
    contacts = pd.Series(np.nan, index=index, dtype=np.float64)
    if schema.AS_OF_DATE in loans.columns and schema.COLLECTION_ATTEMPTS in loans.columns:
        dated = pd.to_datetime(loans[schema.AS_OF_DATE], errors="coerce")
        known = (dated <= cutoff).to_numpy()
        if known.any():
            frame = pd.DataFrame(
                {
                    "loan": ids[known],
                    "date": dated.to_numpy()[known],
                    "count": pd.to_numeric(loans[schema.COLLECTION_ATTEMPTS]).to_numpy(
                        dtype=np.float64, na_value=np.nan
                    )[known],
                }
            ).sort_values(["loan", "date"], kind="stable")
            latest = frame.drop_duplicates("loan", keep="last").set_index("loan")["count"]
            contacts = pd.Series(latest.reindex(index).to_numpy(np.float64), index=index)
    out[schema.CONTACTS_AT_CUTOFF] = contacts.to_numpy()
    return out


def behaviour_features(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    cutoff: Any,
    *,
    tolerance: float = 1.0,
) -> pd.DataFrame:
    """Behaviour features per loan at the end of ``cutoff``, from the past only.

    One row per loan with an instalment due on or before the cut-off, indexed by Loan_ID
    (sorted), columns :data:`EARLY_WARNING_FEATURES` (float64; burden and contacts are NaN
    when the loan table has no value). An instalment's days late is the days from its due
    date to the day it was paid in full, payments applied oldest first
    (:func:`~loan_recovery.simulation.payments.instalment_coverage`), or to the cut-off while
    unpaid. A row is partial when 0 < paid < 99% of due (by the cut-off), and missed when
    nothing was paid against it and the next one fell due (the latest: once over
    :data:`MISSED_AFTER_DAYS` days overdue), even if a later payment made it good. The
    instalment count stops at :data:`TREND_INSTALLMENTS`, so it tells a new loan from a
    seasoned one, not a long history window from a short one. ``tolerance`` is the
    shortfall still counted as paid.
    """
    stamp = _stamp(cutoff)
    rows = instalment_coverage(payments_known_at(payments, stamp), tolerance=tolerance)
    if rows.empty:
        return _empty_features()
    codes, loan_ids = pd.factorize(rows[schema.LOAN_ID], sort=True)
    n_loans = len(loan_ids)
    counts = np.bincount(codes, minlength=n_loans)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    recency = counts[codes] - 1 - (np.arange(len(rows)) - starts[codes])

    due_date = rows[schema.DUE_DATE]
    covered = rows[schema.COVERED_DATE]
    until = covered.where(covered.notna(), stamp)
    days_late = np.maximum((until - due_date).dt.days.to_numpy(dtype=np.float64), 0.0)
    due = rows[schema.AMOUNT_DUE].to_numpy(dtype=np.float64)
    paid = rows[schema.AMOUNT_PAID].to_numpy(dtype=np.float64)
    partial = (paid > 0) & (paid < PARTIAL_BELOW * due)
    overdue_days = (stamp - due_date).dt.days.to_numpy()
    missed = (paid <= 0) & (due > 0) & ((recency > 0) | (overdue_days > MISSED_AFTER_DAYS))
    unpaid_for = np.where(covered.isna().to_numpy() & (due_date < stamp).to_numpy(), days_late, 0)

    recent = recency < RECENT_INSTALLMENTS
    trend = recency < TREND_INSTALLMENTS

    def total(values: npt.ArrayLike, mask: npt.NDArray[np.bool_]) -> FloatArray:
        weights = np.where(mask, np.asarray(values, dtype=np.float64), 0.0)
        sums: FloatArray = np.bincount(codes, weights=weights, minlength=n_loans).astype(np.float64)
        return sums

    n_recent = total(1.0, recent)
    n_trend = total(1.0, trend)
    x = -recency.astype(np.float64)
    sx, sy = total(x, trend), total(days_late, trend)
    sxy, sxx = total(x * days_late, trend), total(x * x, trend)
    denominator = n_trend * sxx - sx * sx
    slope = np.divide(
        n_trend * sxy - sx * sy,
        denominator,
        out=np.zeros(n_loans),
        where=(n_trend >= 2) & (denominator > 0),
    )
    due_recent = total(due, recent)
    paid_to_due = np.divide(
        total(paid, recent), due_recent, out=np.ones(n_loans), where=due_recent > 0
    )
    result = pd.DataFrame(
        {
            schema.DAYS_LATE_RECENT: total(days_late, recent) / n_recent,
            schema.DAYS_LATE_TREND: slope,
            schema.PARTIAL_PAYMENT_SHARE: total(partial, trend) / n_trend,
            schema.PAID_TO_DUE_RECENT: np.clip(paid_to_due, 0.0, PAID_TO_DUE_CAP),
            schema.MISSED_RECENT: total(missed, recent),
            schema.DPD_AT_CUTOFF: _group_max(codes, unpaid_for, n_loans),
            schema.INSTALLMENTS_OBSERVED: np.minimum(counts, TREND_INSTALLMENTS).astype(np.float64),
        },
        index=pd.Index(np.asarray(loan_ids, dtype=object), name=schema.LOAN_ID, dtype="str"),
    )
    extra = _loan_columns(loans, stamp, result.index)
    result[schema.EMI_TO_INCOME_RATIO] = extra[schema.EMI_TO_INCOME_RATIO].to_numpy()
    result[schema.CONTACTS_AT_CUTOFF] = extra[schema.CONTACTS_AT_CUTOFF].to_numpy()
    return result[list(EARLY_WARNING_FEATURES)]


def _group_max(codes: IntArray, values: FloatArray, n_groups: int) -> FloatArray:
    out = np.zeros(n_groups)
    np.maximum.at(out, codes, values)
    return out


# --- labels and the time split ------------------------------------------------------------
def early_warning_labels(
    payments: pd.DataFrame, cutoff: Any, *, settings: EarlyWarningSettings
) -> pd.Series:
    """1 where a loan reaches ``default_dpd`` days past due within ``horizon_months``
    after ``cutoff`` (read from the payments made after it), else 0; indexed by Loan_ID."""
    stamp = _stamp(cutoff)
    end = stamp + pd.DateOffset(months=settings.horizon_months)
    reached = reached_days_past_due(
        payments, stamp, end, days=settings.default_dpd, tolerance=settings.coverage_tolerance
    )
    return reached.astype(np.int8)


def time_split(
    end: Any, settings: EarlyWarningSettings
) -> tuple[tuple[pd.Timestamp, ...], pd.Timestamp]:
    """Monthly training cut-offs (oldest first) and the test cut-off for data ending ``end``.

    The test cut-off is ``horizon_months`` before the end, so its label window is covered;
    training cut-offs step back a month at a time from ``horizon_months`` before the test
    cut-off, so every training label window closes by the test cut-off.
    """
    stamp = _stamp(end)
    test = months_before(stamp, settings.horizon_months)
    train = tuple(
        months_before(test, settings.horizon_months + step)
        for step in reversed(range(settings.train_cutoffs))
    )
    return train, test


def labelled_rows(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    cutoff: Any,
    *,
    settings: EarlyWarningSettings,
) -> pd.DataFrame:
    """Features and label of every eligible loan (DPD <= ``eligible_max_dpd``) at ``cutoff``.

    Columns: :data:`EARLY_WARNING_FEATURES`, ``Cutoff_Date`` and ``Reaches_Default``.
    """
    stamp = _stamp(cutoff)
    found = behaviour_features(payments, loans, stamp, tolerance=settings.coverage_tolerance)
    found = found[found[schema.DPD_AT_CUTOFF] <= settings.eligible_max_dpd]
    labels = early_warning_labels(payments, stamp, settings=settings)
    found[schema.CUTOFF_DATE] = stamp
    found[schema.REACHES_DEFAULT] = labels.reindex(found.index).fillna(0).astype(np.int8)
    return found


# --- metrics ------------------------------------------------------------------------------
def top_fraction_metrics(
    y: npt.ArrayLike, p: npt.ArrayLike, top_fraction: float
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, base rate, and precision and lift in the top ``top_fraction``.

    The top is the ``ceil(top_fraction x n)`` highest scores (ties in row order); lift is
    its precision over the base rate (nan when there are no positives).
    """
    labels = np.asarray(y, dtype=np.int64).ravel()
    scores = np.asarray(p, dtype=np.float64).ravel()
    if labels.size == 0:
        raise ModelError("metrics need at least one scored row; got none.")
    count = max(1, math.ceil(top_fraction * labels.size))
    top = np.argsort(-scores, kind="stable")[:count]
    base_rate = float(labels.mean())
    precision = float(labels[top].mean())
    return {
        "rows": float(labels.size),
        "positives": float(labels.sum()),
        "base_rate": base_rate,
        "roc_auc": metrics.roc_auc(labels, scores),
        "pr_auc": metrics.pr_auc(labels, scores),
        "brier": metrics.brier(labels, scores),
        "top_fraction": float(top_fraction),
        "precision_at_top": precision,
        "lift_at_top": precision / base_rate if base_rate > 0 else math.nan,
    }


# --- the model ----------------------------------------------------------------------------
def _threads(n_jobs: int | None) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = max(1, cores or 1)
    if n_jobs is None:
        return available
    if n_jobs == 0:
        raise ModelError("n_jobs must not be 0; use None or -1 for all cores.")
    return n_jobs if n_jobs > 0 else max(1, available + 1 + n_jobs)


def _checked_matrix(X: object, expected: Sequence[str] | None = None) -> Float32Array:
    if not isinstance(X, pd.DataFrame):
        raise TrainingDataError(
            f"X must be a DataFrame of behaviour_features; got {type(X).__name__}."
        )
    names = [str(column) for column in X.columns]
    wanted = list(expected) if expected is not None else list(EARLY_WARNING_FEATURES)
    if names != wanted:
        raise IncompatibleModelError(
            f"X does not have the early-warning columns: {column_difference(names, wanted)}."
        )
    values: Float32Array = X.to_numpy(dtype=np.float32, na_value=np.nan)
    if np.isinf(values).any():
        raise TrainingDataError("X must not hold inf; missing values are NaN.")
    return values


def _loan_split(
    groups: npt.NDArray[Any], fraction: float, random_state: int
) -> tuple[IntArray, IntArray]:
    """Rows of a random ``fraction`` of the loans (validation) and the rest (fitting)."""
    _, loan_code = np.unique(groups, return_inverse=True)
    n_loans = int(loan_code.max()) + 1
    held = np.random.default_rng(random_state).random(n_loans) < fraction
    rows = np.arange(len(groups))
    valid = held[loan_code.reshape(-1)]
    return rows[~valid], rows[valid]


class EarlyWarningModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """P(reaching default within the horizon) from :func:`behaviour_features` columns.

    Fitted, it has ``booster_`` (cut to its best iteration), ``best_iteration_``,
    ``feature_names_in_`` and ``classes_`` ([0, 1]).
    """

    def __init__(
        self,
        xgboost: XGBoostSettings | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.xgboost = xgboost
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, groups: npt.ArrayLike | None = None
    ) -> EarlyWarningModel:
        """Boost with early stopping on a split by ``groups`` (loan ids; default: rows)."""
        settings = self.xgboost if self.xgboost is not None else XGBoostSettings()
        values = _checked_matrix(X)
        labels = np.asarray(y).ravel().astype(np.int64)
        if labels.shape[0] != values.shape[0] or not np.isin(labels, (0, 1)).all():
            raise TrainingDataError(f"y must hold one 0/1 label per row of X ({len(values)}).")
        counts = np.bincount(labels, minlength=2)
        if counts.min() < MIN_ROWS_PER_CLASS:
            raise TrainingDataError(
                f"early warning needs at least {MIN_ROWS_PER_CLASS} rows of each class; got "
                f"{counts[0]} that stay current (0) and {counts[1]} that default (1)."
            )
        keys = np.asarray(groups) if groups is not None else np.arange(len(labels))
        fit_rows, valid_rows = _loan_split(keys, settings.validation_fraction, self.random_state)
        if len(valid_rows) == 0 or np.bincount(labels[valid_rows], minlength=2).min() == 0:
            fit_rows, valid_rows = _loan_split(np.arange(len(labels)), 0.2, self.random_state)
        names = list(EARLY_WARNING_FEATURES)
        threads = _threads(self.n_jobs)
        train = xgb.DMatrix(values[fit_rows], labels[fit_rows])
        valid = xgb.DMatrix(values[valid_rows], labels[valid_rows])
        params = {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "learning_rate": settings.learning_rate,
            "max_depth": settings.max_depth,
            "min_child_weight": settings.min_child_weight,
            "subsample": settings.subsample,
            "colsample_bytree": settings.colsample_bytree,
            "reg_lambda": settings.reg_lambda,
            "monotone_constraints": tuple(MONOTONE_DIRECTIONS.get(n, 0) for n in names),
            "seed": self.random_state,
            "nthread": threads,
            "verbosity": 0,
        }
        booster = xgb.train(
            params,
            train,
            num_boost_round=settings.n_estimators,
            evals=[(valid, "validation")],
            early_stopping_rounds=settings.early_stopping_rounds,
            verbose_eval=False,
        )
        best = int(booster.best_iteration)
        self.booster_ = named(booster[: best + 1], names)
        self.best_iteration_ = best
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        return self

    def predict_probability(self, X: pd.DataFrame) -> FloatArray:
        """P(default within the horizon) per row of ``X``."""
        check_is_fitted(self, "booster_")
        values = _checked_matrix(X, list(self.feature_names_in_))
        if len(values) == 0:
            return np.zeros(0)
        scores = self.booster_.inplace_predict(values)
        return np.asarray(scores, dtype=np.float64)

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Both classes' probabilities, scikit-learn style."""
        positive = self.predict_probability(X)
        return np.column_stack([1.0 - positive, positive])

    def reasons(self, X: pd.DataFrame, *, top_k: int = 3) -> ReasonCodes:
        """Top ``top_k`` features raising each loan's probability, worded for people."""
        check_is_fitted(self, "booster_")
        if len(X) == 0:
            contributions: npt.NDArray[Any] = np.zeros((0, X.shape[1] + 1))
        else:
            contributions = tree_contributions(self.booster_, X)
        codes = reason_codes(contributions, X, top_k=top_k)
        return ReasonCodes(
            feature=codes.feature,
            contribution=codes.contribution,
            sentences=_worded(codes, X),
        )

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the description JSON and the booster (UBJSON) into ``directory``."""
        check_is_fitted(self, "booster_")
        directory = Path(directory)
        self.booster_.save_model(str(directory / XGBOOST_FILE))
        description = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "feature_names": [str(name) for name in self.feature_names_in_],
            "best_iteration": self.best_iteration_,
            "booster_file": XGBOOST_FILE,
            "random_state": self.random_state,
            "xgboost": (self.xgboost or XGBoostSettings()).model_dump(mode="json"),
        }
        (directory / MODEL_JSON).write_text(json.dumps(description, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, *, n_jobs: int | None = None) -> EarlyWarningModel:
        """Read a model :meth:`save` wrote; refuse files of another format or shape."""
        json_path = Path(directory) / MODEL_JSON
        raw = read_model_json(
            json_path,
            kind="an early-warning model",
            format_name=FORMAT_NAME,
            format_version=FORMAT_VERSION,
        )
        names = raw.get("feature_names")
        best = raw.get("best_iteration")
        if names != list(EARLY_WARNING_FEATURES) or not isinstance(best, int):
            raise IncompatibleModelError(
                f"{json_path} lists features {names}; this code computes "
                f"{list(EARLY_WARNING_FEATURES)}. Retrain the early-warning model."
            )
        model = cls(
            xgboost=XGBoostSettings(**raw.get("xgboost", {})),
            random_state=int(raw.get("random_state", 0)),
            n_jobs=n_jobs,
        )
        model.booster_ = load_checked_booster(
            Path(directory) / XGBOOST_FILE,
            names,
            best,
            described_in=MODEL_JSON,
            nthread=_threads(n_jobs),
        )
        model.best_iteration_ = best
        model.feature_names_in_ = np.asarray(names, dtype=object)
        model.n_features_in_ = len(names)
        model.classes_ = np.array([0, 1])
        return model


def _worded(codes: ReasonCodes, X: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Reason sentences with this module's descriptions and units (one pass per feature).

    :func:`reason_codes` words the effect (``": raises risk (+0.84 log-odds)"``); the head
    ("<description> is <value>") is rewritten here, since its generic wording knows only
    the loan table's columns.
    """
    sentences = codes.sentences.copy()
    filled = codes.feature != ""
    if not filled.any():
        return sentences
    effects = pd.Series(sentences[filled]).str.partition(": ")[2].to_numpy(dtype=object)
    rows, ranks = np.nonzero(filled)
    chosen = codes.feature[rows, ranks]
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    column_of = {str(name): position for position, name in enumerate(X.columns)}
    heads = np.empty(len(rows), dtype=object)
    for name in np.unique(chosen.astype(str)):
        at = np.flatnonzero(chosen == name)
        shown = values[rows[at], column_of[name]]
        form = _VALUE_FORMATS.get(name, "{:,.2f}")
        description = FEATURE_DESCRIPTIONS.get(name, name)
        distinct, inverse = np.unique(shown, return_inverse=True)
        texts = [
            f"{description} is {'unknown' if np.isnan(v) else form.format(v)}" for v in distinct
        ]
        heads[at] = np.asarray(texts, dtype=object)[inverse.reshape(-1)]
    sentences[rows, ranks] = heads + ": " + effects
    return sentences


# --- training with the time split ---------------------------------------------------------
@dataclass(frozen=True)
class EarlyWarningEvaluation:
    """What the time split measured: where it cut, how much data, and the test metrics."""

    train_cutoffs: tuple[pd.Timestamp, ...]
    test_cutoff: pd.Timestamp
    train_rows: int
    train_positives: int
    train_max_due_date: pd.Timestamp
    test_metrics: dict[str, float]

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-able summary (dates as ISO text)."""
        return {
            "train_cutoffs": [day.date().isoformat() for day in self.train_cutoffs],
            "test_cutoff": self.test_cutoff.date().isoformat(),
            "train_rows": self.train_rows,
            "train_positives": self.train_positives,
            "train_max_due_date": self.train_max_due_date.date().isoformat(),
            "test_metrics": {
                key: (None if math.isnan(value) else value)
                for key, value in self.test_metrics.items()
            },
        }


@dataclass(frozen=True)
class EarlyWarningTraining:
    """The fitted model, its time-split evaluation and the test cut-off's scored rows."""

    model: EarlyWarningModel
    evaluation: EarlyWarningEvaluation
    test_rows: pd.DataFrame
    test_scores: FloatArray


def train_early_warning(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    settings: EarlyWarningSettings,
    random_state: int = 0,
    n_jobs: int | None = None,
    end: Any = None,
) -> EarlyWarningTraining:
    """Train on earlier monthly cut-offs, test on the latest one the data can label.

    ``end`` (default: the history's last due or payment date) is where the data stops.
    Training sees only instalments due, and payments made, before the test cut-off: its
    features and label windows all close by then. Raises :class:`TrainingDataError` when
    the history is too short or a class is missing.
    """
    stop = _stamp(end) if end is not None else history_end(payments)
    train_cutoffs, test_cutoff = time_split(stop, settings)
    before_test = payments_known_at(payments, test_cutoff - pd.Timedelta(days=1))
    if before_test.empty:
        raise TrainingDataError(
            f"no instalment is due before the test cut-off {test_cutoff.date()}; the history "
            f"must span more than {2 * settings.horizon_months} months."
        )
    frames = [
        labelled_rows(before_test, loans, cutoff, settings=settings) for cutoff in train_cutoffs
    ]
    train = pd.concat([frame for frame in frames if not frame.empty])
    if train.empty:
        raise TrainingDataError("no loan is eligible at any training cut-off.")
    test = labelled_rows(payments, loans, test_cutoff, settings=settings)
    if test.empty:
        raise TrainingDataError(f"no loan is eligible at the test cut-off {test_cutoff.date()}.")
    model = EarlyWarningModel(settings.xgboost, random_state=random_state, n_jobs=n_jobs)
    model.fit(
        train[list(EARLY_WARNING_FEATURES)],
        train[schema.REACHES_DEFAULT].to_numpy(),
        groups=train.index.to_numpy(dtype=object),
    )
    scores = model.predict_probability(test[list(EARLY_WARNING_FEATURES)])
    labels = test[schema.REACHES_DEFAULT].to_numpy()
    evaluation = EarlyWarningEvaluation(
        train_cutoffs=train_cutoffs,
        test_cutoff=test_cutoff,
        train_rows=len(train),
        train_positives=int(train[schema.REACHES_DEFAULT].sum()),
        train_max_due_date=pd.Timestamp(pd.to_datetime(before_test[schema.DUE_DATE]).max()),
        test_metrics=top_fraction_metrics(labels, scores, settings.top_fraction),
    )
    return EarlyWarningTraining(
        model=model, evaluation=evaluation, test_rows=test, test_scores=scores
    )


# --- alert patterns -----------------------------------------------------------------------
def alert_patterns(found: pd.DataFrame, settings: EarlyWarningSettings) -> pd.Series:
    """The behaviour behind each loan's risk, first match wins (``schema.ALERT_PATTERNS``).

    missed: a recent instalment skipped; partial: some paid only in part;
    late: mean days late at or above ``late_days``; burden: EMI-to-income at or above
    ``burden_emi_to_income``; other: none of these.
    """
    missed = found[schema.MISSED_RECENT].to_numpy() > 0
    partial = found[schema.PARTIAL_PAYMENT_SHARE].to_numpy() > 0
    late = found[schema.DAYS_LATE_RECENT].to_numpy() >= settings.late_days
    burden = found[schema.EMI_TO_INCOME_RATIO].to_numpy(na_value=0.0) >= (
        settings.burden_emi_to_income
    )
    missed_, partial_, late_, burden_, other = schema.ALERT_PATTERNS
    pattern = np.select([missed, partial, late, burden], [missed_, partial_, late_, burden_], other)
    return pd.Series(pattern, index=found.index, name=schema.ALERT_PATTERN, dtype="str")


# --- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EarlyWarningBundle:
    """A verified early-warning version: the model ready to score and its metadata."""

    version: str
    path: Path
    metadata: dict[str, Any]
    model: EarlyWarningModel


def early_warning_registry(models_root: Path, settings: EarlyWarningSettings) -> ModelRegistry:
    """The early-warning models' own registry: a sub-folder of the model registry.

    Its versions and ``champion`` alias are independent of the risk bundles', so training
    one never changes which version of the other serves, and the risk bundle format stays
    as it is.
    """
    return ModelRegistry(Path(models_root) / settings.registry_folder)


def label_definition(settings: EarlyWarningSettings) -> str:
    """Plain words for what the model predicts."""
    return (
        f"Reaches {settings.default_dpd}+ days past due within {settings.horizon_months} "
        f"months of the cut-off; scored when at most {settings.eligible_max_dpd} days past due"
    )


def save_early_warning(
    registry: ModelRegistry,
    training: EarlyWarningTraining,
    *,
    settings: EarlyWarningSettings,
    extra_metadata: dict[str, Any] | None = None,
) -> VersionInfo:
    """Save the trained model as a new version of ``registry`` with its evaluation."""
    evaluation = training.evaluation.to_json_dict()
    metadata: dict[str, Any] = {
        "model_kind": MODEL_KIND,
        "feature_names": list(EARLY_WARNING_FEATURES),
        "label_definition": label_definition(settings),
        "horizon_months": settings.horizon_months,
        "default_dpd": settings.default_dpd,
        "eligible_max_dpd": settings.eligible_max_dpd,
        "evaluation": evaluation,
        "metrics": evaluation["test_metrics"],
        "description": "early warning: P(60+ DPD within the horizon)",
        "settings": settings.model_dump(mode="json"),
        **(extra_metadata or {}),
    }
    return registry.save_version(training.model.save, metadata)


def load_early_warning(
    registry: ModelRegistry, version: str | None = None, *, n_jobs: int | None = None
) -> EarlyWarningBundle:
    """Verify and load a version (the champion by default) ready to score."""
    loaded = registry.open_version(
        version or "champion",
        expected={"model_kind": MODEL_KIND, "feature_names": list(EARLY_WARNING_FEATURES)},
    )
    return EarlyWarningBundle(
        version=loaded.version,
        path=loaded.path,
        metadata=dict(loaded.metadata),
        model=EarlyWarningModel.load(loaded.path, n_jobs=n_jobs),
    )
