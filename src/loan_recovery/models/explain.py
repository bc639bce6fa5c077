"""Why a loan scores as it does: exact tree SHAP contributions, reason codes, importance.

Why exact tree SHAP: the risk models are tree ensembles, for which Shapley values can be
computed exactly and fast (Lundberg et al., TreeSHAP), so each loan's contributions add
up to its own score; no sampling noise, no surrogate model. XGBoost computes them itself
(``pred_contribs``) in log-odds space, the space its trees add up in; for a Random Forest
``shap.TreeExplainer`` explains the positive-class probability, the forest's own output.

Reason codes turn a contribution matrix into the top few plain-words reasons per loan
("Days past due (DPD) is 120: raises risk (+0.84 log-odds)"), which is what a collector
or a borrower-facing letter needs. Selection and wording are vectorised over the whole
matrix: scoring a million loans must not run a Python loop per loan.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost
from sklearn.ensemble import RandomForestClassifier

from loan_recovery.data import schema
from loan_recovery.exceptions import IncompatibleModelError, ModelError
from loan_recovery.models.design import PAYMENT_HISTORY_ORDER, describe_feature
from loan_recovery.money import MoneyFormat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]
Direction = Literal["up", "down"]
ValueKind = Literal["money", "count", "percent", "flag", "history", "ratio"]

#: Engineered 0/1 features, worded yes/no.
_FLAG_FEATURES: frozenset[str] = frozenset(
    (schema.ANY_MISSED, schema.THREE_PLUS_MISSED, schema.HISTORY_MISSED, schema.IS_SECURED)
)
#: Engineered features that are whole amounts or counts, not ratios.
_WHOLE_FEATURES: dict[str, ValueKind] = {
    schema.INCOME_PER_DEPENDENT: "money",
    schema.DEFAULT_SEVERITY: "count",
}


#: Rows from which a DMatrix is copied by every core rather than one.
_THREADED_DMATRIX_ROWS = 100_000
#: How amounts and counts read in reason sentences.
_REASON_NUMBERS = MoneyFormat()


def tree_contributions(
    model: xgboost.Booster | RandomForestClassifier,
    X: pd.DataFrame,
    *,
    iteration_range: tuple[int, int] | None = None,
    check_additivity: bool = False,
    approximate: bool = False,
    native_dtype: bool = False,
) -> npt.NDArray[np.floating[Any]]:
    """Exact tree SHAP per loan and feature, shape ``(n, p + 1)``; the last column is the bias.

    ``approximate`` switches to Saabas path attributions (XGBoost's ``approx_contribs``,
    shap's ``approximate=True``): they add up the same way and cost about 7 predictions,
    but are not Shapley values. Exact TreeSHAP costs O(trees x leaves x depth^2) per loan
    against O(trees x depth) for a prediction, so very large books may prefer it.

    Each row sums to the model's own output for that loan: the margin (log-odds) for an
    XGBoost ``Booster``, the positive-class probability for a ``RandomForestClassifier``.
    ``iteration_range`` (XGBoost only) explains the trees the model predicts with, e.g.
    ``(0, best_iteration + 1)`` after early stopping. ``check_additivity`` (Random Forest
    only) asks shap to verify the sums, which costs a second pass; off by default.

    Values are float64 unless ``native_dtype``: then an XGBoost booster's own float32 output
    comes back unwidened (half the memory of a large book; :func:`reason_codes` reads it
    as it is and words the same reasons). A forest's values are float64 either way.

    Raises :class:`IncompatibleModelError` when ``X``'s columns are not the model's and
    :class:`ModelError` for an unsupported model (not binary, not a tree ensemble).
    """
    if isinstance(model, xgboost.Booster):
        return _xgboost_contributions(model, X, iteration_range, approximate, native_dtype)
    if isinstance(model, RandomForestClassifier):
        if iteration_range is not None:
            raise ModelError("iteration_range applies to XGBoost boosters only.")
        return _forest_contributions(model, X, check_additivity, approximate)
    raise ModelError(
        "tree_contributions explains an xgboost.Booster or a RandomForestClassifier; "
        f"got {type(model).__name__}."
    )


def _check_columns(expected: Sequence[str] | None, X: pd.DataFrame) -> None:
    if expected is not None and list(expected) != [str(c) for c in X.columns]:
        raise IncompatibleModelError(
            f"the model was trained on columns {list(expected)}; got {list(X.columns)}."
        )


def _xgboost_contributions(
    booster: xgboost.Booster,
    X: pd.DataFrame,
    iteration_range: tuple[int, int] | None,
    approximate: bool = False,
    native_dtype: bool = False,
) -> npt.NDArray[np.floating[Any]]:
    """The booster's own TreeSHAP (no explainer object): margin space, bias last."""
    _check_columns(booster.feature_names, X)
    # A float32 block with the names: what the DMatrix makes of a pandas frame anyway (the
    # same values, tested), without pandas' per-column conversion. Small blocks are copied
    # on one thread: an OpenMP team on a busy machine spin-waits ~10 ms for a core, 40x
    # the exact SHAP pass of one loan (measured on the 2-core CI box); from
    # _THREADED_DMATRIX_ROWS on, the threads' head start pays (0.26 s vs 0.40 s at 1M).
    block = xgboost.DMatrix(
        X.to_numpy(dtype=np.float32, na_value=np.nan),
        feature_names=[str(c) for c in X.columns],
        nthread=1 if len(X) < _THREADED_DMATRIX_ROWS else None,
    )
    contributions = booster.predict(
        block,
        pred_contribs=True,
        approx_contribs=approximate,
        iteration_range=iteration_range if iteration_range is not None else (0, 0),
    )
    values = np.asarray(contributions) if native_dtype else np.asarray(contributions, np.float64)
    if values.ndim != 2 or values.shape[1] != X.shape[1] + 1:
        raise ModelError(
            "only binary boosters can be explained; contributions came with shape "
            f"{values.shape} for {X.shape[1]} features."
        )
    return values


#: One explainer per fitted forest (by identity): building one walks every tree, which
#: costs more than explaining a single loan, and a server explains loans one by one.
_FOREST_EXPLAINERS: weakref.WeakKeyDictionary[RandomForestClassifier, tuple[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


def _forest_explainer(forest: RandomForestClassifier) -> Any:
    """shap's TreeExplainer of ``forest``, built once while the forest lives."""
    trees = getattr(forest, "estimators_", None)
    cached = _FOREST_EXPLAINERS.get(forest)
    if cached is not None and cached[0] is trees:  # a refit makes a new list of trees
        return cached[1]
    import shap  # lazily: ~1 s to import, and only forests need it

    explainer = shap.TreeExplainer(forest)
    _FOREST_EXPLAINERS[forest] = (trees, explainer)
    return explainer


def _forest_contributions(
    forest: RandomForestClassifier,
    X: pd.DataFrame,
    check_additivity: bool,
    approximate: bool = False,
) -> FloatArray:
    """shap's TreeExplainer on the forest's positive-class probability, bias last."""
    _check_columns(getattr(forest, "feature_names_in_", None), X)
    classes = getattr(forest, "classes_", None)
    if classes is None or len(classes) != 2:
        raise ModelError("only fitted binary forests can be explained.")
    explainer = _forest_explainer(forest)
    raw = explainer.shap_values(
        X, check_additivity=check_additivity and not approximate, approximate=approximate
    )
    # shap returns (n, p, classes) today, a per-class list in older releases.
    values = np.asarray(raw[1] if isinstance(raw, list) else raw, dtype=np.float64)
    if values.ndim == 3:
        values = values[:, :, 1]
    bias = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    positive_bias = float(bias[1] if bias.size > 1 else bias[0])
    if values.shape != (len(X), X.shape[1]):
        raise ModelError(f"unexpected SHAP values of shape {values.shape} for {X.shape}.")
    return np.column_stack([values, np.full(len(X), positive_bias)])


@dataclass(frozen=True, eq=False)
class ReasonCodes:
    """Top-k reasons per loan, rank 1 first; blanks where fewer than k qualify.

    ``feature`` holds design-column names (``""`` when blank), ``contribution`` the signed
    SHAP values (NaN when blank), ``sentences`` the plain-words reasons (``""`` when blank);
    each is ``(n, k)``.
    """

    feature: ObjectArray
    contribution: FloatArray
    sentences: ObjectArray

    @property
    def top_k(self) -> int:
        """Reasons per loan."""
        return int(self.sentences.shape[1])

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """The sentences as columns ``reason_1 .. reason_k`` (schema.reason_column)."""
        return pd.DataFrame(
            {schema.reason_column(rank + 1): self.sentences[:, rank] for rank in range(self.top_k)},
            index=index,
        )


def _contribution_block(
    contributions: npt.ArrayLike,
    n_features: int,
    n_rows: int,
    *,
    keep_float32: bool = False,
) -> npt.NDArray[np.floating[Any]]:
    """Feature contributions without the bias column; checks the shape and values.

    float64, or float32 as given when ``keep_float32`` (a float32 value widens to float64
    exactly, so comparisons and the values picked from it are the same either way).
    """
    values = np.asarray(contributions)
    if not (keep_float32 and values.dtype == np.float32):
        values = np.asarray(values, dtype=np.float64)
    widths = (n_features, n_features + 1)
    if values.ndim != 2 or values.shape[0] != n_rows or values.shape[1] not in widths:
        raise ModelError(
            f"contributions must be (n, p) or (n, p + 1) for n={n_rows}, p={n_features}; "
            f"got shape {values.shape}."
        )
    block = values[:, :n_features]
    if not np.isfinite(block).all():
        raise ModelError("contributions must be finite; got NaN or inf.")
    return block


def _top_k_columns(
    signed: npt.NDArray[np.floating[Any]], k: int
) -> tuple[IntArray, npt.NDArray[np.floating[Any]]]:
    """Per row, the columns of the k largest values, largest first; ties to the lower column.

    ``np.partition`` finds each row's k-th largest value; everything at or above it is in.
    Where several columns tie at that value (rare with real contributions) only the lowest
    columns fill the remaining places. ``nonzero`` then yields exactly k columns per row in
    column order, which a stable sort over just k values puts in rank order. No Python
    loop over rows.
    """
    n, p = signed.shape
    if k >= p:
        columns = np.broadcast_to(np.arange(p, dtype=np.int64), (n, p))
    elif k <= _ARGMAX_MAX_K:
        return _top_k_by_argmax(signed, k)
    else:
        signed = np.asarray(signed, dtype=np.float64)
        kth = -np.partition(-signed, k - 1, axis=1)[:, k - 1 : k]
        chosen = signed >= kth
        tied = np.flatnonzero(chosen.sum(axis=1) > k)
        if tied.size:
            greater = signed[tied] > kth[tied]
            equal = signed[tied] == kth[tied]
            room = k - greater.sum(axis=1, keepdims=True)
            chosen[tied] = greater | (equal & (np.cumsum(equal, axis=1) <= room))
        columns = np.nonzero(chosen)[1].reshape(n, k).astype(np.int64)
    values = np.take_along_axis(signed, columns, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(values, order, axis=1)


#: Up to this many reasons, k passes of ``argmax`` beat ``np.partition`` of every row.
_ARGMAX_MAX_K = 8
_ARGMAX_BLOCK_ROWS = 16_384


def _top_k_by_argmax(
    signed: npt.NDArray[np.floating[Any]], k: int
) -> tuple[IntArray, npt.NDArray[np.floating[Any]]]:
    """:func:`_top_k_columns` for small k (< p): the same columns in the same order.

    ``argmax`` returns the first (lowest) column of a row's largest value; taking it out
    (-inf; contributions are finite) and repeating yields the k largest values, largest
    first, ties to the lower column: the order the partition path produces. Rows go in
    blocks so the scratch copy stays small.
    """
    n = signed.shape[0]
    columns = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, _ARGMAX_BLOCK_ROWS):
        stop = min(start + _ARGMAX_BLOCK_ROWS, n)
        work = np.array(signed[start:stop], order="C", copy=True)
        rows = np.arange(stop - start)
        for rank in range(k):
            best = np.argmax(work, axis=1)
            columns[start:stop, rank] = best
            work[rows, best] = -np.inf
    return columns, np.take_along_axis(signed, columns, axis=1)


def _value_kind(name: str) -> ValueKind:
    """How a design column's value reads: money, a count, a percentage, a flag, a ratio."""
    if name in _FLAG_FEATURES:
        return "flag"
    if name in _WHOLE_FEATURES:
        return _WHOLE_FEATURES[name]
    if name == schema.PAYMENT_HISTORY_CODE:
        return "history"
    column, separator, _ = name.partition("=")
    if separator and column in schema.SPECS_BY_NAME:
        return "flag"  # one-hot indicator
    spec = schema.SPECS_BY_NAME.get(name)
    if spec is not None:
        if spec.unit == "currency":
            return "money"
        if spec.unit == "percent":
            return "percent"
        if spec.kind == schema.ColumnKind.INTEGER:
            return "count"
    return "ratio"


def _format_unique(kind: ValueKind, values: FloatArray) -> list[str]:
    """Format a few distinct values (callers format each distinct value only once)."""
    if kind == "flag":
        return ["yes" if v >= 0.5 else "no" for v in values]
    if kind == "history":
        labels = PAYMENT_HISTORY_ORDER
        return [labels[int(v)] if 0 <= v < len(labels) else f"{v:g}" for v in values]
    if kind in {"money", "count"}:
        # Grouped as the default display groups (en_IN: 39,94,000): reasons are built
        # where no display settings are at hand, and the lender's users read lakhs.
        return [_REASON_NUMBERS.number(v) for v in values]
    if kind == "percent":
        return [f"{v:.2f}%" for v in values]
    return [f"{v:,.2f}" for v in values]


def _rounded(kind: ValueKind, values: FloatArray) -> FloatArray:
    """Values as they will print, so equal prints share one formatting call."""
    if kind in {"money", "count"}:
        return np.round(values)
    if kind in {"percent", "ratio"}:
        return np.round(values, 2)
    return values


def _value_heads(
    names: Sequence[str], feature_codes: IntArray, values: FloatArray
) -> tuple[list[str], IntArray]:
    """``"<description> is <value>"`` (flags: ``"<description> (yes)"``) per chosen reason,
    as distinct texts and each reason's position among them.

    Entries are grouped by feature with one stable radix sort of the (small) feature codes;
    within a group only the distinct (rounded) values are formatted in Python.
    """
    texts: list[str] = []
    heads = np.empty(feature_codes.size, dtype=np.int64)
    small = feature_codes.astype(np.int16) if len(names) < 2**15 else feature_codes
    order = np.argsort(small, kind="stable")
    counts = np.bincount(feature_codes, minlength=len(names))
    ends = np.cumsum(counts)
    for code in np.flatnonzero(counts):
        name = names[int(code)]
        positions = order[ends[code] - counts[code] : ends[code]]
        kind = _value_kind(name)
        distinct, inverse = np.unique(_rounded(kind, values[positions]), return_inverse=True)
        description = describe_feature(name)
        formatted = _format_unique(kind, distinct)
        heads[positions] = len(texts) + inverse.reshape(-1)
        if kind == "flag":
            texts.extend(f"{description} ({text})" for text in formatted)
        else:
            texts.extend(f"{description} is {text}" for text in formatted)
    return texts, heads


#: Up to this many rounding steps, distinct effect sizes are counted instead of sorted.
_COUNTED_STEPS = 1_000_000


def _effects(
    contributions: FloatArray, direction: Direction, unit: str
) -> tuple[list[str], IntArray]:
    """``": raises risk (+0.84 log-odds)"`` per chosen reason, one format per distinct value,
    as distinct texts and each reason's position among them.

    The verb comes from the direction asked for (every kept reason points that way), so a
    contribution that rounds to 0.00 still reads the right way.
    """
    decimals = 3 if unit == "probability" else 2
    verb = "raises" if direction == "up" else "lowers"
    sign = "+" if direction == "up" else "-"
    # np.round scales, rounds to an integer and divides back (as numpy documents), so the
    # integers name the distinct rounded values; counting them avoids sorting every reason.
    scale = 10.0**decimals
    steps = np.rint(np.abs(contributions) * scale)
    if steps.size and steps.max() < _COUNTED_STEPS:
        counts = np.bincount(steps.astype(np.int64))
        present = np.flatnonzero(counts)
        lookup = np.zeros(len(counts), dtype=np.int64)
        lookup[present] = np.arange(len(present))
        distinct, inverse = present / scale, lookup[steps.astype(np.int64)]
    else:
        distinct, inverse = np.unique(steps / scale, return_inverse=True)
    words = [f": {verb} risk ({sign}{v:.{decimals}f} {unit})" for v in distinct]
    return words, inverse.reshape(-1).astype(np.int64)


def _texts(strings: list[str], codes: IntArray) -> ObjectArray:
    """``strings[codes]`` as an object array (one shared str per distinct value)."""
    table = np.empty(len(strings), dtype=object)
    table[:] = strings
    return np.asarray(table[codes], dtype=object)


def reason_codes(
    contributions: npt.ArrayLike,
    X: pd.DataFrame,
    *,
    top_k: int = 3,
    direction: Direction = "up",
    unit: str = "log-odds",
) -> ReasonCodes:
    """The ``top_k`` features that pushed each loan's risk up (or down), in plain words.

    ``contributions`` is ``(n, p + 1)`` from :func:`tree_contributions` (bias last) or
    ``(n, p)``; ``X`` holds the loans' design values, whose columns name the features.
    ``direction="up"`` ranks the largest positive contributions, ``"down"`` the most
    negative; a loan with fewer than ``top_k`` contributions in that direction gets
    blanks. Equal contributions rank by column order, so reasons are reproducible.
    ``unit`` names the contribution scale in sentences: ``"log-odds"`` for XGBoost,
    ``"probability"`` for a Random Forest (three decimals).
    """
    if direction not in ("up", "down"):
        raise ModelError(f"direction must be 'up' or 'down'; got {direction!r}.")
    if top_k < 1:
        raise ModelError(f"top_k must be >= 1; got {top_k}.")
    n, p = X.shape
    block = _contribution_block(contributions, p, n, keep_float32=True)
    signed = block if direction == "up" else -block
    k = min(int(top_k), p)
    columns, ranked = _top_k_columns(signed, k) if p else (np.zeros((n, 0), np.int64), block)
    keep = ranked > 0

    names = [str(column) for column in X.columns]
    name_table = np.empty(p + 1, dtype=object)
    name_table[:] = [*names, ""]
    feature = np.full((n, top_k), "", dtype=object)
    contribution = np.full((n, top_k), np.nan, dtype=np.float64)
    sentences = np.full((n, top_k), "", dtype=object)
    rows, ranks = np.nonzero(keep)
    codes = columns[rows, ranks]
    feature[:, :k] = name_table[np.where(keep, columns, p)]
    kept = np.asarray(block[rows, codes], dtype=np.float64)
    contribution[rows, ranks] = kept
    if rows.size:
        values = np.asarray(X.to_numpy()[rows, codes], dtype=np.float64)
        sentences[rows, ranks] = np.add(
            _texts(*_value_heads(names, codes, values)), _texts(*_effects(kept, direction, unit))
        )
    return ReasonCodes(feature=feature, contribution=contribution, sentences=sentences)


def global_importance(contributions: npt.ArrayLike, feature_names: Sequence[str]) -> pd.Series:
    """Mean |SHAP| per feature over the rows given (bias excluded), largest first.

    The average size of a feature's push on the score, whichever way: the model-wide
    counterpart of reason codes. Ties keep the order of ``feature_names``.
    """
    names = [str(name) for name in feature_names]
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ModelError(f"global_importance needs a non-empty (n, p) matrix; got {values.shape}.")
    block = _contribution_block(values, len(names), values.shape[0])
    mean_abs = np.abs(block).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    return pd.Series(mean_abs[order], index=pd.Index([names[i] for i in order]), dtype=float)
