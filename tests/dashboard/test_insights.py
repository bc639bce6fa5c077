"""Dashboard insights: small hand-made frames with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.dashboard import insights
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.jobs.evaluate import EvaluationReport, PolicyReport, PolicyValue
from loan_recovery.strategy.plan import PlanResult

BANDS = ("Low", "Medium", "High", "Very High")


def loan_table(
    dpd: list[int], outstanding: list[float], ids: list[str] | None = None
) -> pd.DataFrame:
    """The columns the portfolio summary and segment profile read, one row per loan."""
    n = len(dpd)
    return pd.DataFrame(
        {
            schema.LOAN_ID: ids or [f"L{i}" for i in range(1, n + 1)],
            schema.BORROWER_ID: [f"B{i}" for i in range(1, n + 1)],
            schema.DAYS_PAST_DUE: dpd,
            schema.OUTSTANDING_LOAN_AMOUNT: outstanding,
            schema.COLLATERAL_VALUE: [0.0] * n,
            schema.LOAN_TYPE: ["Personal"] * n,
        }
    )


def worklist(rows: list[tuple[str, float, str, str, str, float, float, float]]) -> pd.DataFrame:
    """A plan worklist: (loan, risk, band, segment, action, recovered, cost, value left
    alone) per row; net = recovered - cost, uplift = net - value left alone."""
    frame = pd.DataFrame(
        rows,
        columns=[
            schema.LOAN_ID,
            schema.RISK_SCORE,
            schema.RISK_BAND,
            schema.SEGMENT_NAME,
            schema.RECOMMENDED_ACTION,
            schema.EXPECTED_RECOVERED,
            schema.EXPECTED_COST,
            schema.VALUE_IF_LEFT_ALONE,
        ],
    )
    frame[schema.EXPECTED_NET_RECOVERY] = (
        frame[schema.EXPECTED_RECOVERED] - frame[schema.EXPECTED_COST]
    )
    frame[schema.EXPECTED_UPLIFT] = (
        frame[schema.EXPECTED_NET_RECOVERY] - frame[schema.VALUE_IF_LEFT_ALONE]
    )
    frame[schema.UPLIFT_VS_BASELINE] = 10.0
    return frame


@pytest.fixture
def table() -> pd.DataFrame:
    return loan_table([0, 45, 120], [1_000.0, 2_000.0, 4_000.0])


@pytest.fixture
def plan_rows() -> pd.DataFrame:
    # Sorted by priority, not by the table's order.
    return worklist(
        [
            ("L3", 0.9, "Very High", "Stressed", "legal", 2_500.0, 1_000.0, 300.0),
            ("L1", 0.1, "Low", "Current", "reminder", 900.0, 50.0, 800.0),
            ("L2", 0.6, "High", "Stressed", "call", 1_200.0, 600.0, 250.0),
        ]
    )


def test_plan_view_puts_plan_rows_back_in_table_order(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives a priority-sorted worklist; expects rows in table order beside exposure and bucket."""
    view = insights.plan_view(table, plan_rows)
    assert view[schema.LOAN_ID].tolist() == ["L1", "L2", "L3"]
    assert view[schema.RISK_SCORE].tolist() == [0.1, 0.6, 0.9]
    assert view[schema.RECOMMENDED_ACTION].tolist() == ["reminder", "call", "legal"]
    assert view[schema.DPD_BUCKET].astype(str).tolist() == ["0", "31-60", "91-180"]
    assert view[schema.OUTSTANDING_LOAN_AMOUNT].tolist() == [1_000.0, 2_000.0, 4_000.0]
    assert view.index.equals(table.index)


def test_plan_view_refuses_a_plan_of_other_loans(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives a plan missing loan L2; expects a SchemaError naming both counts."""
    with pytest.raises(SchemaError, match=r"2 loans.*3 loans"):
        insights.plan_view(table, plan_rows[plan_rows[schema.LOAN_ID] != "L2"])


def test_kpis_are_the_plan_totals_over_the_table_exposure(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives 3 loans of 7,000 exposure worth 1,350 left alone; expects plan sums, recovered /
    exposure and 2,950 - 1,350 added by the plan."""
    plan = PlanResult(plan_rows, "learned", "bau", None)
    kpis = insights.portfolio_kpis(table, plan)
    assert kpis.loans == 3
    assert kpis.exposure == 7_000.0
    assert kpis.expected_recovered == 4_600.0
    assert kpis.expected_cost == 1_650.0
    assert kpis.expected_net == 2_950.0
    assert kpis.value_if_left_alone == 1_350.0
    assert kpis.incremental_net == 1_600.0
    assert kpis.recovery_rate == pytest.approx(4_600.0 / 7_000.0)


def test_kpi_recovery_rate_is_zero_without_exposure() -> None:
    """Gives no exposure; expects a 0 recovery rate, not a division error."""
    kpis = insights.PortfolioKpis(1, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert kpis.recovery_rate == 0.0


def test_segment_table_profiles_segments_in_model_order(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives segments Current (L1) and Stressed (L2, L3) plus an empty one; expects the profile."""
    view = insights.plan_view(table, plan_rows)
    profile = insights.segment_table(table, view, ["Current", "Stressed", "Empty"])
    assert profile[schema.SEGMENT_NAME].tolist() == ["Current", "Stressed"]
    assert profile[schema.LOANS].tolist() == [1, 2]
    assert profile[schema.EXPOSURE].tolist() == [1_000.0, 6_000.0]
    assert profile[schema.MEAN_RISK].tolist() == pytest.approx([0.1, 0.75])


def test_segment_table_refuses_unknown_segment_names(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives a model that does not know 'Stressed'; expects a SchemaError naming it."""
    view = insights.plan_view(table, plan_rows)
    with pytest.raises(SchemaError, match="Stressed"):
        insights.segment_table(table, view, ["Current"])


def test_action_mix_counts_loans_per_segment_in_catalogue_order(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives 3 loans; expects counts, actions in catalogue order and a zero row for Empty."""
    view = insights.plan_view(table, plan_rows)
    mix = insights.action_mix(view, ["Current", "Stressed", "Empty"])
    assert mix.columns.tolist() == ["reminder", "call", "legal"]
    assert mix.to_numpy().tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_bucket_band_matrix_counts_loans_or_sums_exposure(
    table: pd.DataFrame, plan_rows: pd.DataFrame
) -> None:
    """Gives one loan per (bucket, band) cell; expects every bucket and band, zeros elsewhere."""
    view = insights.plan_view(table, plan_rows)
    loans = insights.bucket_band_matrix(view, BANDS, "loans")
    assert loans.index.tolist() == list(schema.DPD_BUCKETS)
    assert loans.columns.tolist() == list(BANDS)
    assert int(loans.to_numpy().sum()) == 3
    assert loans.loc["0", "Low"] == 1
    assert loans.loc["31-60", "High"] == 1
    assert loans.loc["91-180", "Very High"] == 1
    exposure = insights.bucket_band_matrix(view, BANDS, "exposure")
    assert exposure.loc["91-180", "Very High"] == 4_000.0
    assert float(exposure.to_numpy().sum()) == 7_000.0


def test_risk_histogram_bins_scores_per_band() -> None:
    """Gives scores 0, 0.2, 0.5, 1.0 in two bins; expects 1.0 in the top bin, counts by band."""
    view = pd.DataFrame(
        {
            schema.RISK_SCORE: [0.0, 0.2, 0.5, 1.0],
            schema.RISK_BAND: ["Low", "Low", "High", "Very High"],
        }
    )
    histogram = insights.risk_histogram(view, BANDS, bins=2)
    assert histogram[schema.RISK_BIN_LOW].tolist() == [0.0, 0.5]
    assert histogram[schema.RISK_BIN_HIGH].tolist() == [0.5, 1.0]
    assert histogram["Low"].tolist() == [2, 0]
    assert histogram["Medium"].tolist() == [0, 0]
    assert histogram["High"].tolist() == [0, 1]
    assert histogram["Very High"].tolist() == [0, 1]


def snapshots() -> pd.DataFrame:
    """L1: 0 -> 45 -> 100 DPD; L2: 10 -> 0 (cured); L3 one snapshot; L4 without a date."""
    frame = loan_table(
        [0, 45, 100, 10, 0, 200, 30],
        [1.0] * 7,
        ids=["L1", "L1", "L1", "L2", "L2", "L3", "L4"],
    )
    frame[schema.AS_OF_DATE] = pd.to_datetime(
        [
            "2026-04-30",
            "2026-05-31",
            "2026-06-30",
            "2026-05-31",
            "2026-04-30",  # out of order on purpose: L2 was 0 DPD first, then 10
            "2026-06-30",
            None,
        ]
    )
    return frame


def test_roll_forward_counts_moves_between_consecutive_snapshots() -> None:
    """Gives 3 moves (0 -> 31-60, 31-60 -> 91-180, 0 -> 1-30); expects exactly those cells."""
    counts = insights.roll_forward(snapshots())
    assert counts.index.tolist() == list(schema.DPD_BUCKETS)
    assert counts.columns.tolist() == list(schema.DPD_BUCKETS)
    assert counts.index.name == schema.FROM_DPD_BUCKET
    assert counts.columns.name == schema.TO_DPD_BUCKET
    assert int(counts.to_numpy().sum()) == 3
    assert counts.loc["0", "31-60"] == 1
    assert counts.loc["31-60", "91-180"] == 1
    assert counts.loc["0", "1-30"] == 1


def test_roll_forward_shares_sum_to_one_per_row() -> None:
    """Gives two moves out of bucket 0; expects 50% each and empty rows left at 0."""
    shares = insights.row_shares(insights.roll_forward(snapshots()))
    assert shares.loc["0", "31-60"] == 0.5
    assert shares.loc["0", "1-30"] == 0.5
    assert shares.loc["31-60", "91-180"] == 1.0
    assert shares.loc["180+"].sum() == 0.0


def test_snapshot_history_is_detected_only_with_repeated_dated_loans() -> None:
    """Gives snapshots, one snapshot per loan, no dates; expects only the first has history."""
    history = snapshots()
    assert insights.has_snapshot_history(history)
    assert not insights.has_snapshot_history(history.drop_duplicates(schema.LOAN_ID))
    assert not insights.has_snapshot_history(history.drop(columns=schema.AS_OF_DATE))
    assert insights.snapshot_dates(history) == [
        pd.Timestamp("2026-04-30"),
        pd.Timestamp("2026-05-31"),
        pd.Timestamp("2026-06-30"),
    ]
    assert insights.roll_forward(history.drop(columns=schema.AS_OF_DATE)).to_numpy().sum() == 0


def test_metrics_table_shows_mean_and_std_with_the_champion_starred() -> None:
    """Gives two candidates; expects card labels, ↓ on Brier, mean ± std text and ★."""
    frame = pd.DataFrame(
        {
            "roc_auc_mean": [0.8, 0.75],
            "roc_auc_std": [0.01, 0.02],
            "brier_mean": [0.18, math.nan],
        },
        index=["xgboost", "base_rate"],
    )
    table = insights.metrics_table(frame, "xgboost")
    assert table.index.tolist() == ["xgboost ★", "base_rate"]
    assert table.columns.tolist() == ["ROC AUC", "Brier ↓"]
    assert table.loc["xgboost ★", "ROC AUC"] == "0.800 ± 0.010"
    assert table.loc["xgboost ★", "Brier ↓"] == "0.180"
    assert table.loc["base_rate", "Brier ↓"] == "—"


def test_confusion_table_moves_with_the_threshold() -> None:
    """Gives 4 loans; expects one of each cell at 0.5 and both positives caught at 0.3."""
    y_true = np.array([0, 0, 1, 1])
    y_score = np.array([0.1, 0.6, 0.4, 0.9])
    labels = {"positive_label": "Not recovered", "negative_label": "Recovered"}
    at_half = insights.confusion_table(y_true, y_score, 0.5, **labels)
    assert at_half.index.tolist() == ["Actual: Recovered", "Actual: Not recovered"]
    assert at_half.columns.tolist() == ["Predicted: Recovered", "Predicted: Not recovered"]
    assert at_half.to_numpy().tolist() == [[1, 1], [1, 1]]
    assert insights.confusion_table(y_true, y_score, 0.3, **labels).to_numpy().tolist() == [
        [1, 1],
        [0, 2],
    ]


def test_silhouette_table_lists_k_in_order_and_flags_the_chosen_one() -> None:
    """Gives silhouettes for k = 5, 4, 6; expects ascending k and k = 5 chosen."""
    table = insights.silhouette_table({5: 0.31, 4: 0.28, 6: 0.25}, chosen=5)
    assert table[schema.SEGMENT_COUNT].tolist() == [4, 5, 6]
    assert table[schema.SILHOUETTE].tolist() == [0.28, 0.31, 0.25]
    assert table[schema.CHOSEN].tolist() == [False, True, False]


def test_top_importance_orders_by_value_then_name() -> None:
    """Gives a tie between b and a; expects largest first, ties by name, cut at top."""
    importance = pd.Series([0.1, 0.5, 0.5, 0.3], index=["d", "b", "a", "c"])
    top = insights.top_importance(importance, top=3)
    assert top.index.tolist() == ["a", "b", "c"]
    assert top.tolist() == [0.5, 0.5, 0.3]


def policy(
    net: float,
    recovered: float,
    cost: float,
    *,
    capture: float,
    dr: tuple[float, float, float] = (0.0, 0.0, 0.0),
    p_beats_bau: float | None = None,
    actions: dict[str, float] | None = None,
) -> PolicyReport:
    """A policy's report on 10 loans of 1,000 exposure, 300 worth held and BAU netting 360."""
    value = PolicyValue(net, recovered, cost, loans=10, exposure=1_000.0)
    return PolicyReport(
        value=value,
        incremental_net=net - 300.0,
        vs_bau=net / 360.0 - 1.0,
        capture=capture,
        dr=dr[0],
        dr_ci95=(dr[1], dr[2]),
        p_beats_bau=p_beats_bau,
        actions=actions or {},
    )


def lab_report() -> EvaluationReport:
    """Oracle, random, BAU and learned, deliberately out of the lab's order."""
    return EvaluationReport(
        loans=10,
        seed=1,
        same_capacity=False,
        capacity={},
        policies={
            "oracle": policy(450, 520, 70, capture=1.0, dr=(430, 380, 470), p_beats_bau=0.9),
            "random": policy(200, 300, 100, capture=-1.777, dr=(210, 150, 260), p_beats_bau=0.01),
            "bau": policy(360, 450, 90, capture=0.0, dr=(350, 300, 400), actions={"call": 1.0}),
            "learned": policy(
                400,
                500,
                100,
                capture=4 / 9,
                dr=(390, 340, 445),
                p_beats_bau=0.8,
                actions={"hold": 0.4, "call": 0.5, "legal": 0.1},
            ),
        },
    )


def test_policy_table_puts_learned_then_bau_first_and_oracle_last() -> None:
    """Gives oracle, random, bau, learned; expects learned, bau, random, oracle."""
    table = insights.policy_table(lab_report())
    assert table.index.tolist() == ["learned", "bau", "random", "oracle"]
    assert table.index.name == schema.POLICY


def test_policy_table_has_truth_gains_and_dr_interval_of_each_policy() -> None:
    """Gives learned netting 400 (BAU 360, held 300, oracle 450); expects its money, +40 over
    BAU as +11.1%, 100 over holding, capture 4/9, and its DR 390 in [340, 445] at p 0.8."""
    table = insights.policy_table(lab_report())
    assert table.loc["learned"].to_dict() == pytest.approx(
        {
            schema.NET_RECOVERY: 400.0,
            insights.INCREMENTAL_NET: 100.0,
            insights.VS_BAU: 40.0 / 360.0,
            schema.ORACLE_CAPTURE: 4 / 9,
            insights.DR_ESTIMATE: 390.0,
            insights.DR_LOW: 340.0,
            insights.DR_HIGH: 445.0,
            insights.P_BEATS_BAU: 0.8,
            schema.RECOVERED: 500.0,
            schema.COST: 100.0,
            schema.RECOVERY_RATE: 0.5,
        }
    )
    assert table.loc["bau", insights.VS_BAU] == 0.0
    assert math.isnan(table.loc["bau", insights.P_BEATS_BAU])  # BAU is not compared to itself
    assert (table[insights.DR_LOW] <= table[insights.DR_ESTIMATE]).all()
    assert (table[insights.DR_ESTIMATE] <= table[insights.DR_HIGH]).all()


def test_policy_action_shares_are_one_column_per_arm_hold_first() -> None:
    """Gives learned 40% hold, 50% call, 10% legal; expects every arm, zeros where absent."""
    shares = insights.policy_action_shares(lab_report())
    assert shares.index.tolist() == ["learned", "bau", "random", "oracle"]
    assert shares.columns.tolist() == list(schema.ARM_NAMES)
    assert shares.loc["learned"].to_dict() == {
        arm: {"hold": 0.4, "call": 0.5, "legal": 0.1}.get(arm, 0.0) for arm in schema.ARM_NAMES
    }
    assert shares.loc["bau", "call"] == 1.0
    assert shares.loc["oracle"].sum() == 0.0


@pytest.fixture
def defaults() -> Settings:
    return load_settings()


def test_action_cost_table_seeds_from_the_catalogue(defaults: Settings) -> None:
    """Gives default settings; expects every action with its configured cost and share."""
    table = insights.action_cost_table(defaults)
    assert table.index.tolist() == list(defaults.actions)
    assert table.loc["legal", schema.FIXED_COST] == defaults.actions["legal"].fixed_cost
    assert table.loc["agency", schema.RECOVERY_SHARE] == defaults.actions["agency"].recovery_share


def test_with_action_costs_changes_only_the_edited_fields(defaults: Settings) -> None:
    """Gives a new legal cost and share; expects them set, the rest and the original untouched."""
    legal = defaults.actions["legal"]
    edited = insights.with_action_costs(defaults, {"legal": (30_000.0, 0.1)})
    assert edited.actions["legal"].fixed_cost == 30_000.0
    assert edited.actions["legal"].recovery_share == 0.1
    assert edited.actions["legal"].min_days_past_due == legal.min_days_past_due
    assert edited.actions["call"] == defaults.actions["call"]
    assert defaults.actions["legal"].fixed_cost == legal.fixed_cost


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        ({"legal": (-5.0, 0.05)}, r"legal\.fixed_cost.*-5\.0"),
        ({"agency": (3_000.0, 1.0)}, r"agency\.recovery_share"),
        ({"teleport": (1.0, 0.0)}, "unknown action"),
    ],
)
def test_with_action_costs_refuses_invalid_values(
    defaults: Settings, costs: dict[str, tuple[float, float]], message: str
) -> None:
    """Gives a negative cost, a share of 1 or an unknown action; expects a ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        insights.with_action_costs(defaults, costs)
