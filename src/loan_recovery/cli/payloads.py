"""The JSON documents ``--json`` prints: the same numbers the tables show, as plain data.

Built from the jobs' outcome objects, so a script reading a command's JSON sees exactly
what a person reading its tables sees; kept apart from the commands so each payload is
one small function that the in-memory and the streamed form of a command share.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from loan_recovery.data import schema
from loan_recovery.jobs.alerts import AlertsOutcome
from loan_recovery.jobs.train import TrainOutcome
from loan_recovery.models.registry import VersionInfo
from loan_recovery.render import PlanTotals, ValidationCounts, validation_payload
from loan_recovery.store.plans import StoredPlan
from loan_recovery.strategy.safety import PolicySafety

#: Per-action sums of a plan, as the summary table shows them (besides the loan count).
_ACTION_SUMS: tuple[str, ...] = (
    schema.EXPECTED_RECOVERED,
    schema.EXPECTED_COST,
    schema.EXPECTED_NET_RECOVERY,
    schema.EXPECTED_UPLIFT,
)
#: The alert columns the alerts table shows, in its order.
_ALERT_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    schema.DPD_AT_CUTOFF,
    schema.EARLY_WARNING_SCORE,
    schema.ALERT_PATTERN,
    schema.SUGGESTED_ACTION,
    schema.reason_column(1),
)
#: The row of a plan summary that sums every action.
_TOTAL_ROW = "total"


def files_payload(
    validation: ValidationCounts, quarantine: Path | None, warnings_file: Path | None
) -> dict[str, Any]:
    """Rejected rows and where they and the warnings went; validation's counts in full."""
    return {
        "rejected": validation.rejected,
        "quarantine": quarantine,
        "warnings_file": warnings_file,
        "validation": validation_payload(validation),
    }


def score_payload(*, loans: int, version: str, out: Path) -> dict[str, Any]:
    """``score --json`` without its files part: how many loans, which model, where."""
    return {"loans": loans, "version": version, "out": out}


def plan_payload(
    plan: PlanTotals,
    *,
    loans: int,
    version: str,
    out: Path,
    shadow_prices: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """``plan --json`` without its files part: the action mix, the plan's value and the
    shadow prices of its limits (default: the capacity plan's; a streamed book prices
    its limits across batches), as the summary tables show them."""
    summary = plan.summary()
    actions = {
        str(action): {"loans": int(row[schema.LOANS])}
        | {name: float(row[name]) for name in _ACTION_SUMS}
        for action, row in summary.drop(index=_TOTAL_ROW).iterrows()
    }
    totals = plan.totals() | {
        "loans": int(summary[schema.LOANS].loc[_TOTAL_ROW]),
        schema.EXPECTED_UPLIFT: float(summary[schema.EXPECTED_UPLIFT].loc[_TOTAL_ROW]),
    }
    if shadow_prices is None:
        capacity = plan.capacity_plan
        shadow_prices = {} if capacity is None else capacity.shadow_prices
    return {
        "loans": loans,
        "version": version,
        "policy": plan.policy,
        "baseline_policy": plan.baseline_policy,
        "out": out,
        "actions": actions,
        "totals": totals,
        "shadow_prices": dict(shadow_prices),
    }


def stored_payload(stored: StoredPlan, database: str) -> dict[str, Any]:
    """What ``plan --store`` wrote to the case store (the database URL without password)."""
    return {
        "run_id": stored.run_id,
        "database": database,
        "scores": stored.scores,
        "actions_created": stored.actions_created,
        "actions_kept": stored.actions_kept,
        "actions_cancelled": stored.actions_cancelled,
    }


def metrics_payload(metrics: pd.DataFrame | None) -> dict[str, dict[str, Any]] | None:
    """A metrics table (candidates by metric columns) as candidate -> metric -> value."""
    if metrics is None:
        return None
    return {
        str(candidate): {str(column): value for column, value in row.items()}
        for candidate, row in metrics.iterrows()
    }


def train_payload(outcome: TrainOutcome) -> dict[str, Any]:
    """``train --json``: the saved version, whether it serves, the rows it learned from,
    the cross-validated metrics and how the served model was chosen."""
    result = outcome.validation.result
    artefacts = outcome.artefacts
    return {
        "version": outcome.version.version,
        "promoted": outcome.promoted,
        "champion_family": artefacts.champion_family,
        "rows_read": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "quarantine": outcome.validation.quarantine_path,
        "metrics": metrics_payload(artefacts.metrics),
        "model_choice": artefacts.model_choice,
        "safety": safety_payload(outcome.bundle.safety),
    }


def safety_payload(safety: PolicySafety | None) -> dict[str, Any] | None:
    """Where the learned policy may leave the lender's rule, without limits and under
    capacity or a budget (None: no safety test, e.g. a history without Amount_Recovered)."""
    if safety is None:
        return None
    return {
        "departures": safety.departures(),
        "held_out": safety.held_out_check(),
        "capacity_departures": safety.departures(limited=True),
        "capacity_held_out": safety.held_out_check(limited=True),
    }


def version_payload(info: VersionInfo) -> dict[str, Any]:
    """One registry version as ``versions`` lists it."""
    metrics = info.summary.get("metrics") or {}
    auc = metrics.get("roc_auc_mean") if isinstance(metrics, dict) else None
    return {
        "version": info.version,
        "champion": info.is_champion,
        "created_at": info.created_at,
        "champion_family": info.summary.get("champion_family"),
        "cv_roc_auc": None if auc is None else float(auc),
    }


def versions_payload(versions: list[VersionInfo]) -> dict[str, Any]:
    """``versions --json``: the champion's name and every version, oldest first."""
    champion = next((info.version for info in versions if info.is_champion), None)
    return {"champion": champion, "versions": [version_payload(info) for info in versions]}


def alerts_payload(outcome: AlertsOutcome, *, show: int, from_store: bool) -> dict[str, Any]:
    """``alerts --json``: counts, the model and cut-off, the suggested actions, the first
    ``show`` alerts (all go to ``--out``) and where rejected input rows went."""
    frame = outcome.alerts
    shown = frame.head(show).loc[:, list(_ALERT_COLUMNS)]
    return {
        "alerts": len(frame),
        "scored": outcome.scored,
        "cutoff": outcome.cutoff.date(),
        "threshold": outcome.threshold,
        "version": outcome.version,
        "suggested": {
            str(action): int(count)
            for action, count in frame[schema.SUGGESTED_ACTION].value_counts().items()
        },
        "source": outcome.source if from_store else None,
        "out": outcome.out_path,
        "rejected": outcome.rejected,
        "quarantine": [
            {"rejected": checked.result.rejected, "path": checked.quarantine_path}
            for checked in outcome.validations
            if checked.quarantine_path is not None
        ],
        "items": shown.to_dict(orient="records"),
    }
