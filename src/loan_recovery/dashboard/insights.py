"""What the dashboard's portfolio, performance and strategy-lab pages show, as plain data.

Pure functions (no Streamlit, no plotting) over what the pipeline already returns: the
validated table, a :class:`~loan_recovery.strategy.plan.PlanResult`, a model card, an
evaluation report. They group and reshape; every number itself comes from the pipeline
(risk, band, segment, action and money from the plan; exposure from the portfolio
summary; curves and confusion counts from :mod:`loan_recovery.models.metrics`), so the
pages show exactly what the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError

from loan_recovery import features
from loan_recovery.config import ActionConfig, Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.jobs.evaluate import BASELINE, ORACLE, EvaluationReport
from loan_recovery.models import metrics
from loan_recovery.models.report import LOWER_IS_BETTER, MEAN_SUFFIX, METRIC_LABELS, STD_SUFFIX
from loan_recovery.models.segments import segment_profile
from loan_recovery.portfolio import summarise_portfolio
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import PlanResult
from loan_recovery.strategy.policy import LEARNED

#: Actions in catalogue order, then "hold" (no action), for every action-keyed chart.
ACTION_ORDER: tuple[str, ...] = (*schema.ACTION_NAMES, HOLD)
#: Bins of the risk-score histogram on [0, 1].
RISK_HISTOGRAM_BINS = 20
#: Features shown on the global importance chart.
TOP_IMPORTANCE = 15

HeatmapValue = Literal["loans", "exposure"]

#: Strategy-lab columns beside the schema's (net recovery, recovered, cost, recovery rate,
#: oracle capture): gain over holding every loan, relative gain over BAU, and the doubly
#: robust estimate with its 95% bootstrap interval and chance of beating BAU.
INCREMENTAL_NET = schema.INCREMENTAL_NET
VS_BAU = schema.VS_BAU
DR_ESTIMATE = schema.DR_ESTIMATE
DR_LOW = schema.DR_LOW
DR_HIGH = schema.DR_HIGH
P_BEATS_BAU = schema.P_BEATS_BAU


# --- portfolio -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PortfolioKpis:
    """The headline tiles of the portfolio page: the book and its plan's expected money."""

    loans: int
    exposure: float
    expected_recovered: float
    expected_cost: float
    expected_net: float
    value_if_left_alone: float

    @property
    def recovery_rate(self) -> float:
        """Expected recovered (before costs) as a share of the exposure; 0 for no exposure."""
        return self.expected_recovered / self.exposure if self.exposure > 0 else 0.0

    @property
    def incremental_net(self) -> float:
        """What the plan adds over leaving every loan alone: the money the work earns."""
        return self.expected_net - self.value_if_left_alone


def portfolio_kpis(table: pd.DataFrame, plan: PlanResult) -> PortfolioKpis:
    """Loans and exposure of ``table`` (portfolio summary) and the plan's expected totals,
    beside what the same loans are worth left alone."""
    totals = plan.totals()
    return PortfolioKpis(
        loans=int(totals["loans"]),
        exposure=float(summarise_portfolio(table).totals[schema.EXPOSURE]),
        expected_recovered=totals["expected_recovered"],
        expected_cost=totals["expected_cost"],
        expected_net=totals["expected_net"],
        value_if_left_alone=totals["value_if_all_left_alone"],
    )


def plan_view(table: pd.DataFrame, worklist: pd.DataFrame) -> pd.DataFrame:
    """The plan's per-loan answers aligned to ``table``'s rows, beside exposure and DPD bucket.

    The worklist is sorted by priority; this puts it back in the table's order (by
    ``Loan_ID``, unique in a planned table) so table columns and plan columns line up.
    Raises :class:`SchemaError` when the two do not hold the same loans.
    """
    plan = worklist.set_index(schema.LOAN_ID)
    loan_ids = pd.Index(table[schema.LOAN_ID].to_numpy(dtype=object))
    positions = plan.index.get_indexer(loan_ids) if plan.index.is_unique else np.array([-1])
    if len(plan) != len(table) or (positions < 0).any():
        raise SchemaError(
            f"the plan ({len(plan)} loans) does not cover the table's {len(table)} loans."
        )
    picked = plan.iloc[positions]
    columns = (
        schema.RISK_SCORE,
        schema.RISK_BAND,
        schema.SEGMENT_NAME,
        schema.RECOMMENDED_ACTION,
        schema.EXPECTED_RECOVERED,
        schema.EXPECTED_COST,
        schema.EXPECTED_NET_RECOVERY,
    )
    view = pd.DataFrame(
        {
            schema.LOAN_ID: loan_ids.to_numpy(),
            schema.OUTSTANDING_LOAN_AMOUNT: table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(
                dtype=np.float64
            ),
            schema.DPD_BUCKET: features.dpd_bucket(table).to_numpy(),
            **{column: picked[column].to_numpy() for column in columns},
        },
        index=table.index,
    )
    view[schema.DPD_BUCKET] = pd.Categorical(
        view[schema.DPD_BUCKET], categories=schema.DPD_BUCKETS, ordered=True
    )
    return view


def segment_table(table: pd.DataFrame, view: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Per segment (the model's order, lowest risk first): the training report's profile.

    Loans, exposure, mean risk, mean DPD, recovery rate (when the table has recoveries)
    and DPD mix, computed by the same :func:`segment_profile` the model card uses, on the
    planned portfolio; segments without loans are dropped.
    """
    ids = pd.Index(list(names)).get_indexer(pd.Index(view[schema.SEGMENT_NAME].astype(str)))
    if (ids < 0).any():
        unknown = sorted(set(view[schema.SEGMENT_NAME].astype(str)) - set(names))
        raise SchemaError(f"the plan names segments the model does not know: {unknown}.")
    profile = segment_profile(table, view[schema.RISK_SCORE].to_numpy(), ids, list(names))
    return profile[profile[schema.LOANS] > 0]


def action_mix(view: pd.DataFrame, segments: Sequence[str] | None = None) -> pd.DataFrame:
    """Loans per segment (rows) and recommended action (columns, catalogue order).

    ``segments`` fixes the row order (and keeps segments without loans as zeros); by
    default the segments of ``view`` in order of first appearance.
    """
    rows = (
        list(segments)
        if segments is not None
        else list(dict.fromkeys(view[schema.SEGMENT_NAME].astype(str)))
    )
    actions = view[schema.RECOMMENDED_ACTION].astype(str)
    present = [a for a in ACTION_ORDER if a in set(actions)] + sorted(
        set(actions) - set(ACTION_ORDER)
    )
    counts = (
        pd.crosstab(view[schema.SEGMENT_NAME].astype(str), actions)
        .reindex(index=rows, columns=present, fill_value=0)
        .astype(np.int64)
    )
    counts.index.name = schema.SEGMENT_NAME
    counts.columns.name = schema.RECOMMENDED_ACTION
    return counts


def bucket_band_matrix(
    view: pd.DataFrame, band_names: Sequence[str], value: HeatmapValue = "loans"
) -> pd.DataFrame:
    """DPD bucket (rows, every bucket) x risk band (columns, ``band_names`` order).

    ``value`` counts loans or sums their exposure (outstanding amount).
    """
    if value == "loans":
        weights = pd.Series(1.0, index=view.index)
    else:
        weights = view[schema.OUTSTANDING_LOAN_AMOUNT].astype(np.float64)
    buckets = view[schema.DPD_BUCKET].astype(str)
    bands = view[schema.RISK_BAND].astype(str)
    matrix = (
        weights.groupby([buckets, bands]).sum().unstack(fill_value=0)
        if len(view)
        else pd.DataFrame()
    )
    matrix = matrix.reindex(index=list(schema.DPD_BUCKETS), columns=list(band_names)).fillna(0.0)
    matrix.index.name = schema.DPD_BUCKET
    matrix.columns.name = schema.RISK_BAND
    return matrix.astype(np.int64) if value == "loans" else matrix


def risk_histogram(
    view: pd.DataFrame, band_names: Sequence[str], bins: int = RISK_HISTOGRAM_BINS
) -> pd.DataFrame:
    """Loans per equal-width risk-score bin on [0, 1], one count column per risk band.

    Counted here rather than in the browser so a million-loan book draws ``bins`` bars.
    A score of exactly 1 falls in the top bin.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1; got {bins}.")
    edges = np.linspace(0.0, 1.0, bins + 1)
    scores = view[schema.RISK_SCORE].to_numpy(dtype=np.float64)
    index = np.minimum(np.floor(np.clip(scores, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    bands = view[schema.RISK_BAND].astype(str).to_numpy()
    frame = pd.DataFrame({schema.RISK_BIN_LOW: edges[:-1], schema.RISK_BIN_HIGH: edges[1:]})
    for band in band_names:
        frame[band] = np.bincount(index[bands == band], minlength=bins).astype(np.int64)
    return frame


def has_snapshot_history(table: pd.DataFrame) -> bool:
    """True when some loan appears on two or more ``As_Of_Date`` snapshots."""
    if schema.AS_OF_DATE not in table.columns:
        return False
    dated = table[table[schema.AS_OF_DATE].notna()]
    return bool(dated[schema.LOAN_ID].duplicated().any())


def snapshot_dates(table: pd.DataFrame) -> list[pd.Timestamp]:
    """The distinct snapshot dates of ``table``, oldest first (none without ``As_Of_Date``)."""
    if schema.AS_OF_DATE not in table.columns:
        return []
    dates = pd.to_datetime(table[schema.AS_OF_DATE].dropna().unique())
    return sorted(pd.Timestamp(date) for date in dates)


def roll_forward(table: pd.DataFrame) -> pd.DataFrame:
    """Loans moving from DPD bucket (rows) at one snapshot to (columns) at their next one.

    Every pair of consecutive ``As_Of_Date`` snapshots of one ``Loan_ID`` counts once, so
    the diagonal is loans that stayed, right of it loans that rolled forward (worse) and
    left of it loans that cured. Rows without a date are ignored. A 6 x 6 matrix of
    counts over :data:`schema.DPD_BUCKETS` (all zeros without snapshot history).
    """
    size = len(schema.DPD_BUCKETS)
    counts = np.zeros((size, size), dtype=np.int64)
    if schema.AS_OF_DATE in table.columns:
        dated = table[table[schema.AS_OF_DATE].notna()]
        frame = pd.DataFrame(
            {
                "loan": dated[schema.LOAN_ID].to_numpy(dtype=object),
                "date": dated[schema.AS_OF_DATE].to_numpy(),
                "bucket": np.asarray(features.dpd_bucket(dated).cat.codes, dtype=np.int64),
            }
        ).sort_values(["loan", "date"], kind="stable")
        loans = frame["loan"].to_numpy()
        buckets = frame["bucket"].to_numpy()
        same_loan = loans[1:] == loans[:-1]
        np.add.at(counts, (buckets[:-1][same_loan], buckets[1:][same_loan]), 1)
    return pd.DataFrame(
        counts,
        index=pd.Index(schema.DPD_BUCKETS, name=schema.FROM_DPD_BUCKET),
        columns=pd.Index(schema.DPD_BUCKETS, name=schema.TO_DPD_BUCKET),
    )


def row_shares(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by its total (a transition matrix); empty rows stay 0."""
    totals = matrix.sum(axis=1)
    return matrix.div(totals.where(totals > 0), axis=0).fillna(0.0)


# --- model performance ---------------------------------------------------------------------
def metrics_table(metrics_frame: pd.DataFrame, champion: str) -> pd.DataFrame:
    """Candidates (rows, champion marked ★) x metrics as ``mean ± std`` over folds.

    Known metrics come first in the model card's order, labelled as the card labels them
    (lower-is-better metrics marked ↓); other ``*_mean`` columns follow.
    """
    names = [
        str(column)[: -len(MEAN_SUFFIX)]
        for column in metrics_frame.columns
        if str(column).endswith(MEAN_SUFFIX)
    ]
    ordered = [name for name in METRIC_LABELS if name in names] + [
        name for name in names if name not in METRIC_LABELS
    ]
    rows: dict[str, dict[str, str]] = {}
    for candidate, row in metrics_frame.iterrows():
        label = f"{candidate} ★" if str(candidate) == champion else str(candidate)
        cells: dict[str, str] = {}
        for name in ordered:
            header = METRIC_LABELS.get(name, name)
            header = f"{header} ↓" if name in LOWER_IS_BETTER else header
            cells[header] = _mean_std(
                row.get(f"{name}{MEAN_SUFFIX}"), row.get(f"{name}{STD_SUFFIX}")
            )
        rows[label] = cells
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = schema.CANDIDATE
    return table


def _mean_std(mean: Any, std: Any) -> str:
    def number(value: Any) -> float | None:
        try:
            result = float(value)
        except (TypeError, ValueError):
            return None
        return result if np.isfinite(result) else None

    mean_value, std_value = number(mean), number(std)
    if mean_value is None:
        return "—"
    return f"{mean_value:.3f}" if std_value is None else f"{mean_value:.3f} ± {std_value:.3f}"


def confusion_table(
    y_true: Any,
    y_score: Any,
    threshold: float,
    *,
    positive_label: str,
    negative_label: str,
) -> pd.DataFrame:
    """2 x 2 counts at ``threshold`` (score >= threshold is called positive).

    Rows are the actual class, columns the predicted one, negative first, as in
    :func:`loan_recovery.models.metrics.confusion_at`.
    """
    counts = metrics.confusion_at(y_true, y_score, threshold)
    labels = [negative_label, positive_label]
    return pd.DataFrame(
        [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]],
        index=pd.Index([f"Actual: {label}" for label in labels]),
        columns=pd.Index([f"Predicted: {label}" for label in labels]),
    )


def silhouette_table(silhouette: Mapping[int, float], chosen: int) -> pd.DataFrame:
    """Segments tried (k, ascending), their silhouette score and which k was chosen."""
    ks = sorted(int(k) for k in silhouette)
    return pd.DataFrame(
        {
            schema.SEGMENT_COUNT: np.asarray(ks, dtype=np.int64),
            schema.SILHOUETTE: np.asarray([silhouette[k] for k in ks], dtype=np.float64),
            schema.CHOSEN: np.asarray([k == chosen for k in ks], dtype=bool),
        }
    )


def top_importance(importance: pd.Series, top: int = TOP_IMPORTANCE) -> pd.Series:
    """The ``top`` largest importances, largest first; ties broken by name."""
    frame = pd.DataFrame(
        {"name": importance.index.astype(str), "value": importance.to_numpy(dtype=np.float64)}
    ).sort_values(["value", "name"], ascending=[False, True], kind="mergesort")
    head = frame.head(top)
    return pd.Series(head["value"].to_numpy(), index=pd.Index(head["name"]), name=importance.name)


# --- strategy lab --------------------------------------------------------------------------
def policy_order(report: EvaluationReport) -> list[str]:
    """Learned, then the lender's rule (bau) it must beat, the others as reported, oracle last."""
    first = [name for name in (LEARNED, BASELINE) if name in report.policies]
    middle = [name for name in report.policies if name not in (*first, ORACLE)]
    return [*first, *middle, *([ORACLE] if ORACLE in report.policies else [])]


def policy_table(report: EvaluationReport) -> pd.DataFrame:
    """One row per policy (:func:`policy_order`): its true money, its gain over holding every
    loan and over BAU, oracle capture vs BAU, and the DR estimate with its 95% interval and
    chance of beating BAU (NaN for BAU itself)."""
    rows = {}
    for name in policy_order(report):
        policy = report.policies[name]
        low, high = policy.dr_ci95
        rows[name] = {
            schema.NET_RECOVERY: policy.value.net_recovery,
            INCREMENTAL_NET: policy.incremental_net,
            VS_BAU: policy.vs_bau,
            schema.ORACLE_CAPTURE: policy.capture,
            DR_ESTIMATE: policy.dr,
            DR_LOW: low,
            DR_HIGH: high,
            P_BEATS_BAU: np.nan if policy.p_beats_bau is None else policy.p_beats_bau,
            schema.RECOVERED: policy.value.recovered,
            schema.COST: policy.value.cost,
            schema.RECOVERY_RATE: policy.value.recovery_rate,
        }
    table = pd.DataFrame.from_dict(rows, orient="index").astype(np.float64)
    table.index.name = schema.POLICY
    return table


def policy_action_shares(report: EvaluationReport) -> pd.DataFrame:
    """Share of loans each policy gives each arm (rows as :func:`policy_order`, every arm of
    the catalogue, hold first): what a policy really does, e.g. how many loans ``all-legal``
    sends to court once the guardrails have had their say."""
    shares = pd.DataFrame.from_dict(
        {name: report.policies[name].actions for name in policy_order(report)}, orient="index"
    )
    extra = sorted(set(shares.columns) - set(schema.ARM_NAMES))
    table = shares.reindex(columns=[*schema.ARM_NAMES, *extra], fill_value=0.0).astype(np.float64)
    table.index.name = schema.POLICY
    table.columns.name = schema.ACTION
    return table.fillna(0.0)


def action_cost_table(settings: Settings) -> pd.DataFrame:
    """The catalogue's fixed cost and recovery share per action, catalogue order."""
    table = pd.DataFrame(
        {
            schema.FIXED_COST: [action.fixed_cost for action in settings.actions.values()],
            schema.RECOVERY_SHARE: [action.recovery_share for action in settings.actions.values()],
        },
        index=pd.Index(list(settings.actions), name=schema.ACTION),
    )
    return table


def with_action_costs(settings: Settings, costs: Mapping[str, tuple[float, float]]) -> Settings:
    """``settings`` with new (fixed cost, recovery share) for the named actions.

    Each edited action is validated as the settings file would be (cost >= 0, share in
    [0, 1)); every invalid value is named in one :class:`ConfigError`.
    """
    unknown = sorted(set(costs) - set(settings.actions))
    if unknown:
        raise ConfigError(
            f"unknown action(s) {unknown}; the catalogue has {list(settings.actions)}."
        )
    actions: dict[str, ActionConfig] = dict(settings.actions)
    problems: list[str] = []
    for name, (fixed_cost, recovery_share) in costs.items():
        fields = {
            **settings.actions[name].model_dump(),
            "fixed_cost": fixed_cost,
            "recovery_share": recovery_share,
        }
        try:
            actions[name] = ActionConfig.model_validate(fields)
        except ValidationError as error:
            problems += [
                f"{name}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                f" (got {item['input']!r})"
                for item in error.errors()
            ]
    if problems:
        raise ConfigError(f"invalid action costs: {'; '.join(problems)}.")
    return settings.model_copy(update={"actions": actions})
