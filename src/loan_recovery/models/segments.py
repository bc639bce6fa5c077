"""Borrower segments: a handful of named groups a collections team can plan and staff for.

Why k-means on a few borrower and loan columns: collections managers think in segments
("salaried, current, well secured" vs "deep arrears, unsecured, large balance") and each
segment gets its own playbook. The segments describe *who the borrower is and where the
loan stands*, so they are built from the validated table and engineered features, never
from the risk model's output; the risk score is used only to order and tier them.

How a fit runs:

1. the segment matrix: each column in ``features`` (table columns or engineered features);
   money columns, money-over-money ratios and arrears counts (:data:`LOG_SCALE_FEATURES`)
   go through ``log1p`` first. Money is lognormal: incomes and balances span three orders
   of magnitude, so on a linear scale a handful of very large loans would own the variance
   and k-means would spend clusters on them, while a gap of 10k matters at an income of
   20k and not at 1M. On a log scale distances are ratios, which is how lenders compare
   amounts. Collateral coverage is treated the same way: half the book is unsecured (0)
   and a few nearly repaid loans reach the cap of 100x, which would otherwise set the
   scale. Days past due and missed instalments too: collections bands (0, 1-30, 31-60,
   61-90, 91-180, 180+) are roughly geometric, 0 vs 30 DPD matters more than 400 vs 430,
   and on a linear scale the few loans past a year split off as a segment of their own
   while current and early-arrears loans blur together;
2. standardisation (z-scores), so every feature weighs the same in the distance;
3. k-means (``N_INIT`` restarts, ``random_state``) for each k in ``min..max`` (or only
   ``n_segments``), scored by the silhouette on one seeded sample of
   ``silhouette_sample`` rows (the silhouette is quadratic in rows); the best k wins,
   ties to the smaller k;
4. relabelling: segment 0 has the lowest mean risk, then ascending, so ids mean the same
   thing across retrains;
5. names from each centre's most distinctive features (largest |z|), guaranteed unique.

Prediction is a vectorised nearest-centre search in numpy; a fitted segmenter is stored
as plain JSON (:meth:`Segmenter.save`), not pickle.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from loan_recovery import features as feature_module
from loan_recovery.config import SegmentSettings
from loan_recovery.data import schema
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    SchemaError,
    TrainingDataError,
)
from loan_recovery.models.design import describe_feature
from loan_recovery.money import MoneyFormat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Transform = Literal["identity", "log1p"]
_TRANSFORMS: Final[Mapping[str, Transform]] = {"identity": "identity", "log1p": "log1p"}

#: File a fitted segmenter is saved to, inside a model version folder.
SEGMENTER_FILE: Final = "segmenter.json"
#: Identifies the JSON layout; bump the version when it changes incompatibly.
FILE_FORMAT: Final = "loan_recovery.segmenter"
FILE_VERSION: Final = 1

#: K-means restarts per k: fixed so a retrain on the same data and seed is identical.
N_INIT: Final = 4
#: Default feature tuple, taken from the settings so there is one source of truth.
DEFAULT_FEATURES: Final[tuple[str, ...]] = SegmentSettings.model_fields["features"].default

#: Columns on a multiplicative scale (money, money per money): log1p before scaling.
LOG_SCALE_FEATURES: Final[frozenset[str]] = frozenset(
    (
        *schema.AMOUNT_COLUMNS,
        schema.INCOME_PER_DEPENDENT,
        schema.COLLATERAL_TO_OUTSTANDING,
        schema.COLLATERAL_TO_LOAN,
        schema.DAYS_PAST_DUE,
        schema.NUM_MISSED_PAYMENTS,
        schema.DEFAULT_SEVERITY,
    )
)

#: (low, high) wording of a centre far below / above the population, per feature.
#: Features not listed fall back to "low/high <plain description>".
_PHRASES: Final[Mapping[str, tuple[str, str]]] = {
    schema.MONTHLY_INCOME: ("low income", "high income"),
    schema.INCOME_PER_DEPENDENT: ("low income per head", "high income per head"),
    schema.EMI_TO_INCOME_RATIO: ("low EMI burden", "high EMI burden"),
    schema.COLLATERAL_TO_OUTSTANDING: ("unsecured", "well secured"),
    schema.COLLATERAL_TO_LOAN: ("unsecured", "well secured"),
    schema.COLLATERAL_VALUE: ("little collateral", "large collateral"),
    schema.IS_SECURED: ("unsecured", "secured"),
    schema.OUTSTANDING_LOAN_AMOUNT: ("low outstanding", "high outstanding"),
    schema.LOAN_AMOUNT: ("small loans", "large loans"),
    schema.OUTSTANDING_RATIO: ("mostly repaid", "little repaid"),
    schema.MONTHLY_EMI: ("small EMI", "large EMI"),
    schema.DAYS_PAST_DUE: ("current", "deep arrears"),  # worded by level: _arrears_phrase
    schema.NUM_MISSED_PAYMENTS: ("few missed payments", "many missed payments"),
    schema.DEFAULT_SEVERITY: ("mild delinquency", "severe delinquency"),
    schema.COLLECTION_ATTEMPTS: ("few contacts so far", "many contacts so far"),
    schema.AGE: ("younger", "older"),
    schema.NUM_DEPENDENTS: ("few dependents", "many dependents"),
    schema.LOAN_TENURE: ("short tenure", "long tenure"),
    schema.INTEREST_RATE: ("low rate", "high rate"),
}
#: A name always carries two features; a third only when its centre is this far out (sd).
_THIRD_TERM_MIN_Z: Final = 0.75


def _transform_of(feature: str) -> Transform:
    return "log1p" if feature in LOG_SCALE_FEATURES else "identity"


def _apply_transforms(matrix: FloatArray, transforms: Sequence[Transform]) -> FloatArray:
    """log1p the multiplicative columns (clipped at 0: amounts are never negative)."""
    out = matrix.copy()
    for j, transform in enumerate(transforms):
        if transform == "log1p":
            out[:, j] = np.log1p(np.clip(out[:, j], 0.0, None))
    return out


def _raw_matrix(table: pd.DataFrame, features: Sequence[str]) -> FloatArray:
    """The untransformed segment columns as float64, from the table or engineered features.

    A column of the table wins over an engineered feature of the same name. Raises
    :class:`SchemaError` for a name that is neither, and :class:`ModelError` for a
    non-numeric column (k-means needs numbers).
    """
    engineered_needed = [
        name
        for name in features
        if name not in table.columns and name in feature_module.FEATURE_COLUMNS
    ]
    missing = tuple(
        name
        for name in features
        if name not in table.columns and name not in feature_module.FEATURE_COLUMNS
    )
    if missing:
        raise SchemaError(
            f"the segmenter needs columns {list(missing)}; they are neither in the table nor "
            "engineered features. Validate the file first.",
            missing_columns=missing,
        )
    engineered = (
        feature_module.build_features(table)[engineered_needed] if engineered_needed else table
    )
    columns: list[FloatArray] = []
    for name in features:
        series = table[name] if name in table.columns else engineered[name]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise ModelError(f"segment feature {name!r} must be numeric; got dtype {series.dtype}.")
        columns.append(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if not columns:
        return np.empty((len(table), 0), dtype=np.float64)
    return np.column_stack(columns)


def _nearest(scaled: FloatArray, centers: FloatArray) -> IntArray:
    """Index of the nearest centre per row (squared Euclidean; ties to the lower index).

    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` and ``|x|^2`` is the same for every centre, so
    one matrix product ranks all centres for all rows at once.
    """
    scores = scaled @ (-2.0 * centers.T) + np.einsum("ij,ij->i", centers, centers)
    return np.asarray(np.argmin(scores, axis=1), dtype=np.int64)


def _arrears_phrase(days: float) -> str:
    """DPD has industry bands, so it is worded by the segment's median, not by its z-score."""
    if days < 1:
        return "current"
    if days <= 30:
        return "early arrears"
    if days <= 90:
        return "in arrears"
    return "deep arrears"


def _phrase(feature: str, z: float, typical: float) -> str:
    if feature == schema.DAYS_PAST_DUE:
        return _arrears_phrase(typical)
    if feature in _PHRASES:
        low, high = _PHRASES[feature]
    else:
        words = describe_feature(feature).lower()
        low, high = f"low {words}", f"high {words}"
    return high if z > 0 else low


def _ranked_phrases(center: FloatArray, typical: FloatArray, features: Sequence[str]) -> list[str]:
    """Every feature's wording for one centre, most distinctive (largest |z|) first.

    Ties in |z| go to the feature listed first, so names never depend on sort luck;
    repeated wordings (two collateral ratios both "unsecured") are kept once.
    """
    order = np.argsort(-np.abs(center), kind="stable")
    phrases: list[str] = []
    for j in order:
        phrase = _phrase(features[int(j)], float(center[int(j)]), float(typical[int(j)]))
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases


def _join_name(phrases: Sequence[str]) -> str:
    text = ", ".join(phrases)
    return text[:1].upper() + text[1:]


def segment_names(
    centers: FloatArray, typical: FloatArray, features: Sequence[str]
) -> tuple[str, ...]:
    """Unique names of standardised ``centers`` (rows in segment-id order).

    ``typical`` holds each segment's median feature values in their own units (for wording
    by level, such as DPD bands).

    Each name lists the centre's two most distinctive features, plus a third when it is
    at least ``_THIRD_TERM_MIN_Z`` sd from the population mean. When names collide, every
    colliding name takes its next most distinctive term until they differ; if one runs out
    of terms, the colliding names get their risk tier (segment id + 1; ids are ordered by
    risk), which is unique by construction.
    """
    ranked = [
        _ranked_phrases(center, values, features)
        for center, values in zip(centers, typical, strict=True)
    ]
    lengths: list[int] = []
    for center, phrases in zip(centers, ranked, strict=True):
        third = np.sort(np.abs(center))[::-1][2] if center.size >= 3 else 0.0
        lengths.append(min(len(phrases), 3 if third >= _THIRD_TERM_MIN_Z else 2))
    names = [_join_name(phrases[:length]) for phrases, length in zip(ranked, lengths, strict=True)]
    tiered: set[int] = set()
    while True:
        groups: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            groups.setdefault(name, []).append(index)
        clashes = [members for members in groups.values() if len(members) > 1]
        if not clashes:
            return tuple(names)
        for members in clashes:
            if all(lengths[i] < len(ranked[i]) for i in members):
                for i in members:
                    lengths[i] += 1
                    names[i] = _join_name(ranked[i][: lengths[i]])
            else:
                for i in members:
                    if i not in tiered:
                        tiered.add(i)
                        names[i] = f"{names[i]} (risk tier {i + 1})"


#: How values read in segment descriptions.
_NUMBERS = MoneyFormat()


def _format_value(feature: str, value: float) -> str:
    """Money and counts as whole numbers, the rest to 2 dp, grouped as the display groups
    digits (en_IN: 12,34,567)."""
    spec = schema.SPECS_BY_NAME.get(feature)
    whole = feature in schema.AMOUNT_COLUMNS or feature == schema.INCOME_PER_DEPENDENT
    if whole or (spec is not None and spec.kind == schema.ColumnKind.INTEGER):
        return _NUMBERS.number(value)
    return _NUMBERS.number(value, decimals=2)


def _describe(
    segment: int,
    name: str,
    center: FloatArray,
    typical: FloatArray,
    features: Sequence[str],
    loans: int,
    share: float,
    mean_risk: float,
) -> str:
    """One line: who is in the segment, how many, how risky, and its distinctive values."""
    order = np.argsort(-np.abs(center), kind="stable")[:3]
    traits = "; ".join(
        f"{describe_feature(features[j])} {_format_value(features[j], typical[j])}"
        f" ({center[j]:+.1f} sd)"
        for j in (int(index) for index in order)
    )
    return (
        f"Segment {segment} '{name}': {loans:,} loans ({share:.0%}), mean risk "
        f"{mean_risk:.2f}; median {traits}."
    )


def _segment_medians(raw: FloatArray, labels: IntArray, k: int) -> FloatArray:
    """Median of each feature per segment, in the features' own units (NaN when empty).

    The median member, not the back-transformed centre, is what "typical" means in names
    and descriptions: a centre's geometric mean of DPD can read 1 day when most members
    are current.
    """
    medians = pd.DataFrame(raw).groupby(labels).median().reindex(range(k))
    return np.asarray(medians.to_numpy(dtype=np.float64), dtype=np.float64)


class Segmenter(BaseEstimator):  # type: ignore[misc]
    """K-means borrower segments, ordered by mean risk and named from their profile.

    Parameters are stored unchanged (scikit-learn contract) and checked in :meth:`fit`.

    Learned attributes: ``scaler_mean_``/``scaler_scale_`` (per feature, after log1p where
    applicable), ``transforms_`` (per feature), ``centers_`` (standardised, segment-id
    order), ``n_segments_``, ``silhouette_`` (k -> score on the seeded sample, per k
    tried), ``segment_risk_`` (mean risk per segment, ascending), ``medians_`` (median
    feature values per segment, own units), ``names_``, ``descriptions_`` (one line each)
    and ``labels_`` (training rows' segments; not saved).
    """

    def __init__(
        self,
        features: tuple[str, ...] = DEFAULT_FEATURES,
        n_segments: int | None = None,
        min_segments: int = 2,
        max_segments: int = 8,
        silhouette_sample: int = 5_000,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.n_segments = n_segments
        self.min_segments = min_segments
        self.max_segments = max_segments
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state

    @classmethod
    def from_settings(cls, settings: SegmentSettings, random_state: int = 0) -> Segmenter:
        """An unfitted segmenter configured by the ``segments`` section of the settings."""
        return cls(
            features=tuple(settings.features),
            n_segments=settings.n_segments,
            min_segments=settings.min_segments,
            max_segments=settings.max_segments,
            silhouette_sample=settings.silhouette_sample,
            random_state=random_state,
        )

    # --- fitting -----------------------------------------------------------------------
    def _candidate_ks(self, n_rows: int) -> list[int]:
        if not self.features:
            raise ModelError("the segmenter needs at least one feature; got none.")
        if len(set(self.features)) != len(self.features):
            raise ModelError(f"segment features must be distinct; got {list(self.features)}.")
        if self.n_segments is not None:
            if self.n_segments < 2:
                raise ModelError(f"n_segments must be >= 2 or None; got {self.n_segments}.")
            ks = [int(self.n_segments)]
        else:
            if not 2 <= self.min_segments <= self.max_segments:
                raise ModelError(
                    "need 2 <= min_segments <= max_segments; got "
                    f"{self.min_segments} and {self.max_segments}."
                )
            ks = list(range(int(self.min_segments), int(self.max_segments) + 1))
        if n_rows <= ks[0]:
            raise TrainingDataError(
                f"segmenting into {ks[0]} segments needs more than {ks[0]} loans; got {n_rows}."
            )
        return [k for k in ks if k < n_rows]

    def _sample_rows(self, n_rows: int) -> IntArray:
        """One seeded sample for every k, so silhouettes compare like with like."""
        if self.silhouette_sample < 3:
            raise ModelError(f"silhouette_sample must be >= 3; got {self.silhouette_sample}.")
        if n_rows <= self.silhouette_sample:
            return np.arange(n_rows, dtype=np.int64)
        rng = np.random.default_rng(self.random_state)
        chosen = rng.choice(n_rows, size=int(self.silhouette_sample), replace=False)
        return np.sort(chosen).astype(np.int64)

    def _cluster(self, scaled: FloatArray, k: int) -> FloatArray | None:
        """Centres of a k-means fit, or None when the data hold fewer than k distinct points."""
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                model.fit(scaled)
            except ConvergenceWarning:
                return None
        centers: FloatArray = np.asarray(model.cluster_centers_, dtype=np.float64)
        return centers

    def fit(self, table: pd.DataFrame, risk: npt.ArrayLike) -> Self:
        """Learn segments of a validated ``table``; ``risk`` (one score per row) orders them.

        Raises :class:`TrainingDataError` when the rows cannot support the segments asked
        for (too few rows or distinct borrowers, missing values, a risk of the wrong
        length) and :class:`ModelError` for invalid parameters.
        """
        risk_values = np.asarray(risk, dtype=np.float64).reshape(-1)
        if risk_values.shape[0] != len(table):
            raise TrainingDataError(
                f"risk needs one score per loan: {len(table)}; got {risk_values.shape[0]}."
            )
        if not np.isfinite(risk_values).all():
            raise TrainingDataError("risk scores must be finite; got NaN or inf.")
        ks = self._candidate_ks(len(table))
        features = tuple(self.features)
        transforms: tuple[Transform, ...] = tuple(_transform_of(name) for name in features)
        raw = _raw_matrix(table, features)
        matrix = _apply_transforms(raw, transforms)
        blank = ~np.isfinite(matrix)
        if blank.any():
            counts = blank.sum(axis=0)
            named = {features[j]: int(counts[j]) for j in np.flatnonzero(counts)}
            raise TrainingDataError(
                f"segment features have missing values (rows per column): {named}."
            )
        scaler = StandardScaler().fit(matrix)
        mean = np.asarray(scaler.mean_, dtype=np.float64)
        scale = np.asarray(scaler.scale_, dtype=np.float64)
        scaled = (matrix - mean) / scale

        sample = self._sample_rows(len(table))
        fits: dict[int, FloatArray] = {}
        silhouettes: dict[int, float] = {}
        for k in ks:
            centers = self._cluster(scaled, k)
            if centers is None:
                continue
            fits[k] = centers
            sample_labels = _nearest(scaled[sample], centers)
            if 2 <= np.unique(sample_labels).size < sample.size:
                silhouettes[k] = float(silhouette_score(scaled[sample], sample_labels))
        if not fits:
            raise TrainingDataError(
                f"the loans hold too few distinct borrower profiles for {ks[0]} segments."
            )
        chosen = max(silhouettes, key=lambda k: (silhouettes[k], -k)) if silhouettes else min(fits)
        raw_centers = fits[chosen]

        labels = _nearest(scaled, raw_centers)
        counts = np.bincount(labels, minlength=chosen)
        sums = np.bincount(labels, weights=risk_values, minlength=chosen)
        cluster_risk = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        order = np.argsort(cluster_risk, kind="stable")
        relabel = np.empty(chosen, dtype=np.int64)
        relabel[order] = np.arange(chosen, dtype=np.int64)

        self.transforms_ = transforms
        self.scaler_mean_ = mean
        self.scaler_scale_ = scale
        self.centers_ = raw_centers[order]
        self.n_segments_ = int(chosen)
        self.silhouette_ = silhouettes
        self.segment_risk_ = np.asarray(cluster_risk[order], dtype=np.float64)
        self.labels_ = relabel[labels]
        self.medians_ = _segment_medians(raw, self.labels_, chosen)
        self.names_ = segment_names(self.centers_, self.medians_, features)
        sizes = counts[order]
        self.descriptions_ = tuple(
            _describe(
                segment,
                self.names_[segment],
                self.centers_[segment],
                self.medians_[segment],
                features,
                int(sizes[segment]),
                float(sizes[segment]) / len(table),
                float(self.segment_risk_[segment]),
            )
            for segment in range(chosen)
        )
        return self

    # --- prediction --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "centers_"):
            raise ModelError("this Segmenter is not fitted yet; call fit() or load() first.")

    def predict(self, table: pd.DataFrame) -> IntArray:
        """Segment id of each loan of a validated table: its nearest centre (numpy only)."""
        self._check_fitted()
        matrix = _apply_transforms(_raw_matrix(table, self.features), self.transforms_)
        if not np.isfinite(matrix).all():
            raise ModelError(
                "segment features have missing values; validate the file before segmenting."
            )
        scaled = (matrix - self.scaler_mean_) / self.scaler_scale_
        return _nearest(scaled, self.centers_)

    def describe(self) -> tuple[str, ...]:
        """One line per segment, in id order (who, how many, how risky)."""
        self._check_fitted()
        return self.descriptions_

    # --- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything predict needs, as plain JSON types (lists of floats and strings)."""
        self._check_fitted()
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "params": {
                "features": list(self.features),
                "n_segments": self.n_segments,
                "min_segments": self.min_segments,
                "max_segments": self.max_segments,
                "silhouette_sample": self.silhouette_sample,
                "random_state": self.random_state,
            },
            "transforms": list(self.transforms_),
            "scaler_mean": [float(v) for v in self.scaler_mean_],
            "scaler_scale": [float(v) for v in self.scaler_scale_],
            "centers": [[float(v) for v in row] for row in self.centers_],
            "n_segments": self.n_segments_,
            "silhouette": {str(k): float(v) for k, v in self.silhouette_.items()},
            "segment_risk": [float(v) for v in self.segment_risk_],
            "medians": [[_json_float(v) for v in row] for row in self.medians_],
            "names": list(self.names_),
            "descriptions": list(self.descriptions_),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        The file rules: its features and parameters are used even when today's settings
        differ. Anything malformed raises :class:`IncompatibleModelError`.
        """
        try:
            return cls._from_dict(data)
        except IncompatibleModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise IncompatibleModelError(
                f"not a usable segmenter file: {type(error).__name__}: {error}"
            ) from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> Segmenter:
        if not isinstance(data, Mapping) or data.get("format") != FILE_FORMAT:
            raise IncompatibleModelError(f"not a segmenter file: format must be {FILE_FORMAT!r}.")
        if data.get("version") != FILE_VERSION:
            raise IncompatibleModelError(
                f"segmenter file version {data.get('version')!r}; this code reads {FILE_VERSION}."
            )
        params = data["params"]
        features = tuple(str(name) for name in params["features"])
        n_segments = params["n_segments"]
        segmenter = cls(
            features=features,
            n_segments=None if n_segments is None else int(n_segments),
            min_segments=int(params["min_segments"]),
            max_segments=int(params["max_segments"]),
            silhouette_sample=int(params["silhouette_sample"]),
            random_state=int(params["random_state"]),
        )
        p = len(features)
        k = int(data["n_segments"])
        transforms = tuple(_TRANSFORMS[str(transform)] for transform in data["transforms"])
        mean = _finite_array(data["scaler_mean"], (p,), "scaler_mean")
        scale = _finite_array(data["scaler_scale"], (p,), "scaler_scale")
        centers = _finite_array(data["centers"], (k, p), "centers")
        risk = np.asarray(data["segment_risk"], dtype=np.float64)
        medians = np.asarray(
            [[np.nan if v is None else float(v) for v in row] for row in data["medians"]],
            dtype=np.float64,
        )
        names = tuple(str(name) for name in data["names"])
        descriptions = tuple(str(line) for line in data["descriptions"])
        problems = [
            f"{p} transforms expected, got {len(transforms)}" if len(transforms) != p else "",
            "scaler_scale must be > 0" if not (scale > 0).all() else "",
            f"{k} segment risks expected" if risk.shape != (k,) else "",
            f"medians of shape ({k}, {p}) expected" if medians.shape != (k, p) else "",
            f"{k} unique names expected" if len(set(names)) != k or len(names) != k else "",
            f"{k} descriptions expected" if len(descriptions) != k else "",
            "need >= 1 feature and >= 2 segments" if p < 1 or k < 2 else "",
        ]
        problems = [problem for problem in problems if problem]
        if problems:
            raise IncompatibleModelError(f"malformed segmenter file: {'; '.join(problems)}.")
        segmenter.transforms_ = transforms
        segmenter.scaler_mean_ = mean
        segmenter.scaler_scale_ = scale
        segmenter.centers_ = centers
        segmenter.n_segments_ = k
        segmenter.silhouette_ = {int(key): float(v) for key, v in data["silhouette"].items()}
        segmenter.segment_risk_ = risk
        segmenter.medians_ = medians
        segmenter.names_ = names
        segmenter.descriptions_ = descriptions
        return segmenter

    def save(self, directory: Path | str) -> list[Path]:
        """Write ``segmenter.json`` into ``directory`` (created if needed); return its path."""
        path = Path(directory) / SEGMENTER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
        return [path]

    @classmethod
    def load(cls, directory: Path | str) -> Segmenter:
        """Read a segmenter saved by :meth:`save` (the file's features rule)."""
        path = Path(directory) / SEGMENTER_FILE
        if not path.is_file():
            raise ModelNotFoundError(f"no segmenter at {path}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise IncompatibleModelError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(data)


def _json_float(value: float) -> float | None:
    """JSON has no NaN: an empty segment's median is stored as null."""
    return float(value) if np.isfinite(value) else None


def _finite_array(values: Any, shape: tuple[int, ...], name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape or not np.isfinite(array).all():
        raise IncompatibleModelError(
            f"malformed segmenter file: {name} must be finite numbers of shape {shape}; "
            f"got shape {array.shape}."
        )
    return array


def segment_profile(
    table: pd.DataFrame,
    risk: npt.ArrayLike,
    segment_ids: npt.ArrayLike,
    names: Sequence[str],
) -> pd.DataFrame:
    """Per segment: name, loans, exposure, mean risk, mean DPD, recovery rate, DPD mix.

    Indexed by segment id (``0 .. len(names) - 1``, every segment listed, empty ones with
    0 loans and NaN means), so loans add up to the table's rows and exposure to its total
    outstanding. The recovery rate (recovered / exposure) appears only when the table has
    ``Amount_Recovered``; DPD bucket shares are shares of the segment's loans.
    """
    ids = np.asarray(segment_ids).reshape(-1)
    scores = np.asarray(risk, dtype=np.float64).reshape(-1)
    k = len(names)
    if ids.shape[0] != len(table) or scores.shape[0] != len(table):
        raise ModelError(
            f"segment_profile needs one segment id and one risk per loan ({len(table)}); "
            f"got {ids.shape[0]} ids and {scores.shape[0]} risks."
        )
    if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= k):
        raise ModelError(f"segment ids must be integers in 0..{k - 1}; got {ids.dtype} values.")
    ids = ids.astype(np.int64)
    loans = np.bincount(ids, minlength=k).astype(np.int64)
    present = loans > 0

    def total(values: npt.ArrayLike) -> FloatArray:
        weights = np.asarray(values, dtype=np.float64)
        return np.asarray(np.bincount(ids, weights=weights, minlength=k), dtype=np.float64)

    def mean(values: npt.ArrayLike) -> FloatArray:
        return np.where(present, total(values) / np.maximum(loans, 1), np.nan)

    exposure = total(table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64))
    profile: dict[str, Any] = {
        schema.SEGMENT_NAME: list(names),
        schema.LOANS: loans,
        schema.EXPOSURE: exposure,
        schema.MEAN_RISK: mean(scores),
        schema.MEAN_DAYS_PAST_DUE: mean(table[schema.DAYS_PAST_DUE].to_numpy(dtype=np.float64)),
    }
    if schema.AMOUNT_RECOVERED in table.columns:
        recovered = total(table[schema.AMOUNT_RECOVERED].to_numpy(dtype=np.float64, na_value=0.0))
        profile[schema.RECOVERY_RATE] = np.where(
            exposure > 0, recovered / np.where(exposure > 0, exposure, 1.0), np.nan
        )
    bucket_codes = np.asarray(feature_module.dpd_bucket(table).cat.codes, dtype=np.int64)
    for code, bucket in enumerate(schema.DPD_BUCKETS):
        profile[schema.dpd_bucket_share_column(bucket)] = mean(bucket_codes == code)
    frame = pd.DataFrame(profile, index=pd.RangeIndex(k, name=schema.SEGMENT_ID))
    return frame
