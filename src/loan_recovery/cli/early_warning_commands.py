"""Early-warning commands: train the model that flags loans about to roll into 60+ DPD,
and list the alerts it raises (from files or the case store)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from loan_recovery.cli.common import (
    JsonOption,
    ModelsOption,
    current_settings,
    echo_json,
    exit_code,
    stderr_console,
    stdout_console,
    user_errors,
)
from loan_recovery.cli.extras import require_database_driver
from loan_recovery.cli.payloads import alerts_payload
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.alerts import AlertsOutcome, run_alerts_files, run_alerts_store
from loan_recovery.jobs.early_warning import TrainEarlyWarningOutcome, run_train_early_warning
from loan_recovery.store.db import store_session_scope

PaymentsOption = Annotated[
    Path, typer.Option("--payments", help="Monthly instalment history, .csv or .parquet.")
]
LoansFileOption = Annotated[
    Path, typer.Option("--loans", help="Loan table (EMI, income, contacts), .csv or .parquet.")
]


def _early_warning_metrics_table(outcome: TrainEarlyWarningOutcome) -> Table:
    evaluation = outcome.training.evaluation
    found = evaluation.test_metrics
    top = f"{found['top_fraction']:.0%}"
    table = Table(title=f"Early warning, tested at cut-off {evaluation.test_cutoff.date()}")
    for header in ("rows", "base rate", "ROC-AUC", "PR-AUC", f"precision@{top}", f"lift@{top}"):
        table.add_column(header, justify="right")
    table.add_row(
        f"{found['rows']:,.0f}",
        f"{found['base_rate']:.1%}",
        f"{found['roc_auc']:.3f}",
        f"{found['pr_auc']:.3f}",
        f"{found['precision_at_top']:.1%}",
        f"{found['lift_at_top']:.2f}",
    )
    return table


@user_errors
def train_early_warning(
    payments: PaymentsOption,
    loans: LoansFileOption,
    models: ModelsOption = None,
    seed: Annotated[int, typer.Option(help="Random seed of the model.")] = 0,
    promote: Annotated[
        bool | None,
        typer.Option(help="Make the new version champion (default: only if none exists)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
) -> None:
    """Train the early-warning model (time split: earlier cut-offs train, the latest tests).

    Saves a version in the registry's early-warning folder; prints ROC-AUC, precision
    and lift at the top of the test cut-off's scores.
    """
    settings = current_settings()
    with stderr_console().status("Training the early-warning model ..."):
        outcome = run_train_early_warning(
            payments, loans, settings=settings, models_dir=models, seed=seed, promote=promote
        )
    evaluation = outcome.training.evaluation
    if as_json:
        payload = {"version": outcome.version.version, "promoted": outcome.promoted}
        typer.echo(json.dumps(payload | evaluation.to_json_dict()))
        return
    console = stdout_console()
    for name, checked in (("payments", outcome.payments), ("loans", outcome.loans)):
        result = checked.result
        line = f"{name}: {result.accepted:,} of {result.rows_read:,} rows accepted"
        if checked.quarantine_path is not None:
            line += f"; rejected rows kept in [bold]{checked.quarantine_path}[/]"
        console.print(line)
    cutoffs = ", ".join(str(day.date()) for day in evaluation.train_cutoffs)
    console.print(
        f"Trained on {evaluation.train_rows:,} loan-months ({evaluation.train_positives:,} "
        f"defaults) at cut-offs {cutoffs}; data up to {evaluation.train_max_due_date.date()}"
    )
    console.print(_early_warning_metrics_table(outcome))
    state = "and promoted to champion" if outcome.promoted else "(not promoted)"
    console.print(f"Saved early-warning version [bold]{outcome.version.version}[/] {state}")


def _alerts_table(outcome: AlertsOutcome, limit: int) -> Table:
    table = Table(
        title=f"{len(outcome.alerts):,} alerts of {outcome.scored:,} loans scored at "
        f"{outcome.cutoff.date()} (probability >= {outcome.threshold:g})"
    )
    for header in ("loan", "DPD", "probability", "pattern", "action", "top reason"):
        table.add_column(header)
    shown = outcome.alerts.head(limit)
    for values in shown.to_dict(orient="records"):
        table.add_row(
            str(values[schema.LOAN_ID]),
            str(values[schema.DPD_AT_CUTOFF]),
            f"{values[schema.EARLY_WARNING_SCORE]:.2f}",
            str(values[schema.ALERT_PATTERN]),
            str(values[schema.SUGGESTED_ACTION]),
            str(values[schema.reason_column(1)]),
        )
    return table


OptionalPaymentsOption = Annotated[
    Path | None,
    typer.Option("--payments", help="Monthly instalment history, .csv or .parquet."),
]
OptionalLoansOption = Annotated[
    Path | None,
    typer.Option("--loans", help="Loan table (EMI, income, contacts), .csv or .parquet."),
]


@user_errors
def alerts(
    payments: OptionalPaymentsOption = None,
    loans: OptionalLoansOption = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="Score the case store's loans from their imported installments "
            "(instead of --payments and --loans).",
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Alert at this probability or above (default 0.3)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Alerts file: .csv or .parquet.")] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(help="Score as of this date, YYYY-MM-DD (default: the data's as-of date)."),
    ] = None,
    models: ModelsOption = None,
    version: Annotated[
        str | None, typer.Option(help="Early-warning version (default: its champion).")
    ] = None,
    show: Annotated[int, typer.Option(min=0, help="Alerts printed (all go to --out).")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Loans likely to reach 60+ DPD within 3 months, with reasons and a pre-emptive action.

    Give --payments and --loans (files), or --from-store (the case store's loans and the
    installments `import-payments` loaded). Exit code 0: every row of both files accepted;
    1: some rows rejected (quarantined beside the file); 2: unusable input, an empty
    store or no early-warning model.

    --json prints {"alerts", "scored", "cutoff", "threshold", "version", "suggested",
    "source", "out", "rejected", "quarantine", "items"}: alerts of loans scored at the
    cut-off, the count per suggested action, the store scored (null for files), the
    alerts file, rejected rows per file with its quarantine, and the first --show
    alerts (the table's columns).
    """
    if from_store and (payments is not None or loans is not None):
        raise ConfigError("give --from-store or --payments and --loans, not both.")
    if not from_store and (payments is None or loans is None):
        raise ConfigError(
            "give --payments FILE and --loans FILE, or --from-store to score the case store."
        )
    settings = current_settings()
    if from_store:
        require_database_driver(settings)
    with stderr_console().status("Scoring early-warning alerts ..."):
        if payments is not None and loans is not None:
            outcome = run_alerts_files(
                payments,
                loans,
                settings=settings,
                out=out,
                models_dir=models,
                version=version,
                threshold=threshold,
                cutoff=_cutoff_date(cutoff),
            )
        else:
            with store_session_scope(settings) as store:
                outcome = run_alerts_store(
                    store,
                    settings=settings,
                    out=out,
                    models_dir=models,
                    version=version,
                    threshold=threshold,
                    cutoff=_cutoff_date(cutoff),
                )
    if as_json:
        echo_json(alerts_payload(outcome, show=show, from_store=from_store))
    else:
        _print_alerts(outcome, show=show, from_store=from_store)
    raise typer.Exit(exit_code(outcome.rejected))


def _print_alerts(outcome: AlertsOutcome, *, show: int, from_store: bool) -> None:
    """The first ``show`` alerts, the suggested actions and where files went."""
    console = stdout_console()
    if show:
        console.print(_alerts_table(outcome, show))
    by_action = outcome.alerts[schema.SUGGESTED_ACTION].value_counts().to_dict()
    summary = ", ".join(f"{action} {count:,}" for action, count in by_action.items()) or "none"
    console.print(f"{len(outcome.alerts):,} alerts (model {outcome.version}); suggested: {summary}")
    if from_store:
        console.print(f"Scored {outcome.source}", highlight=False)
    if outcome.out_path is not None:
        console.print(f"Alerts written to [bold]{outcome.out_path}[/]")
    for checked in outcome.validations:
        if checked.quarantine_path is not None:
            kept = checked.quarantine_path
            console.print(f"{checked.result.rejected:,} rejected rows kept in [bold]{kept}[/]")


def _cutoff_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--cutoff must be a date as YYYY-MM-DD; got {text!r}.") from None
