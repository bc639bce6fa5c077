"""Scoring: a validated loan table in, one row of risk, band, segment and reasons per loan out.

The one function every interface calls to score (CLI ``score``, the plan, the API, the
dashboard), so they cannot disagree on a number.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery import features
from loan_recovery.config import RiskSettings
from loan_recovery.data import schema
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
    risk_model: CalibratedRiskModel, design: pd.DataFrame, *, approximate: bool = False
) -> npt.NDArray[np.float64]:
    """Exact tree SHAP contributions of the uncalibrated risk model (last column: bias).

    Contributions explain the base model's margin; calibration is monotone, so the
    ranking of reasons is the same for the calibrated score.
    """
    base = risk_model.base_
    if base.family == "xgboost":
        return tree_contributions(
            base.booster_,
            design,
            iteration_range=(0, int(base.best_iteration_) + 1),
            approximate=approximate,
        )
    return tree_contributions(base.estimator_, design, approximate=approximate)


def score_loans(
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: RiskSettings,
    *,
    top_k: int = 3,
    approximate_reasons: bool = False,
) -> pd.DataFrame:
    """Loan_ID, risk score and band, asset class, segment and top reasons, plus features."""
    design = risk_design_matrix(table, settings)
    scores = bundle.risk_model.risk_score(design)
    engineered = features.build_features(table)
    segment_ids = bundle.segmenter.predict(table)
    names = np.asarray(bundle.segmenter.names_, dtype=object)
    scored = pd.DataFrame(
        {
            schema.LOAN_ID: table[schema.LOAN_ID].to_numpy(),
            schema.RISK_SCORE: scores,
            schema.RISK_BAND: risk_bands(scores, settings),
            schema.SCORED_ASSET_CLASS: engineered[schema.ASSET_CLASS].to_numpy(),
            schema.SEGMENT_ID: segment_ids,
            schema.SEGMENT_NAME: names[segment_ids],
        },
        index=table.index,
    )
    if top_k > 0:  # top_k=0: no reasons, skipping the costly contributions
        unit = "log-odds" if bundle.risk_model.base_.family == "xgboost" else "probability"
        contributions = model_contributions(
            bundle.risk_model, design, approximate=approximate_reasons
        )
        reasons = reason_codes(contributions, design, top_k=top_k, unit=unit)
        scored = pd.concat([scored, reasons.to_frame(index=table.index)], axis=1)
    return pd.concat([scored, engineered.drop(columns=[schema.ASSET_CLASS])], axis=1)
