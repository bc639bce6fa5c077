"""Rich renderables for the command line: validation and portfolio summaries.

Kept apart from ``cli.py`` so the command functions stay thin and the tables can be
reused (and tested) on their own. Personal data is masked here, before it can reach a
terminal or a log.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult
from loan_recovery.jobs.evaluate import EvaluationReport
from loan_recovery.models.registry import VersionInfo
from loan_recovery.portfolio import PortfolioSummary
from loan_recovery.strategy.plan import PlanResult

EXAMPLES_SHOWN = 10
_MASK = "***"


def _money(value: float) -> str:
    """Compact amount: 12.45B, 3.20M, 950K; tables of portfolio totals stay narrow."""
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= divisor:
            return f"{value / divisor:,.2f}{suffix}"
    return f"{value:,.0f}"


def _percent(value: float) -> str:
    return f"{value:.1%}"


def masked_value(column: str, value: Any) -> str:
    """The value as text, or a mask when the column holds personal data."""
    return _MASK if column in schema.PERSONAL_DATA_COLUMNS else str(value)


def validation_payload(result: ValidationResult) -> dict[str, Any]:
    """The machine-readable summary printed by ``validate --json``."""
    return {
        "rows_read": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "reasons": result.reason_counts(),
    }


def validation_tables(result: ValidationResult, source: str) -> Group:
    """Counts, rejections by reason and the first examples, as rich tables."""
    counts = Table(title=f"Validation of {source}", show_header=True)
    counts.add_column("rows read", justify="right")
    counts.add_column("accepted", justify="right", style="green")
    counts.add_column("rejected", justify="right", style="red")
    counts.add_row(f"{result.rows_read:,}", f"{result.accepted:,}", f"{result.rejected:,}")
    parts: list[Table] = [counts]
    reasons = result.reason_counts()
    if reasons:
        by_reason = Table(title="Rejected rows by reason")
        by_reason.add_column("reason")
        by_reason.add_column("rows", justify="right")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            by_reason.add_row(reason, f"{count:,}")
        parts.append(by_reason)
        examples = Table(title=f"First {EXAMPLES_SHOWN} problems")
        for header in ("line", "column", "reason", "message"):
            examples.add_column(header, overflow="fold")
        for issue in result.issues.head(EXAMPLES_SHOWN).itertuples(index=False):
            examples.add_row(
                str(issue.line),
                str(issue.column),
                str(issue.reason),
                masked_value(str(issue.column), issue.message),
            )
        parts.append(examples)
    return Group(*parts)


def versions_table(versions: list[VersionInfo]) -> Table:
    """Registry versions, oldest first, with the champion marked."""
    table = Table(title="Model versions")
    for header in ("version", "champion", "created (UTC)", "family", "CV ROC-AUC"):
        table.add_column(header)
    for info in versions:
        metrics = info.summary.get("metrics") or {}
        auc = metrics.get("roc_auc_mean") if isinstance(metrics, dict) else None
        table.add_row(
            info.version,
            "*" if info.is_champion else "",
            info.created_at,
            str(info.summary.get("champion_family", "")),
            "" if auc is None else f"{float(auc):.3f}",
        )
    return table


def plan_summary_table(plan: PlanResult) -> Group:
    """Action mix with expected recovered, cost and net, and the comparison to the baseline."""
    summary = plan.summary()
    table = Table(title=f"Recovery plan ({plan.policy})")
    for header in ("action", "loans", "expected recovered", "expected cost", "expected net"):
        table.add_column(header, justify="right" if header != "action" else "left")
    for action, row in summary.iterrows():
        table.add_row(
            str(action),
            f"{int(row[schema.LOANS]):,}",
            _money(float(row[schema.EXPECTED_RECOVERED])),
            _money(float(row[schema.EXPECTED_COST])),
            _money(float(row[schema.EXPECTED_NET_RECOVERY])),
        )
    totals = plan.totals()
    baseline = totals["baseline_expected_net"]
    gain = totals["expected_net"] - baseline
    share = f" ({gain / abs(baseline):+.1%})" if baseline else ""
    comparison = Table(title=f"Versus the {plan.baseline_policy} baseline")
    for header in ("policy", "expected net"):
        comparison.add_column(header, justify="right" if header != "policy" else "left")
    comparison.add_row(plan.baseline_policy, _money(baseline))
    comparison.add_row(plan.policy, f"{_money(totals['expected_net'])}{share}")
    parts: list[Table] = [table, comparison]
    capacity = plan.capacity_plan
    if capacity is not None and capacity.shadow_prices:
        prices = Table(title="Shadow prices (value of one more unit)")
        prices.add_column("constraint")
        prices.add_column("value", justify="right")
        for name, value in capacity.shadow_prices.items():
            prices.add_row(name, f"{value:,.2f}")
        parts.append(prices)
    return Group(*parts)


def evaluation_table(result: EvaluationReport) -> Table:
    """Policies by true net recovery, with oracle capture and off-policy estimates."""
    table = Table(
        title=f"Policies on {result.loans:,} fresh simulated loans (seed {result.seed}), "
        "true values and off-policy estimates per loan"
    )
    headers = ("policy", "net recovery", "per loan", "recovery rate", "cost", "oracle capture")
    for header in (*headers, "IPS", "SNIPS", "DR"):
        table.add_column(header, justify="left" if header == "policy" else "right")
    ranked = sorted(
        result.policies.items(), key=lambda item: item[1].value.net_recovery, reverse=True
    )
    for name, report in ranked:
        ope = report.ope.as_dict() if report.ope is not None else {}
        table.add_row(
            name,
            _money(report.value.net_recovery),
            _money(report.value.mean_net_recovery),
            _percent(report.value.recovery_rate),
            _money(report.value.cost),
            f"{report.capture:.1%}",
            *(_money(ope[key]) if key in ope else "" for key in ("ips", "snips", "dr")),
        )
    return table


def _breakdown_table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    table.add_column(str(frame.index.name or ""))
    table.add_column("loans", justify="right")
    table.add_column("exposure", justify="right")
    table.add_column("share of exposure", justify="right")
    table.add_column("mean DPD", justify="right")
    has_recovery = schema.RECOVERY_RATE in frame.columns
    if has_recovery:
        table.add_column("recovery rate", justify="right")
    for label, row in frame.iterrows():
        cells = [
            str(label),
            f"{int(row[schema.LOANS]):,}",
            _money(float(row[schema.EXPOSURE])),
            _percent(float(row[schema.EXPOSURE_SHARE])),
            f"{float(row[schema.MEAN_DAYS_PAST_DUE]):.0f}",
        ]
        if has_recovery:
            cells.append(_percent(float(row[schema.RECOVERY_RATE])))
        table.add_row(*cells)
    return table


def portfolio_tables(summary: PortfolioSummary) -> Group:
    """Headline totals and the breakdowns by DPD bucket, asset class and loan type."""
    totals = summary.totals
    headline = Table(title="Portfolio")
    for header in ("loans", "borrowers", "exposure", "secured", "NPA exposure", "mean DPD"):
        headline.add_column(header, justify="right")
    cells = [
        f"{int(totals[schema.LOANS]):,}",
        f"{int(totals[schema.BORROWERS]):,}",
        _money(totals[schema.EXPOSURE]),
        _percent(totals[schema.SECURED_SHARE]),
        _percent(totals[schema.NPA_EXPOSURE_SHARE]),
        f"{totals[schema.MEAN_DAYS_PAST_DUE]:.0f}",
    ]
    if schema.RECOVERY_RATE in totals:
        headline.add_column("recovery rate", justify="right")
        cells.append(_percent(totals[schema.RECOVERY_RATE]))
    headline.add_row(*cells)
    parts = [
        headline,
        _breakdown_table("By DPD bucket", summary.by_dpd_bucket),
        _breakdown_table("By RBI asset class", summary.by_asset_class),
        _breakdown_table("By loan type", summary.by_loan_type),
    ]
    if summary.by_collection_method is not None:
        parts.append(_breakdown_table("By last collection method", summary.by_collection_method))
    if summary.by_recovery_status is not None:
        parts.append(_breakdown_table("By recovery status", summary.by_recovery_status))
    return Group(*parts)


class RichProgress:
    """A rich progress bar that jobs drive through the ProgressReporter protocol."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def start(self, total_steps: int) -> None:
        """Create the bar with ``total_steps`` units."""
        self._task = self._progress.add_task("Starting", total=total_steps)

    def stage(self, description: str) -> None:
        """Show the current stage as the bar's label."""
        if self._task is not None:
            self._progress.update(self._task, description=description)

    def advance(self, steps: int = 1) -> None:
        """Move the bar on."""
        if self._task is not None:
            self._progress.advance(self._task, steps)
