"""Model performance page: the champion's model card, live.

Candidates' cross-validated metrics, out-of-fold ROC, precision-recall and calibration
curves, a confusion matrix at a chosen threshold, global importance, the segmenter's
silhouette per k, and the data the model was trained on. All from the registry's card
(built once per version) and :mod:`loan_recovery.models.metrics`.
"""

from __future__ import annotations

import streamlit as st

from loan_recovery.dashboard import charts, insights, state
from loan_recovery.dashboard.formatting import money_format, styled
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError

#: Display names of the training-data fingerprint's fields.
FINGERPRINT_LABELS = {"source": "Training data source", "sha256": "Training data SHA-256"}

settings = state.get_settings()
money = money_format(settings)
st.title("Model performance")

try:
    card = state.model_card(settings)
    bundle = state.champion_bundle(settings)
except LoanRecoveryError as error:
    st.error(f"Cannot load the champion model: {error}")
    st.stop()

st.caption(
    f"Model **{card.version}** (champion: {card.champion_family}, calibration: "
    f"{card.calibration_method}), trained {card.created_at}. Label: {card.label_definition}. "
    f"Kept out of the model: {', '.join(card.excluded_columns) or 'nothing'}."
)

st.subheader("Candidates")
if card.metrics is None:
    st.info(
        "This version was trained without cross-validation, so there is no honest "
        "comparison of candidates to show. Retrain with cross-validation to see one."
    )
else:
    st.container(key="metrics_table").dataframe(
        insights.metrics_table(card.metrics, card.champion_family)
    )
    st.caption("Mean ± standard deviation over the cross-validation folds; ↓ lower is better.")

st.subheader("Out-of-fold evaluation")
if card.y_true is None or card.y_score is None:
    st.info("No out-of-fold scores for this version: curves and confusion need them.")
else:
    y_true, y_score = card.y_true, card.y_score
    points = state.card_curves(settings, card)
    base_rate = float(y_true.mean())
    roc, pr, calibration = st.columns(3)
    roc.plotly_chart(charts.roc_curve(points["roc"], points["roc_auc"]), key="roc_chart")
    pr.plotly_chart(charts.pr_curve(points["pr"], base_rate), key="pr_chart")
    calibration.plotly_chart(
        charts.calibration_curve(points["calibration"]), key="calibration_chart"
    )
    st.caption(
        f"{money.number(len(y_true))} training loans, each scored by a model that did not train on "
        f"it; {base_rate:.1%} {card.positive_label.lower()}."
    )

    threshold = st.slider(
        f"Decision threshold (a score at or above it is called {card.positive_label.lower()})",
        min_value=0.01,
        max_value=0.99,
        value=float(settings.risk.decision_threshold),
        step=0.01,
        key="threshold",
    )
    confusion = insights.confusion_table(
        y_true,
        y_score,
        threshold,
        positive_label=card.positive_label,
        negative_label=card.negative_label,
    )
    left, right = st.columns([2, 1])
    left.plotly_chart(charts.confusion_heatmap(confusion, threshold, money), key="confusion_chart")
    right.container(key="confusion_table").dataframe(
        styled(confusion, money, counts=confusion.columns)
    )

st.subheader("What drives the score")
importance = insights.top_importance(card.importance)
if importance.empty:
    st.info("This version recorded no feature importance.")
else:
    st.plotly_chart(charts.importance_bars(importance), key="importance_chart")

st.subheader("Borrower segments")
segmenter = bundle.segmenter
silhouette = insights.silhouette_table(segmenter.silhouette_, segmenter.n_segments_)
st.markdown(f"Chosen number of segments: **{segmenter.n_segments_}**")
if silhouette.empty:
    st.info("The number of segments was fixed by the settings, so no silhouette was computed.")
else:
    left, right = st.columns([2, 1])
    left.plotly_chart(charts.silhouette_bars(silhouette), key="silhouette_chart")
    right.container(key="silhouette_table").dataframe(silhouette, hide_index=True)
st.container(key="segment_profile_table").dataframe(
    styled(
        card.segment_profile.set_index(schema.SEGMENT_NAME),
        money,
        amounts=(schema.EXPOSURE,),
        counts=(schema.LOANS,),
    ),
    column_config={
        schema.EXPOSURE: st.column_config.NumberColumn("Exposure"),
        schema.MEAN_RISK: st.column_config.NumberColumn("Mean risk", format="%.2f"),
        schema.RECOVERY_RATE: st.column_config.NumberColumn("Recovery rate", format="percent"),
    },
)

st.subheader("Training data and version")
fingerprint = dict(card.fingerprint)
columns = fingerprint.pop("columns", [])
rows = fingerprint.pop("rows", None)
facts = {
    "Model version": card.version,
    "Created": card.created_at,
    "Champion family": card.champion_family,
    "Training rows": money.number(rows) if isinstance(rows, int | float) else "—",
    **{FINGERPRINT_LABELS.get(str(k), str(k)): str(v) for k, v in fingerprint.items()},
}
st.container(key="fingerprint").dataframe(
    {"Fact": list(facts), "Value": list(facts.values())}, hide_index=True
)
if columns:
    with st.expander(f"Training columns ({len(columns)})"):
        st.write(", ".join(str(column) for column in columns))
