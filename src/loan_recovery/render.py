"""Rich renderables for the command line: validation and portfolio summaries.

Kept apart from the ``cli`` package so the command functions stay thin and the tables can be
reused (and tested) on their own. Personal data is masked here, before it can reach a
terminal or a log. Amounts and counts are written by :class:`~loan_recovery.money.MoneyFormat`
(``money=``; default ``en_IN``): whole currency units in totals, the currency named once in
the column header rather than on every cell.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

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
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import EvaluationReport, PolicyReport
from loan_recovery.models.registry import VersionInfo
from loan_recovery.money import MoneyFormat
from loan_recovery.portfolio import PortfolioSummary
from loan_recovery.strategy.policy import BAU, LEARNED, CapacityPlan


class ValidationCounts(Protocol):
    """What a validation summary shows: a whole result, or a streamed book's tally."""

    @property
    def rows_read(self) -> int: ...
    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def issues(self) -> pd.DataFrame: ...
    def reason_counts(self) -> dict[str, int]: ...
    def warning_counts(self) -> dict[str, int]: ...


class PlanTotals(Protocol):
    """What the plan summary shows: an in-memory plan, or a streamed book's totals."""

    @property
    def policy(self) -> str: ...
    @property
    def baseline_policy(self) -> str: ...
    @property
    def capacity_plan(self) -> CapacityPlan | None: ...
    def summary(self) -> pd.DataFrame: ...
    def totals(self) -> dict[str, float]: ...


EXAMPLES_SHOWN = 10
#: Policies the evaluation table lists first, in this order.
LEADING_POLICIES: tuple[str, ...] = (LEARNED, BAU)
_MASK = "***"


def _format(money: MoneyFormat | None) -> MoneyFormat:
    """The caller's format, else the default display (en_IN, INR, grouped)."""
    return money if money is not None else MoneyFormat()


def _percent(value: float) -> str:
    return f"{value:.1%}"


def masked_value(column: str, value: Any) -> str:
    """The value as text, or a mask when the column holds personal data."""
    return _MASK if column in schema.PERSONAL_DATA_COLUMNS else str(value)


def validation_payload(result: ValidationCounts) -> dict[str, Any]:
    """The machine-readable summary printed by ``validate --json``."""
    return {
        "rows_read": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "reasons": result.reason_counts(),
        "warnings": sum(result.warning_counts().values()),
        "warning_reasons": result.warning_counts(),
    }


def validation_tables(
    result: ValidationCounts, source: str, *, money: MoneyFormat | None = None
) -> Group:
    """Counts, rejections by reason and the first examples, as rich tables."""
    count = _format(money).number
    counts = Table(title=f"Validation of {source}", show_header=True)
    counts.add_column("rows read", justify="right")
    counts.add_column("accepted", justify="right", style="green")
    counts.add_column("rejected", justify="right", style="red")
    counts.add_row(count(result.rows_read), count(result.accepted), count(result.rejected))
    parts: list[Table] = [counts]
    reasons = result.reason_counts()
    if reasons:
        by_reason = Table(title="Rejected rows by reason")
        by_reason.add_column("reason")
        by_reason.add_column("rows", justify="right")
        for reason, rows in sorted(reasons.items(), key=lambda item: -item[1]):
            by_reason.add_row(reason, count(rows))
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
    warnings = result.warning_counts()
    if warnings:
        by_warning = Table(
            title=f"{count(sum(warnings.values()))} warning(s): loans kept, the detail not used",
            caption="An unusable email or phone turns that channel off; a bad language is en.",
        )
        by_warning.add_column("reason")
        by_warning.add_column("rows", justify="right")
        for reason, rows in sorted(warnings.items(), key=lambda item: -item[1]):
            by_warning.add_row(reason, count(rows))
        parts.append(by_warning)
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


def plan_summary_table(plan: PlanTotals, *, money: MoneyFormat | None = None) -> Group:
    """Action mix with expected recovered, cost, net and uplift, then the plan's value.

    The plan decides on uplift over leaving a loan alone, so the totals say what it is
    worth three ways: its net recovery, what it adds over holding every loan (the money
    the work itself brings in) and its gain over the baseline (the lender's current rule),
    the comparison a manager has to justify a change with.
    """
    fmt = _format(money)
    summary = plan.summary()
    table = Table(title=f"Recovery plan ({plan.policy})")
    table.add_column("action")
    table.add_column("loans", justify="right")
    for header in ("expected recovered", "expected cost", "expected net", "uplift over hold"):
        table.add_column(f"{header} ({fmt.symbol})", justify="right")
    for action, row in summary.iterrows():
        table.add_row(
            str(action),
            fmt.number(int(row[schema.LOANS])),
            *(
                _whole(fmt, row[column])
                for column in (
                    schema.EXPECTED_RECOVERED,
                    schema.EXPECTED_COST,
                    schema.EXPECTED_NET_RECOVERY,
                    schema.EXPECTED_UPLIFT,
                )
            ),
        )
    parts: list[Table] = [table, _plan_value_table(plan, fmt)]
    capacity = plan.capacity_plan
    if capacity is not None and capacity.shadow_prices:
        prices = Table(title="Shadow prices (value of one more unit)")
        prices.add_column("constraint")
        prices.add_column(f"value ({fmt.symbol})", justify="right")
        for name, price in capacity.shadow_prices.items():
            # a unit price, not a total: the budget's is a fraction of a rupee per rupee
            prices.add_row(name, fmt.amount(price, decimals=2, symbol=False, exact=True))
        parts.append(prices)
    return Group(*parts)


def _whole(money: MoneyFormat, value: float) -> str:
    """A total in whole currency units without the symbol (the header names it)."""
    return money.amount(float(value), symbol=False)


def _plan_value_table(plan: PlanTotals, money: MoneyFormat) -> Table:
    """What the plan is worth: its net, holding everything, the baseline, and the gains."""
    totals = plan.totals()
    baseline = totals["baseline_expected_net"]
    gain = totals["gain_over_baseline"]
    left_alone = totals["value_if_all_left_alone"]
    incremental = totals["incremental_net"]
    value = Table(title=f"Value of the plan ({plan.policy})")
    value.add_column("measure")
    value.add_column(f"expected ({money.symbol})", justify="right")
    value.add_row("net recovery", _whole(money, totals["expected_net"]))
    value.add_row("net recovery if every loan is left alone (hold)", _whole(money, left_alone))
    value.add_row(
        "incremental net over holding everything",
        f"{_whole(money, incremental)}{_share(incremental, left_alone)}",
    )
    value.add_row(f"net recovery of the {plan.baseline_policy} baseline", _whole(money, baseline))
    value.add_row(
        f"gain over the {plan.baseline_policy} baseline",
        f"{_whole(money, gain)}{_share(gain, baseline)}",
    )
    return value


def _share(change: float, base: float) -> str:
    """`` (+4.2%)``: ``change`` relative to ``base``; blank when the base is 0."""
    return f" ({change / abs(base):+.1%})" if base else ""


def _signed_percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"


def _ranked_policies(result: EvaluationReport) -> list[tuple[str, PolicyReport]]:
    """Learned and BAU first (the comparison that matters), then the rest by net recovery."""
    first = [(name, result.policies[name]) for name in LEADING_POLICIES if name in result.policies]
    rest = sorted(
        (item for item in result.policies.items() if item[0] not in LEADING_POLICIES),
        key=lambda item: item[1].value.net_recovery,
        reverse=True,
    )
    return [*first, *rest]


def evaluation_table(result: EvaluationReport, *, money: MoneyFormat | None = None) -> Group:
    """Every policy's true value against BAU and its off-policy (DR) estimate with its interval.

    Per policy: true net recovery, what it adds over holding every loan, its change over
    BAU, the share of the oracle's gain over BAU it captures, the doubly robust estimate
    a lender could compute from its own logs with its 95% bootstrap interval, and the
    chance it beats BAU. Below: the capacity every policy was held to (``same_capacity``)
    and the BAU rule (reconstructed from the history, or the configured one), so a reader
    knows what "bau" stands for.
    """
    fmt = _format(money)
    capacity = " under BAU's capacity" if result.same_capacity else ""
    table = Table(
        title=f"Policies on {fmt.number(result.loans)} fresh simulated loans (seed {result.seed})"
        f"{capacity}: true values, and DR estimates from the logged history"
    )
    headers = (
        "policy",
        f"net recovery ({fmt.symbol})",
        f"incremental net over hold ({fmt.symbol})",
        f"vs {BAU}",
        f"oracle capture vs {BAU}",
        f"DR [95% interval] ({fmt.symbol})",
        f"P(beats {BAU})",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "policy" else "right")
    for name, report in _ranked_policies(result):
        low, high = report.dr_ci95
        table.add_row(
            name,
            _whole(fmt, report.value.net_recovery),
            _whole(fmt, report.incremental_net),
            _signed_percent(report.vs_bau),
            "n/a" if not math.isfinite(report.capture) else f"{report.capture:.1%}",
            f"{_whole(fmt, report.dr)} [{_whole(fmt, low)}, {_whole(fmt, high)}]",
            "" if report.p_beats_bau is None else f"{report.p_beats_bau:.0%}",
        )
    parts: list[Table | Text] = [table]
    if result.same_capacity and result.capacity:
        limits = ", ".join(
            f"{action} {fmt.number(slots)}" for action, slots in result.capacity.items()
        )
        parts.append(Text(f"Capacity every policy was held to ({BAU}'s own use): {limits}"))
    if result.bau_rules:
        parts.append(Text(f"{BAU} rules:", style="bold"))
        parts.append(Text(result.bau_rules))
    return Group(*parts)


def _breakdown_table(title: str, frame: pd.DataFrame, money: MoneyFormat) -> Table:
    table = Table(title=title)
    table.add_column(str(frame.index.name or ""))
    table.add_column("loans", justify="right")
    table.add_column(f"exposure ({money.symbol})", justify="right")
    table.add_column("share of exposure", justify="right")
    table.add_column("mean DPD", justify="right")
    has_recovery = schema.RECOVERY_RATE in frame.columns
    if has_recovery:
        table.add_column("recovery rate", justify="right")
    for label, row in frame.iterrows():
        cells = [
            str(label),
            money.number(int(row[schema.LOANS])),
            _whole(money, row[schema.EXPOSURE]),
            _percent(float(row[schema.EXPOSURE_SHARE])),
            f"{float(row[schema.MEAN_DAYS_PAST_DUE]):.0f}",
        ]
        if has_recovery:
            cells.append(_percent(float(row[schema.RECOVERY_RATE])))
        table.add_row(*cells)
    return table


def portfolio_tables(summary: PortfolioSummary, *, money: MoneyFormat | None = None) -> Group:
    """Headline totals and the breakdowns by DPD bucket, asset class and loan type."""
    fmt = _format(money)
    totals = summary.totals
    headline = Table(title="Portfolio")
    for header in (
        "loans",
        "borrowers",
        f"exposure ({fmt.symbol})",
        "secured",
        "NPA exposure",
        "mean DPD",
    ):
        headline.add_column(header, justify="right")
    cells = [
        fmt.number(int(totals[schema.LOANS])),
        fmt.number(int(totals[schema.BORROWERS])),
        _whole(fmt, totals[schema.EXPOSURE]),
        _percent(totals[schema.SECURED_SHARE]),
        _percent(totals[schema.NPA_EXPOSURE_SHARE]),
        f"{totals[schema.MEAN_DAYS_PAST_DUE]:.0f}",
    ]
    if schema.RECOVERY_RATE in totals:
        headline.add_column("recovery rate", justify="right")
        cells.append(_percent(totals[schema.RECOVERY_RATE]))
    headline.add_row(*cells)
    breakdowns = [
        ("By DPD bucket", summary.by_dpd_bucket),
        ("By RBI asset class", summary.by_asset_class),
        ("By loan type", summary.by_loan_type),
        ("By last collection method", summary.by_collection_method),
        ("By recovery status", summary.by_recovery_status),
    ]
    parts = [headline]
    parts += [
        _breakdown_table(title, frame, fmt) for title, frame in breakdowns if frame is not None
    ]
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
            TimeRemainingColumn(),
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


def model_choice_lines(choice: Mapping[str, Any]) -> list[str]:
    """How ``train`` chose the served model, in plain sentences (train output, model card)."""
    lines: list[str] = []
    procedure = choice.get("procedure")
    if procedure:
        picks = ", ".join(f"{name} x{count}" for name, count in Counter(procedure["picks"]).items())
        lines.append(
            f"Reported CV ROC-AUC {procedure['roc_auc_mean']:.4f} ± {procedure['roc_auc_std']:.4f} "
            f"grades the choosing itself: each fold is scored by the candidate chosen on the "
            f"other folds ({picks}). The champion's own row "
            f"({procedure['champion_roc_auc_mean']:.4f}) is flattered by being the best of several."
        )
    monotone = choice.get("monotone")
    if monotone:
        lines.append(str(monotone["sentence"]))
        for item in monotone.get("contradictions", []):
            expected = "raise" if item["expected"] > 0 else "lower"
            lines.append(
                f"  {item['feature']} is expected to {expected} risk but this data says "
                f"otherwise (univariate ROC-AUC {item['roc_auc']:.3f})."
            )
    parameters = choice.get("hyperparameters") or {}
    if parameters:
        shown = ", ".join(f"{name} {value}" for name, value in parameters.items())
        lines.append(f"Boosted trees served with {shown}.")
    search = choice.get("small_data_search")
    if search:
        lines.append(
            f"Small file: depth, learning rate and min child weight chosen by nested CV "
            f"({search['searched']} of {search['grid_size']} grid points searched)."
        )
    if choice.get("calibration"):
        lines.append(f"Calibration: {choice['calibration']}.")
    for flag in choice.get("profile_flags", []):
        lines.append(f"Data profile: {flag['feature']}: {flag['reason']}")
    return lines
