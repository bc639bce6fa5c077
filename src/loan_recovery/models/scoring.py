"""Scoring: a validated loan table in, one row of risk, band, segment and reasons per loan out.

The one function every interface calls to score (CLI ``score``, the plan, the API, the
dashboard), so they cannot disagree on a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery import features
from loan_recovery.config import RiskSettings
from loan_recovery.data import schema
from loan_recovery.labels import label_array
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.explain import reason_codes, tree_contributions
from loan_recovery.models.risk import CalibratedRiskModel


def risk_bands(scores: npt.ArrayLike, settings: RiskSettings) -> pd.Categorical[str]:
    """Band each calibrated score by ``settings.band_edges`` (an edge starts the next band)."""
    codes = np.searchsorted(np.asarray(settings.band_edges), np.asarray(scores), side="right")
    return pd.Categorical.from_codes(
        codes.astype(np.int64), categories=pd.Index(settings.band_names), ordered=True
    )


def model_contributions(
    risk_model: CalibratedRiskModel,
    design: pd.DataFrame,
    *,
    approximate: bool = False,
    native_dtype: bool = False,
) -> npt.NDArray[np.floating[Any]]:
    """Exact contributions of the uncalibrated risk model (last column: bias): tree SHAP,
    or a scorecard's own additive terms.

    Contributions explain the base model's margin; calibration is monotone, so the
    ranking of reasons is the same for the calibrated score. float64 unless
    ``native_dtype`` (see :func:`~loan_recovery.models.explain.tree_contributions`).
    """
    base = risk_model.base_
    if hasattr(base, "booster_"):
        return tree_contributions(
            base.booster_,
            design,
            iteration_range=(0, int(base.best_iteration_) + 1),
            approximate=approximate,
            native_dtype=native_dtype,
        )
    if hasattr(base, "scorecard_"):
        # A scorecard is additive in log-odds: each feature's term is its contribution.
        contributions = base.scorecard_.contributions(base.values_of(design))
        return contributions.astype(np.float32) if native_dtype else contributions
    return tree_contributions(base.estimator_, design, approximate=approximate)


def _segment_input(
    table: pd.DataFrame, engineered: pd.DataFrame, names: tuple[str, ...]
) -> pd.DataFrame:
    """The segmenter's columns, a table column winning over an engineered one (as it reads
    them itself), so it need not build the engineered features again; the table if any
    name is neither, so the segmenter reports it."""
    columns: dict[str, pd.Series] = {}
    for name in names:
        if name in table.columns:
            columns[name] = table[name]
        elif name in engineered.columns:
            columns[name] = engineered[name]
        else:
            return table
    return pd.DataFrame(columns, index=table.index, copy=False)


def score_loans(
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: RiskSettings,
    *,
    top_k: int = 3,
    approximate_reasons: bool = False,
    design: pd.DataFrame | None = None,
    engineered: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Loan_ID, risk score and band, asset class, segment and top reasons, plus features.

    ``engineered`` (``features.build_features(table)``) and ``design``
    (``risk_design_matrix(table, settings, engineered=engineered)``) may be passed by a
    caller that needs them too, such as the plan, so they are built once; they are trusted
    to belong to ``table``.
    """
    if engineered is None:
        engineered = features.build_features(table)
    if design is None:
        design = risk_design_matrix(table, settings, engineered=engineered)
    scores = bundle.risk_model.risk_score(design)
    segment_ids = bundle.segmenter.predict(
        _segment_input(table, engineered, tuple(bundle.segmenter.features))
    )
    scored = pd.DataFrame(
        {
            schema.LOAN_ID: table[schema.LOAN_ID].array,
            schema.RISK_SCORE: scores,
            schema.RISK_BAND: risk_bands(scores, settings),
            schema.SCORED_ASSET_CLASS: engineered[schema.ASSET_CLASS].to_numpy(),
            schema.SEGMENT_ID: segment_ids,
            schema.SEGMENT_NAME: label_array(bundle.segmenter.names_, segment_ids),
        },
        index=table.index,
    )
    if top_k > 0:  # top_k=0: no reasons, skipping the costly contributions
        reasons = loan_reasons(
            design, bundle, top_k=top_k, approximate=approximate_reasons, index=table.index
        )
        scored = pd.concat([scored, reasons], axis=1)
    return pd.concat([scored, engineered.drop(columns=[schema.ASSET_CLASS])], axis=1)


def loan_reasons(
    design: pd.DataFrame,
    bundle: ModelBundle,
    *,
    top_k: int,
    approximate: bool = False,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Columns ``reason_1 .. reason_k`` for the loans of a risk design matrix.

    The one place reasons are made: :func:`score_loans` calls it for every loan it
    scores, the plan for the loans it works (``explain.scope``).
    """
    unit = bundle.risk_model.base_.contribution_unit
    contributions = model_contributions(
        bundle.risk_model, design, approximate=approximate, native_dtype=True
    )
    reasons = reason_codes(contributions, design, top_k=top_k, unit=unit)
    return reasons.to_frame(index=design.index if index is None else index)
