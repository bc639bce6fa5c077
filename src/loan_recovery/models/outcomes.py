"""Per-action outcome models: the expected share of the outstanding each action recovers.

Why it is built this way:

* The history is *logged*, not randomised. The lender's rule sent reminders to fresh
  arrears and legal notices to deep, secured ones, so the loans that took an action look
  nothing like the portfolio a plan scores. A model of "legal" fitted on the loans that
  got legal only knows deep secured arrears; asked about a 20-day personal loan it
  extrapolates. Inverse-propensity weights (1 / P(action | loan), clipped at
  ``max_inverse_propensity``) reweight each action's rows to the covariate mix of the
  whole book, which is the population the greedy choice compares actions on.
* Four learners share one interface (``settings.strategy.outcomes.learner``):
  ``t-ipw`` one boosted regressor per action on the rows that took it, IPW-weighted;
  ``s-ipw`` one regressor with the action one-hot appended, same weights; ``t-naive``
  per action, unweighted; ``t-pooled`` a pooled regressor on every row first, then per
  action, unweighted trees that boost from the pooled model's log-odds (each action
  learns only how it departs from "loans like this recover so much", so a thinly logged
  action shrinks towards the pooled answer rather than towards a constant). The target
  is the recovered fraction in [0, 1], fitted with XGBoost's ``reg:logistic`` so
  predictions stay in (0, 1) without clipping tricks.
* Which learner wins is an empirical question, answered on the simulator (learned
  greedy policy's true net recovery on fresh portfolios): the trees already split on
  the columns the logging policy read, so unweighted regression is consistent for them,
  and with the simulator's policy the weights (up to 1 / (0.2 / 6) = 30) mostly add
  variance: ``t-ipw`` scored lowest, ``t-pooled`` highest. The weights earn their keep
  where the logging policy read something X lacks: then only they remove the bias (the
  tests build such a case). The support measurement below uses them whatever the
  learner.
* An action the history barely tried cannot be learned, whatever the learner. Support
  is measured by the effective sample size of its weights, ESS = (sum w)^2 / sum w^2
  (Kish): the number of equally weighted rows carrying the same information. Below
  ``min_effective_sample_size`` the action gets no model; every loan gets its
  *conservative prior*, the lower 95% bound of the self-normalised IPW mean of its
  fraction (floored at 0), and ``support_`` flags it so reports can show that the
  recommendation rests on a prior, not on a learned response.
* Propensities come from the log (``Action_Propensity``) when the lender recorded them;
  otherwise :func:`estimate_propensities` fits a cross-fitted multiclass booster (the
  rule-of-thumb policies lenders log are sharp thresholds on DPD and burden, which trees
  reproduce and a linear model cannot).
* Models are saved as JSON plus XGBoost UBJSON (never pickle), each booster's SHA-256 in
  the JSON, so a changed file is refused at load time.

Scoring a million loans for six actions takes a few seconds: each booster scores a
float32 matrix through ``Booster.inplace_predict``, which is fast and thread-safe.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
import xgboost as xgb
from pydantic import ValidationError
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils.validation import check_is_fitted

import loan_recovery
from loan_recovery.config import ActionConfig, OutcomeSettings, Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import (
    ConfigError,
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    SchemaError,
    TamperedModelError,
    TrainingDataError,
)
from loan_recovery.models.boosting import BoostRows, fit_booster, named, training_cluster
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.model_json import incompatible, load_checked_booster, read_model_json

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]
_Job = TypeVar("_Job")
_Result = TypeVar("_Result")

Learner = Literal["t-ipw", "s-ipw", "t-naive", "t-pooled"]
#: The learners :class:`OutcomeModel` knows; ``settings.strategy.outcomes.learner`` picks one.
LEARNERS: tuple[Learner, ...] = ("t-ipw", "s-ipw", "t-naive", "t-pooled")

# --- support table columns (``OutcomeModel.support_``, indexed by action) ----------------
SUPPORT_ROWS = "rows"
SUPPORT_ESS = "effective_sample_size"
SUPPORT_IPW_MEAN = "ipw_mean_fraction"
SUPPORT_PRIOR = "prior_fraction"
SUPPORT_LOW = "low_support"
SUPPORT_COLUMNS: tuple[str, ...] = (
    SUPPORT_ROWS,
    SUPPORT_ESS,
    SUPPORT_IPW_MEAN,
    SUPPORT_PRIOR,
    SUPPORT_LOW,
)
SUPPORT_INDEX = "action"

#: Fewest rows an action needs for a model of its own, whatever its ESS: fewer cannot
#: fill an early-stopping split. Below it the action is low-support.
MIN_TRAINING_ROWS = 20
#: Rows per block when scoring: blocks score in parallel, one thread each, and bound the
#: memory of the ``s-ipw`` learner's action-augmented copy of X.
PREDICT_BLOCK_ROWS = 65_536
#: Fewest rows :func:`estimate_propensities` cross-fits on.
MIN_PROPENSITY_ROWS = 30
#: Folds of the cross-fitted propensity model: each row's propensity comes from a model
#: that did not see it, so trees cannot memorise the action they are asked about.
PROPENSITY_FOLDS = 3
#: Normal quantile of a two-sided 95% interval; the prior is its lower end
#: (:func:`support_table`).
_Z_95 = 1.959963984540054

MODEL_JSON = "outcome_model.json"
#: Key of the booster every action shares: the one model of ``s-ipw``, the pooled base of
#: ``t-pooled``. Per-action boosters are keyed by the action's name.
SHARED_KEY = "shared"
FORMAT_NAME = "loan_recovery.outcome_model"
FORMAT_VERSION = 1


def booster_file(key: str) -> str:
    """File name of the booster of an action or of :data:`SHARED_KEY`."""
    return f"outcome_{key}.ubj"


def action_indicator_column(action: str) -> str:
    """Design column of the ``s-ipw`` learner: 1 where the row took ``action``."""
    return schema.one_hot_column(schema.ACTION_TAKEN, action)


# --- logged actions and outcomes ----------------------------------------------------------
def method_representatives(actions: Mapping[str, ActionConfig]) -> dict[str, str]:
    """Catalogue action that stands for each ``Collection_Method`` label in a history.

    The canonical table's four methods are coarser than the catalogue: with the default
    costs "Calls" covers reminder *and* call, "Settlement Offer" covers restructure *and*
    settlement. Without ``Action_Taken`` these pairs are indistinguishable, so a history
    row logged as "Calls" is credited to one representative. It is chosen
    deterministically among the actions configured with that method: first the action
    whose name the label spells (the most specific: "Calls" -> call, "Settlement Offer"
    -> settlement, "Legal Notice" -> legal), then the costliest (outcomes of a mixed
    method are then valued at the higher cost, which errs on the conservative side),
    then catalogue order. With
    the default catalogue: Calls -> call, Settlement Offer -> settlement, Legal Notice ->
    legal, Debt Collectors -> agency. A method no action is configured with has no
    representative, and rows logged with it cannot be used.
    """
    order = {name: index for index, name in enumerate(schema.ACTION_NAMES)}
    representatives: dict[str, str] = {}
    for method in schema.COLLECTION_METHODS:
        candidates = [
            name for name, action in actions.items() if action.collection_method == method
        ]
        if not candidates:
            continue
        label = method.lower()
        representatives[method] = max(
            candidates,
            key=lambda name: (
                name.lower() in label,
                actions[name].fixed_cost,
                -order.get(name, len(order)),
            ),
        )
    return representatives


def logged_actions(
    table: pd.DataFrame, actions: Mapping[str, ActionConfig] | None = None
) -> StrArray:
    """The catalogue action each history row took, one name per row.

    ``Action_Taken`` wins where it holds a catalogue name (it is exact). Elsewhere
    ``Collection_Method`` is read: a catalogue name maps to itself, one of the canonical
    four to its representative (:func:`method_representatives` over ``actions``, default
    the configured catalogue). That mapping is lossy: reminder/call and
    restructure/settlement cannot be told apart from the canonical four, so a history
    without ``Action_Taken`` teaches the representatives only. Raises SchemaError when
    neither column is present and TrainingDataError naming rows where neither gives an
    action.
    """
    has_taken = schema.ACTION_TAKEN in table.columns
    has_method = schema.COLLECTION_METHOD in table.columns
    if not (has_taken or has_method):
        raise SchemaError(
            f"the logged action needs {schema.ACTION_TAKEN} or {schema.COLLECTION_METHOD}; "
            "the table has neither.",
            missing_columns=(schema.COLLECTION_METHOD,),
        )
    result = pd.Series(pd.NA, index=table.index, dtype="string")
    if has_taken:
        taken = table[schema.ACTION_TAKEN].astype("string")
        result = taken.where(taken.isin(schema.ARM_NAMES))
    if has_method and bool(result.isna().any()):
        catalogue = actions if actions is not None else load_settings().actions
        mapping: dict[str, str] = {name: name for name in schema.ARM_NAMES}
        mapping.update(method_representatives(catalogue))
        method = table[schema.COLLECTION_METHOD].astype("string")
        result = result.fillna(method.map(mapping).astype("string"))
    unknown = result.isna().to_numpy(dtype=np.bool_)
    if unknown.any():
        shown = _examples(table, unknown)
        raise TrainingDataError(
            f"{int(unknown.sum())} history rows name no known action in "
            f"{schema.ACTION_TAKEN} or {schema.COLLECTION_METHOD} (first: {shown}); expected "
            f"one of {list(schema.ARM_NAMES)} or a method an action is configured with."
        )
    return np.asarray(result.to_numpy(dtype=object), dtype=np.str_)


def _examples(table: pd.DataFrame, mask: npt.NDArray[np.bool_], limit: int = 5) -> str:
    """The first few flagged rows' index labels and action columns, for error messages."""
    columns = [c for c in (schema.ACTION_TAKEN, schema.COLLECTION_METHOD) if c in table.columns]
    rows = table.loc[mask, columns].head(limit)
    return "; ".join(
        f"row {index}: " + ", ".join(f"{column}={row[column]!r}" for column in columns)
        for index, row in rows.iterrows()
    )


def _status_fractions(settings: OutcomeSettings) -> dict[str, float]:
    bad = {
        status: value
        for status, value in settings.status_fractions.items()
        if not (math.isfinite(value) and 0.0 <= value <= 1.0)
    }
    if bad:
        raise ConfigError(f"status_fractions must lie in [0, 1]; got {bad}.")
    return dict(settings.status_fractions)


def recovered_fraction(table: pd.DataFrame, settings: OutcomeSettings) -> FloatArray:
    """Share of the outstanding each history row recovered, in [0, 1].

    Amount_Recovered / Outstanding_Loan_Amount, clipped to [0, 1], where both are known
    and the outstanding is > 0. Other rows (and every row when Amount_Recovered is
    absent) fall back to ``settings.status_fractions[Recovery_Status]``: an ordinal
    stand-in (default Fully 1.0 > Partially 0.5 > Written Off 0.05) that keeps the
    ranking of outcomes but not their exact amounts. Raises SchemaError when neither
    source exists, TrainingDataError naming rows that have neither value.
    """
    n_rows = len(table)
    fraction = np.full(n_rows, np.nan)
    if schema.AMOUNT_RECOVERED in table.columns:
        if schema.OUTSTANDING_LOAN_AMOUNT not in table.columns:
            raise SchemaError(
                f"{schema.AMOUNT_RECOVERED} needs {schema.OUTSTANDING_LOAN_AMOUNT} to become "
                "a recovered fraction.",
                missing_columns=(schema.OUTSTANDING_LOAN_AMOUNT,),
            )
        amount = _numbers(table[schema.AMOUNT_RECOVERED])
        outstanding = _numbers(table[schema.OUTSTANDING_LOAN_AMOUNT])
        usable = np.isfinite(amount) & np.isfinite(outstanding) & (outstanding > 0)
        fraction[usable] = np.clip(amount[usable] / outstanding[usable], 0.0, 1.0)
    missing = np.isnan(fraction)
    if not missing.any():
        return fraction
    if schema.RECOVERY_STATUS not in table.columns:
        raise SchemaError(
            f"{int(missing.sum())} rows have no usable {schema.AMOUNT_RECOVERED} and the table "
            f"has no {schema.RECOVERY_STATUS} to fall back on.",
            missing_columns=(schema.RECOVERY_STATUS,),
        )
    status = table[schema.RECOVERY_STATUS].astype("string")
    by_status = _numbers(status.map(_status_fractions(settings)))
    fraction[missing] = by_status[missing]
    still = np.isnan(fraction)
    if still.any():
        labels = sorted({str(v) for v in status[still].tolist()})[:5]
        raise TrainingDataError(
            f"{int(still.sum())} rows have neither a usable {schema.AMOUNT_RECOVERED} nor a "
            f"{schema.RECOVERY_STATUS} in status_fractions (got {labels}); expected one of "
            f"{sorted(settings.status_fractions)}."
        )
    return fraction


def _numbers(series: pd.Series) -> FloatArray:
    """A column as float64, blanks and non-numbers as NaN."""
    values: FloatArray = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return values


# --- input checks -------------------------------------------------------------------------
def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _parallel(work: Callable[[_Job], _Result], jobs: Sequence[_Job]) -> list[_Result]:
    """``work`` over ``jobs`` on a thread pool, results in job order.

    XGBoost releases the GIL, so one single-threaded booster per core uses the machine as
    well as OpenMP threads inside one booster, without their weak spot: OpenMP teams
    spin-wait, and on a busy machine (another job holding a core) a two-thread fit was
    measured 20x slower than a one-thread fit. So every booster here trains and scores
    on one thread, and the work runs in parallel over actions, folds or row blocks; the
    fitted trees are then also independent of the core count.
    """
    # On a cluster each booster is already spread over every worker: one at a time.
    workers = 1 if training_cluster() is not None else min(_available_cores(), len(jobs))
    if workers <= 1:
        return [work(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, jobs))


def _check_learner(learner: object) -> Learner:
    for known in LEARNERS:
        if learner == known:
            return known
    raise ModelError(f"learner must be one of {list(LEARNERS)}; got {learner!r}.")


def _check_catalogue(actions: object) -> tuple[str, ...]:
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        raise ModelError(f"actions must be a sequence of action names; got {actions!r}.")
    names = tuple(actions)
    if (
        not names
        or not all(isinstance(name, str) and name for name in names)
        or len(set(names)) != len(names)
    ):
        raise ModelError(f"actions must be distinct, non-empty names; got {list(names)}.")
    return names


def _check_features(frame: object) -> tuple[Float32Array, tuple[str, ...]]:
    """X as a finite float32 array and its column names, or TrainingDataError."""
    if not isinstance(frame, pd.DataFrame):
        raise TrainingDataError(
            "X must be a pandas DataFrame with named columns (build it with "
            f"risk_design_matrix); got {type(frame).__name__}."
        )
    if frame.shape[1] == 0 or len(frame) == 0:
        raise TrainingDataError(f"X must have rows and columns; got shape {frame.shape}.")
    names = tuple(str(column) for column in frame.columns)
    if len(set(names)) != len(names):
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        raise TrainingDataError(f"X has repeated column names {repeated}.")
    try:
        values: Float32Array = frame.to_numpy(dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TrainingDataError(f"X must be numeric: {error}.") from None
    finite = [bool(ok) for ok in np.asarray(np.isfinite(values).all(axis=0)).ravel()]
    if not all(finite):
        bad = [name for name, ok in zip(names, finite, strict=True) if not ok]
        raise TrainingDataError(f"X must be finite; columns {bad} hold NaN or inf.")
    return values, names


def _action_codes(actions: npt.ArrayLike, catalogue: tuple[str, ...], n_rows: int) -> IntArray:
    """Index into ``catalogue`` of each row's action, or TrainingDataError naming strays."""
    names = pd.Series(np.asarray(actions, dtype=object).ravel(), dtype="object")
    if len(names) != n_rows:
        raise TrainingDataError(
            f"actions_taken must have one action per row of X ({n_rows}); got {len(names)}."
        )
    codes = names.map({name: index for index, name in enumerate(catalogue)})
    if codes.isna().any():
        strays = sorted({str(v) for v in names[codes.isna()].tolist()})[:5]
        raise TrainingDataError(
            f"actions_taken holds names outside the catalogue {list(catalogue)}: {strays}."
        )
    return np.asarray(codes.to_numpy(), dtype=np.int64)


def _check_fraction(fraction: npt.ArrayLike, n_rows: int) -> FloatArray:
    values = np.asarray(fraction, dtype=np.float64).ravel()
    if values.shape[0] != n_rows:
        raise TrainingDataError(
            f"fraction must have one value per row of X ({n_rows}); got {values.shape[0]}."
        )
    if not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0):
        raise TrainingDataError(
            "fraction must be finite and within [0, 1] (build it with recovered_fraction); "
            f"got range [{np.nanmin(values):g}, {np.nanmax(values):g}]."
        )
    return values


def _check_propensity(propensity: npt.ArrayLike, n_rows: int) -> FloatArray:
    values = np.asarray(propensity, dtype=np.float64).ravel()
    if values.shape[0] != n_rows:
        raise TrainingDataError(
            f"propensity must have one value per row of X ({n_rows}); got {values.shape[0]}."
        )
    if not (np.isfinite(values).all() and values.min() > 0.0 and values.max() <= 1.0):
        raise TrainingDataError(
            "propensity must be a probability in (0, 1] on every row; got range "
            f"[{np.nanmin(values):g}, {np.nanmax(values):g}]."
        )
    return values


def _scoring_values(frame: object, expected: list[str]) -> Float32Array:
    """X's values in the model's column order, or IncompatibleModelError naming the gap."""
    if not isinstance(frame, pd.DataFrame):
        raise IncompatibleModelError(
            "the outcome model scores a pandas DataFrame with its training columns (build it "
            f"with risk_design_matrix); got {type(frame).__name__}."
        )
    got = [str(column) for column in frame.columns]
    if got != expected:
        missing = [name for name in expected if name not in got]
        unexpected = [name for name in got if name not in expected]
        detail = (
            f"missing {missing}, unexpected {unexpected}"
            if missing or unexpected
            else "same columns in another order"
        )
        raise IncompatibleModelError(
            f"X does not match the {len(expected)} columns the outcome model was trained on: "
            f"{detail}."
        )
    values: Float32Array = frame.to_numpy(dtype=np.float32)
    return values


# --- weights and support ------------------------------------------------------------------
def inverse_propensity_weights(
    propensity: npt.ArrayLike, max_inverse_propensity: float
) -> FloatArray:
    """1 / propensity, clipped at ``max_inverse_propensity`` to bound the variance."""
    values = np.asarray(propensity, dtype=np.float64)
    weights: FloatArray = np.minimum(1.0 / values, max_inverse_propensity)
    return weights


def effective_sample_size(weights: npt.ArrayLike) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2; 0 for no rows.

    Equal weights give the row count; a few dominant weights give about their number.
    """
    values = np.asarray(weights, dtype=np.float64).ravel()
    squares = float(np.dot(values, values))
    if values.size == 0 or squares == 0.0:
        return 0.0
    return float(values.sum()) ** 2 / squares


def support_table(
    actions: npt.ArrayLike,
    fraction: npt.ArrayLike,
    weights: npt.ArrayLike,
    catalogue: Sequence[str],
    min_effective_sample_size: float,
) -> pd.DataFrame:
    """Per action: rows, ESS, IPW mean fraction, conservative prior, low-support flag.

    The IPW mean is the self-normalised (Hajek) estimate sum w f / sum w over the rows
    that took the action: the book-wide mean fraction had every loan taken it. Its
    delta-method standard error is sqrt(sum w^2 (f - mean)^2) / sum w, and the prior is
    the lower end of the 95% interval, floored at 0: a low-support action is never
    recommended on the strength of a lucky handful of rows. An action never taken has
    ESS 0, no mean (NaN) and prior 0. ``low_support`` holds where ESS is below
    ``min_effective_sample_size`` or rows below :data:`MIN_TRAINING_ROWS`.
    """
    names = np.asarray(actions, dtype=object).ravel()
    values = np.asarray(fraction, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    records: list[dict[str, Any]] = []
    for action in catalogue:
        rows = names == action
        count = int(rows.sum())
        ess = effective_sample_size(w[rows])
        if count == 0 or float(w[rows].sum()) <= 0.0:
            mean, prior = math.nan, 0.0
        else:
            total = float(w[rows].sum())
            mean = float(np.dot(w[rows], values[rows]) / total)
            error = math.sqrt(float(np.sum(w[rows] ** 2 * (values[rows] - mean) ** 2))) / total
            prior = max(0.0, mean - _Z_95 * error)
        records.append(
            {
                SUPPORT_INDEX: action,
                SUPPORT_ROWS: count,
                SUPPORT_ESS: ess,
                SUPPORT_IPW_MEAN: mean,
                SUPPORT_PRIOR: prior,
                SUPPORT_LOW: bool(ess < min_effective_sample_size or count < MIN_TRAINING_ROWS),
            }
        )
    return _support_frame(records)


def _smallest_count(codes: IntArray) -> int:
    """Rows of the rarest action present (stratified splits need 2 of each)."""
    counts = np.bincount(codes)
    return int(counts[counts > 0].min())


def _low_support(support: pd.DataFrame) -> dict[str, bool]:
    """Action -> whether it falls back to its prior."""
    return {str(action): bool(flag) for action, flag in support[SUPPORT_LOW].items()}


def _priors(support: pd.DataFrame) -> dict[str, float]:
    """Action -> its conservative prior fraction."""
    return {str(action): float(value) for action, value in support[SUPPORT_PRIOR].items()}


def _support_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=[SUPPORT_INDEX, *SUPPORT_COLUMNS])
    frame = frame.astype(
        {
            SUPPORT_ROWS: np.int64,
            SUPPORT_ESS: np.float64,
            SUPPORT_IPW_MEAN: np.float64,
            SUPPORT_PRIOR: np.float64,
            SUPPORT_LOW: np.bool_,
        }
    )
    return frame.set_index(SUPPORT_INDEX)


# --- boosting -----------------------------------------------------------------------------
def _regressor_params(settings: OutcomeSettings, random_state: int, threads: int) -> dict[str, Any]:
    return {
        "objective": "reg:logistic",
        "eval_metric": "rmse",
        "tree_method": "hist",
        "learning_rate": settings.learning_rate,
        "max_depth": settings.max_depth,
        "min_child_weight": settings.min_child_weight,
        "subsample": settings.subsample,
        "seed": random_state,
        "nthread": threads,
        "verbosity": 0,
    }


def _train_regressor(
    values: Float32Array,
    target: FloatArray,
    weights: FloatArray,
    names: list[str],
    settings: OutcomeSettings,
    random_state: int,
    threads: int,
    strata: IntArray | None = None,
    base_margin: FloatArray | None = None,
) -> tuple[xgb.Booster, int]:
    """Boost a fraction regressor with early stopping on a held-out split.

    Weights are rescaled to mean 1 first, so ``min_child_weight`` (a hessian sum) keeps
    the meaning it has unweighted whatever the propensities' scale. The validation loss
    is weighted too: it estimates the error on the population the weights describe. The
    booster is cut to its best iteration and set to score on one thread (callers
    parallelise over row blocks). ``base_margin`` (log-odds per row) makes the trees
    boost from another model's prediction instead of a constant; scoring must then pass
    the same kind of margin.
    """
    scaled = weights / float(weights.mean())
    fit_rows, valid_rows = train_test_split(
        np.arange(target.shape[0]),
        test_size=settings.validation_fraction,
        random_state=random_state,
        stratify=strata,
    )

    def rows(at: IntArray) -> BoostRows:
        margin = None if base_margin is None else base_margin[at]
        return BoostRows(values[at], target[at], scaled[at], margin)

    booster = fit_booster(
        _regressor_params(settings, random_state, threads),
        rows(fit_rows),
        settings.n_estimators,
        valid=rows(valid_rows),
        early_stopping_rounds=settings.early_stopping_rounds,
    )
    best = int(booster.best_iteration)
    trimmed = named(booster[: best + 1], names)
    trimmed.set_param({"nthread": 1})
    return trimmed, best


def _multiclass_booster(
    values: Float32Array,
    codes: IntArray,
    n_classes: int,
    settings: OutcomeSettings,
    random_state: int,
) -> xgb.Booster:
    threads = 1  # folds train in parallel, one thread each (see _parallel)
    fit_rows, valid_rows = train_test_split(
        np.arange(codes.shape[0]),
        test_size=settings.validation_fraction,
        random_state=random_state,
    )
    params = {
        "objective": "multi:softprob",
        "num_class": n_classes,
        "eval_metric": "mlogloss",
        "tree_method": "hist",
        "learning_rate": settings.learning_rate,
        "max_depth": settings.max_depth,
        "min_child_weight": settings.min_child_weight,
        "subsample": settings.subsample,
        "seed": random_state,
        "nthread": threads,
        "verbosity": 0,
    }
    booster = fit_booster(
        params,
        BoostRows(values[fit_rows], codes[fit_rows]),
        settings.n_estimators,
        valid=BoostRows(values[valid_rows], codes[valid_rows]),
        early_stopping_rounds=settings.early_stopping_rounds,
    )
    trimmed = booster[: int(booster.best_iteration) + 1]
    trimmed.set_param({"nthread": 1})
    return trimmed


def estimate_propensities(
    X: pd.DataFrame,
    actions: npt.ArrayLike,
    random_state: int,
    *,
    settings: OutcomeSettings | None = None,
    catalogue: Sequence[str] = schema.ARM_NAMES,
) -> FloatArray:
    """P(the logged action | loan) per row, for histories that did not record it.

    A multiclass booster (``multi:softprob``, the outcome settings' tree sizes) learns
    the logging policy from X; lenders' policies are threshold rules on DPD, burden and
    collateral, which trees reproduce. It is *cross-fitted* over
    :data:`PROPENSITY_FOLDS` folds: each row is scored by a model that never saw it, so
    the taken action's probability is not inflated by memorisation (which would shrink
    exactly the weights IPW needs). Results are clipped to
    [1 / max_inverse_propensity, 1]. Columns the policy read but X lacks (e.g. a prior
    legal flag) stay unmodelled: the weights then correct only the confounding X sees.
    """
    options = settings if settings is not None else OutcomeSettings()
    names = _check_catalogue(catalogue)
    values, _ = _check_features(X)
    codes = _action_codes(actions, names, values.shape[0])
    return _estimated_propensities(values, codes, len(names), options, random_state)


def _estimated_propensities(
    values: Float32Array,
    codes: IntArray,
    n_classes: int,
    settings: OutcomeSettings,
    random_state: int,
) -> FloatArray:
    n_rows = codes.shape[0]
    if n_rows < MIN_PROPENSITY_ROWS:
        raise TrainingDataError(
            f"estimating propensities needs at least {MIN_PROPENSITY_ROWS} rows; got {n_rows}. "
            f"Record {schema.ACTION_PROPENSITY} or log more history."
        )
    taken = np.empty(n_rows)
    folds = list(KFold(PROPENSITY_FOLDS, shuffle=True, random_state=random_state).split(values))

    def fold_booster(fold: int) -> xgb.Booster:
        fit_rows = folds[fold][0]
        return _multiclass_booster(
            values[fit_rows], codes[fit_rows], n_classes, settings, random_state + fold
        )

    boosters = _parallel(fold_booster, list(range(len(folds))))
    for booster, (_, score_rows) in zip(boosters, folds, strict=True):
        probabilities = np.asarray(booster.inplace_predict(values[score_rows]), dtype=np.float64)
        taken[score_rows] = probabilities.reshape(-1, n_classes)[
            np.arange(score_rows.shape[0]), codes[score_rows]
        ]
    return np.clip(taken, 1.0 / settings.max_inverse_propensity, 1.0)


class _History(NamedTuple):
    """A checked logged history: design values, their names, actions, targets, weights."""

    values: Float32Array
    names: list[str]
    codes: IntArray  # index into the catalogue
    target: FloatArray
    weights: FloatArray  # clipped inverse propensities


def _expected_keys(
    learner: Learner, catalogue: Sequence[str], low: Mapping[str, bool]
) -> list[str]:
    """Booster keys a fitted model holds: which actions have their own, and the shared one."""
    modelled = [action for action in catalogue if not low[action]]
    if not modelled:
        return []
    if learner == "s-ipw":
        return [SHARED_KEY]
    if learner == "t-pooled":
        return [SHARED_KEY, *modelled]
    return modelled


def _fit_boosters(
    learner: Learner,
    history: _History,
    catalogue: tuple[str, ...],
    low: Mapping[str, bool],
    settings: OutcomeSettings,
    random_state: int,
) -> tuple[dict[str, xgb.Booster], dict[str, int]]:
    """Train the learner's boosters; low-support actions get none (they use their prior)."""
    keys = _expected_keys(learner, catalogue, low)
    boosters: dict[str, xgb.Booster] = {}
    best: dict[str, int] = {}
    if not keys:
        return boosters, best
    values, names, codes, target, weights = history
    n_rows = codes.shape[0]
    if learner == "s-ipw":
        indicators = np.zeros((n_rows, len(catalogue)), dtype=np.float32)
        indicators[np.arange(n_rows), codes] = 1.0
        # IPW weights give each action's rows the whole book's covariate mix; the split is
        # stratified by action so every action is validated on.
        boosters[SHARED_KEY], best[SHARED_KEY] = _train_regressor(
            np.hstack([values, indicators]),
            target,
            weights,
            [*names, *(action_indicator_column(a) for a in catalogue)],
            settings,
            random_state,
            threads=1,
            strata=codes if _smallest_count(codes) >= 2 else None,
        )
        return boosters, best
    margin: FloatArray | None = None
    if learner == "t-pooled":
        # What any action recovers on average for loans like this: the per-action trees
        # then learn only how their action departs from it, and one with little data
        # stays near the pooled answer instead of near a constant.
        boosters[SHARED_KEY], best[SHARED_KEY] = _train_regressor(
            values,
            target,
            np.ones(n_rows),
            names,
            settings,
            random_state,
            threads=1,
        )
        margin = np.asarray(
            boosters[SHARED_KEY].inplace_predict(values, predict_type="margin"), dtype=np.float64
        )
    modelled = [key for key in keys if key != SHARED_KEY]

    def fit_action(action: str) -> tuple[xgb.Booster, int]:
        rows = codes == catalogue.index(action)
        row_weights = weights[rows] if learner == "t-ipw" else np.ones(int(rows.sum()))
        return _train_regressor(
            values[rows],
            target[rows],
            row_weights,
            names,
            settings,
            random_state,
            threads=1,
            base_margin=None if margin is None else margin[rows],
        )

    for action, (booster, iteration) in zip(modelled, _parallel(fit_action, modelled), strict=True):
        boosters[action], best[action] = booster, iteration
    return boosters, best


# --- the model ----------------------------------------------------------------------------
class OutcomeModel(BaseEstimator):  # type: ignore[misc]
    """Expected recovered fraction of the outstanding under each action, per loan.

    ``learner`` is one of :data:`LEARNERS` (see the module docstring);
    ``settings`` the outcome settings (default :class:`OutcomeSettings`); ``actions`` the
    catalogue to model, in output column order. Fitted, it has ``support_`` (indexed by
    action: ``rows``, ``effective_sample_size``, ``ipw_mean_fraction``,
    ``prior_fraction``, ``low_support``), ``boosters_`` (action or ``shared`` ->
    booster: the one model of ``s-ipw``, the pooled base of ``t-pooled``),
    ``best_iterations_``, ``learner_``, ``actions_``, ``feature_names_in_`` and
    ``n_features_in_``.
    """

    def __init__(
        self,
        learner: str = "t-ipw",
        settings: OutcomeSettings | None = None,
        actions: Sequence[str] = schema.ARM_NAMES,
        random_state: int = 0,
    ) -> None:
        self.learner = learner
        self.settings = settings
        self.actions = actions
        self.random_state = random_state

    def _settings(self) -> OutcomeSettings:
        return self.settings if self.settings is not None else OutcomeSettings()

    def fit(
        self,
        X: pd.DataFrame,
        actions_taken: npt.ArrayLike,
        fraction: npt.ArrayLike,
        propensity: npt.ArrayLike | None = None,
    ) -> OutcomeModel:
        """Learn each action's recovered fraction from a logged history.

        ``actions_taken`` names each row's action (:func:`logged_actions`), ``fraction``
        its recovered share (:func:`recovered_fraction`), ``propensity`` the logging
        policy's probability of that action; when None it is estimated with
        :func:`estimate_propensities`. Support is always measured with IPW weights, so
        the ``support_`` table means the same for every learner; ``t-naive`` and
        ``t-pooled`` just do not weight their fits.
        """
        learner = _check_learner(self.learner)
        settings = self._settings()
        catalogue = _check_catalogue(self.actions)
        values, names = _check_features(X)
        n_rows = values.shape[0]
        codes = _action_codes(actions_taken, catalogue, n_rows)
        target = _check_fraction(fraction, n_rows)
        if propensity is None:
            taken = _estimated_propensities(
                values, codes, len(catalogue), settings, self.random_state
            )
        else:
            taken = _check_propensity(propensity, n_rows)
        weights = inverse_propensity_weights(taken, settings.max_inverse_propensity)
        support = support_table(
            np.asarray(catalogue, dtype=object)[codes],
            target,
            weights,
            catalogue,
            settings.min_effective_sample_size,
        )
        boosters, best = _fit_boosters(
            learner,
            _History(values, list(names), codes, target, weights),
            catalogue,
            _low_support(support),
            settings,
            self.random_state,
        )
        self.support_ = support
        self.boosters_ = boosters
        self.best_iterations_ = best
        self.learner_: Learner = learner
        self.actions_ = catalogue
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        return self

    def predict_fractions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Expected recovered fraction per loan (rows, X's index) and action (columns).

        Values lie in [0, 1]. A low-support action holds its ``prior_fraction`` on every
        row; ``support_`` says which, so a report can show the answer is a prior.
        """
        check_is_fitted(self, "support_")
        values = _scoring_values(X, [str(name) for name in self.feature_names_in_])
        n_rows = values.shape[0]
        edges = np.unique(np.r_[np.arange(0, n_rows, PREDICT_BLOCK_ROWS), n_rows])
        blocks = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        parts = _parallel(lambda bounds: self._predict_block(values[bounds[0] : bounds[1]]), blocks)
        result = np.vstack(parts) if parts else np.empty((0, len(self.actions_)))
        return pd.DataFrame(result, index=X.index, columns=list(self.actions_))

    def _predict_block(self, values: Float32Array) -> FloatArray:
        """Fractions of one block of rows, every action; boosters score on one thread."""
        catalogue = self.actions_
        n_rows, n_features = values.shape
        result = np.empty((n_rows, len(catalogue)), dtype=np.float64)
        low, priors = _low_support(self.support_), _priors(self.support_)
        shared = self.boosters_.get(SHARED_KEY)
        augmented: Float32Array | None = None
        margin: FloatArray | None = None
        if shared is not None and self.learner_ == "s-ipw":
            augmented = np.zeros((n_rows, n_features + len(catalogue)), dtype=np.float32)
            augmented[:, :n_features] = values
        elif shared is not None:
            margin = np.asarray(shared.inplace_predict(values, predict_type="margin"))
        for index, action in enumerate(catalogue):
            if low[action]:
                result[:, index] = priors[action]
                continue
            if augmented is not None and shared is not None:
                augmented[:, n_features:] = 0.0
                augmented[:, n_features + index] = 1.0
                predicted = shared.inplace_predict(augmented)
            else:
                predicted = self.boosters_[action].inplace_predict(values, base_margin=margin)
            result[:, index] = np.asarray(predicted, dtype=np.float64)
        clipped: FloatArray = np.clip(result, 0.0, 1.0)
        return clipped

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: Path | str) -> list[Path]:
        """Write ``outcome_model.json`` and one UBJSON booster per modelled action.

        ``s-ipw`` writes a single ``outcome_shared.ubj``; ``t-pooled`` writes it (its
        pooled base) next to the per-action files. The JSON holds the learner,
        actions, feature names, settings, support table (so priors survive), each
        booster's best iteration and SHA-256, and the library versions. Returns the JSON
        path first, then the boosters.
        """
        check_is_fitted(self, "support_")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        entries: dict[str, dict[str, Any]] = {}
        for key, booster in self.boosters_.items():
            path = folder / booster_file(key)
            booster.save_model(str(path))
            paths.append(path)
            entries[key] = {
                "file": path.name,
                "sha256": _sha256(path),
                "best_iteration": self.best_iterations_[key],
            }
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "learner": self.learner_,
            "actions": list(self.actions_),
            "feature_names": [str(name) for name in self.feature_names_in_],
            "params": {
                "random_state": self.random_state,
                "settings": self._settings().model_dump(mode="json"),
            },
            "support": [
                {
                    SUPPORT_INDEX: str(action),
                    SUPPORT_ROWS: int(row[SUPPORT_ROWS]),
                    SUPPORT_ESS: float(row[SUPPORT_ESS]),
                    SUPPORT_IPW_MEAN: _json_float(row[SUPPORT_IPW_MEAN]),
                    SUPPORT_PRIOR: float(row[SUPPORT_PRIOR]),
                    SUPPORT_LOW: bool(row[SUPPORT_LOW]),
                }
                for action, row in self.support_.iterrows()
            ],
            "boosters": entries,
            "libraries": _library_versions(),
        }
        json_path = folder / MODEL_JSON
        json_path.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", "utf-8")
        return [json_path, *paths]

    @classmethod
    def load(cls, directory: Path | str) -> OutcomeModel:
        """Rebuild a saved model; predictions are identical to the model that was saved.

        Raises ModelNotFoundError when a file is missing, TamperedModelError when a
        booster changed since it was saved, and IncompatibleModelError when the files do
        not describe a model this code can run (format, features, actions, rounds).
        """
        folder = Path(directory)
        json_path = folder / MODEL_JSON
        if not json_path.is_file():
            raise ModelNotFoundError(f"no outcome model in {folder}: {MODEL_JSON} is missing.")
        manifest = _read_manifest(json_path)
        learner: Learner = manifest["learner"]
        actions: tuple[str, ...] = manifest["actions"]
        names: list[str] = manifest["feature_names"]
        support: pd.DataFrame = manifest["support"]
        expected_keys = _expected_keys(learner, actions, _low_support(support))
        entries: dict[str, dict[str, Any]] = manifest["boosters"]
        if sorted(entries) != sorted(expected_keys):
            raise IncompatibleModelError(
                f"{json_path.name} lists boosters {sorted(entries)} but its learner and "
                f"support table call for {sorted(expected_keys)}."
            )
        booster_names = (
            [*names, *(action_indicator_column(a) for a in actions)]
            if learner == "s-ipw"
            else names
        )
        boosters: dict[str, xgb.Booster] = {}
        best: dict[str, int] = {}
        for key in expected_keys:
            entry = entries[key]
            path = folder / booster_file(key)
            if entry["file"] != path.name:
                raise IncompatibleModelError(
                    f"{json_path.name} names {entry['file']!r} for {key!r}; expected {path.name!r}."
                )
            if not path.is_file():
                raise ModelNotFoundError(f"{json_path} names {path.name}, which is missing.")
            if _sha256(path) != entry["sha256"]:
                raise TamperedModelError(
                    f"{path} does not match the SHA-256 recorded in {json_path.name}; "
                    "refusing to load it."
                )
            boosters[key] = _load_booster(path, booster_names, entry["best_iteration"])
            best[key] = entry["best_iteration"]
        model = cls(
            learner=learner,
            settings=manifest["settings"],
            actions=actions,
            random_state=manifest["random_state"],
        )
        model.support_ = support
        model.boosters_ = boosters
        model.best_iterations_ = best
        model.learner_ = learner
        model.actions_ = actions
        model.feature_names_in_ = np.asarray(names, dtype=object)
        model.n_features_in_ = len(names)
        return model


def history_propensities(
    table: pd.DataFrame,
    X: pd.DataFrame,
    actions: npt.ArrayLike,
    settings: OutcomeSettings,
    random_state: int,
) -> FloatArray:
    """Propensity of each history row's logged arm: recorded where usable, else estimated.

    ``Action_Propensity`` is used where it lies in (0, 1]; other rows (all of them when the
    column is absent) get :func:`estimate_propensities` over every arm, hold included.
    """
    recorded = (
        _numbers(table[schema.ACTION_PROPENSITY])
        if schema.ACTION_PROPENSITY in table.columns
        else np.full(len(table), np.nan)
    )
    usable = np.isfinite(recorded) & (recorded > 0) & (recorded <= 1)
    if usable.all():
        return recorded
    estimated = estimate_propensities(
        X, actions, random_state, settings=settings, catalogue=schema.ARM_NAMES
    )
    result: FloatArray = np.where(usable, recorded, estimated)
    return result


def fit_outcome_model(
    table: pd.DataFrame,
    design: pd.DataFrame | None,
    settings: Settings,
    random_state: int,
) -> OutcomeModel:
    """Fit the configured outcome learner on a validated history table.

    Logged actions from :func:`logged_actions` (the configured catalogue's method
    mapping), fractions from :func:`recovered_fraction`, propensities from
    ``Action_Propensity`` where recorded (estimated with :func:`estimate_propensities`
    for rows where it is blank, or for all rows when the column is absent). ``design``
    is the table's risk design matrix, built here when None, so the outcome models read
    exactly the columns the risk model does (no action or outcome column, no Gender).
    A recorded propensity belongs to the exact action; in a history without
    ``Action_Taken`` it may belong to an action the method's representative stands for
    (a reminder logged as "Calls"), and the weights are then approximate.
    """
    outcomes = settings.strategy.outcomes
    X = design if design is not None else risk_design_matrix(table, settings.risk)
    if len(X) != len(table):
        raise TrainingDataError(
            f"design has {len(X)} rows but the table has {len(table)}; build it from the table."
        )
    actions = logged_actions(table, settings.actions)
    fraction = recovered_fraction(table, outcomes)
    propensity = history_propensities(table, X, actions, outcomes, random_state)
    model = OutcomeModel(
        learner=outcomes.learner,
        settings=outcomes,
        actions=schema.ARM_NAMES,
        random_state=random_state,
    )
    return model.fit(X, actions, fraction, propensity)


def cross_fitted_fractions(
    table: pd.DataFrame,
    design: pd.DataFrame,
    settings: Settings,
    random_state: int,
    folds: int,
) -> pd.DataFrame:
    """Out-of-fold predicted fractions of every arm for the history's own rows.

    Each row is predicted by a model fitted on the other folds, so a test that scores the
    history with the model (the safe-improvement test's doubly robust gains) does not see
    the model's in-sample optimism: in-sample, the trees have partly memorised each
    row's own outcome, which shrinks the correction term and flatters every departure.
    """
    if folds < 2:
        raise ConfigError(f"cross-fitting needs at least 2 folds; got {folds}.")
    outcomes = settings.strategy.outcomes
    actions = logged_actions(table, settings.actions)
    fraction = recovered_fraction(table, outcomes)
    propensity = history_propensities(table, design, actions, outcomes, random_state)
    result = np.empty((len(table), len(schema.ARM_NAMES)))
    splitter = KFold(n_splits=folds, shuffle=True, random_state=random_state)
    for fit_rows, held_rows in splitter.split(np.zeros(len(table))):
        model = OutcomeModel(
            learner=outcomes.learner,
            settings=outcomes,
            actions=schema.ARM_NAMES,
            random_state=random_state,
        ).fit(design.iloc[fit_rows], actions[fit_rows], fraction[fit_rows], propensity[fit_rows])
        result[held_rows] = model.predict_fractions(design.iloc[held_rows]).to_numpy()
    return pd.DataFrame(result, index=table.index, columns=list(schema.ARM_NAMES))


# --- persistence helpers ------------------------------------------------------------------
def _json_float(value: object) -> float | None:
    number = float(cast(float, value))
    return number if math.isfinite(number) else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    return {
        "loan_recovery": loan_recovery.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgb.__version__,
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_support(raw: object, actions: tuple[str, ...], bad: Any) -> pd.DataFrame:
    if not isinstance(raw, list) or len(raw) != len(actions):
        raise bad(f"support must list one entry per action ({len(actions)})")
    records: list[dict[str, Any]] = []
    for entry, action in zip(raw, actions, strict=True):
        if not isinstance(entry, dict) or entry.get(SUPPORT_INDEX) != action:
            raise bad(f"support entries must follow the actions in order; expected {action!r}")
        rows, ess, mean = (
            entry.get(SUPPORT_ROWS),
            entry.get(SUPPORT_ESS),
            entry.get(SUPPORT_IPW_MEAN),
        )
        prior, low = entry.get(SUPPORT_PRIOR), entry.get(SUPPORT_LOW)
        if not (
            _is_int(rows)
            and _is_number(ess)
            and (mean is None or _is_number(mean))
            and _is_number(prior)
            and 0.0 <= cast(float, prior) <= 1.0
            and isinstance(low, bool)
        ):
            raise bad(f"support entry of {action!r} is malformed")
        records.append(
            {
                SUPPORT_INDEX: action,
                SUPPORT_ROWS: rows,
                SUPPORT_ESS: ess,
                SUPPORT_IPW_MEAN: math.nan if mean is None else mean,
                SUPPORT_PRIOR: prior,
                SUPPORT_LOW: low,
            }
        )
    return _support_frame(records)


def _read_manifest(json_path: Path) -> dict[str, Any]:
    """The checked contents of ``outcome_model.json`` (typed objects, not raw JSON)."""

    def bad(detail: str) -> IncompatibleModelError:
        return incompatible(json_path, "an outcome model", detail)

    raw = read_model_json(
        json_path, kind="an outcome model", format_name=FORMAT_NAME, format_version=FORMAT_VERSION
    )
    learner = raw.get("learner")
    if learner not in LEARNERS:
        raise bad(f"learner {learner!r} is not one of {list(LEARNERS)}")
    actions = raw.get("actions")
    names = raw.get("feature_names")
    for label, value in (("actions", actions), ("feature_names", names)):
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(item, str) for item in value)
            or len(set(value)) != len(value)
        ):
            raise bad(f"{label} must be a non-empty list of distinct strings")
    params = raw.get("params")
    if not isinstance(params, dict):
        raise bad("params must be an object")
    random_state = params.get("random_state")
    if not _is_int(random_state):
        raise bad(f"random_state must be an integer; got {random_state!r}")
    try:
        settings = OutcomeSettings.model_validate(params.get("settings"))
    except ValidationError as error:
        raise bad(f"settings are invalid ({error.error_count()} problems: {error})") from None
    action_names = tuple(cast(list[str], actions))
    support = _read_support(raw.get("support"), action_names, bad)
    boosters = raw.get("boosters")
    if not isinstance(boosters, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and isinstance(entry.get("sha256"), str)
        and _is_int(entry.get("best_iteration"))
        and entry["best_iteration"] >= 0
        for entry in boosters.values()
    ):
        raise bad("boosters must map keys to {file, sha256, best_iteration}")
    return {
        "learner": learner,
        "actions": action_names,
        "feature_names": names,
        "random_state": random_state,
        "settings": settings,
        "support": support,
        "boosters": boosters,
    }


def _load_booster(path: Path, names: list[str], best_iteration: int) -> xgb.Booster:
    return load_checked_booster(path, names, best_iteration, described_in=MODEL_JSON, nthread=1)
