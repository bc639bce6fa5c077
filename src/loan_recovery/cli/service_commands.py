"""Service commands: the demo, and the servers a lender runs (dashboard, REST API).

The dashboard and the API are optional extras, so their modules are imported inside the
commands: the core install runs every other command without them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from loan_recovery.cli.common import (
    JsonOption,
    ModelsOption,
    current_settings,
    echo_json,
    state,
    stderr_console,
    stdout_console,
    user_errors,
)
from loan_recovery.cli.extras import API, DASHBOARD, extra_imports, require_database_driver
from loan_recovery.cli.payloads import plan_payload
from loan_recovery.config import Settings
from loan_recovery.jobs.demo import DemoOutcome, run_demo
from loan_recovery.models.report import metrics_rich_table
from loan_recovery.money import MoneyFormat
from loan_recovery.render import (
    RichProgress,
    plan_summary_table,
    portfolio_tables,
    validation_payload,
    validation_tables,
)


#: Levels ``serve`` accepts: not uvicorn's ``trace``, which prints every ASGI message.
#: The API's own ``LogLevel`` enum lives with uvicorn's imports, which the core install
#: lacks; a test keeps these in step with it.
class ServerLogLevel(StrEnum):
    """``serve --log-level`` (an enum, which typer turns into choices at every version)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


@user_errors
def demo(
    rebuild: Annotated[bool, typer.Option(help="Rebuild the demo data even if present.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Build (if missing) the seeded demo portfolio and champion model under var/; summarise.

    --json: built, trained (what was made rather than found), portfolio, validation (as
    validate --json), model (version, champion_family, calibration, registry), plan (as
    plan --json), payments and early_warning_version.
    """
    settings = current_settings()
    with RichProgress(stderr_console()) as progress:
        outcome = run_demo(settings=settings, rebuild=rebuild, progress=progress)
    if as_json:
        echo_json(_demo_payload(outcome, settings))
        return
    console = stdout_console()
    money = MoneyFormat(settings.display)
    verb = "Built" if outcome.built else "Found"
    console.print(f"{verb} demo portfolio [bold]{outcome.paths.portfolio}[/]")
    console.print(
        validation_tables(outcome.validation.result, str(outcome.paths.portfolio), money=money)
    )
    console.print(portfolio_tables(outcome.summary, money=money))
    card = outcome.model_card
    verb = "Trained" if outcome.trained else "Found"
    console.print(
        f"{verb} champion model [bold]{card.version}[/] ({card.champion_family}, "
        f"{card.calibration_method} calibration) in [bold]{settings.registry_dir}[/]"
    )
    if card.metrics is not None:
        console.print(metrics_rich_table(card.metrics))
    console.print(plan_summary_table(outcome.plan.plan, money=money))
    console.print(f"Worklist sorted by priority in [bold]{outcome.plan.out_path}[/]")
    warning = outcome.early_warning
    verb = "Built" if warning.payments_built else "Found"
    console.print(f"{verb} demo payment history [bold]{outcome.paths.payments}[/]")
    verb = "Trained" if warning.trained else "Found"
    tested = warning.version.summary.get("metrics") or {}
    auc = tested.get("roc_auc")
    quality = f" (ROC-AUC {auc:.3f} on a later month)" if isinstance(auc, float) else ""
    console.print(
        f"{verb} early-warning champion [bold]{warning.version.version}[/]{quality} in "
        f"[bold]{warning.registry}[/]; `loan-recovery alerts --payments "
        f"{outcome.paths.payments} --loans {outcome.paths.portfolio}` lists its alerts"
    )


@user_errors
def dashboard(
    models: ModelsOption = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Portfolio file shown first (default: the demo portfolio)."),
    ] = None,
    payments: Annotated[
        Path | None,
        typer.Option(
            "--payments",
            help="Instalment history the Alerts page scores with --data (default: the demo's).",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default 8501).", min=1, max=65535)
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
) -> None:
    """Start the Streamlit dashboard on 127.0.0.1 and print its address."""
    with extra_imports(DASHBOARD):
        from loan_recovery.dashboard.launch import check_ready, dashboard_command, run_dashboard
    overrides: dict[str, object] = {} if models is None else {"models_dir": models}
    settings = current_settings(**overrides)
    check_ready(settings, data, payments)
    command = dashboard_command(
        settings,
        config_file=state.config_file,
        models_dir=models,
        data_file=data,
        payments_file=payments,
        host=host,
        port=port,
    )
    stdout_console().print(f"Dashboard at [bold]{command.url}[/] (Ctrl+C stops it)")
    code = run_dashboard(command)
    if code != 0:
        raise typer.Exit(code)


@user_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1 or settings).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default 8000 or settings).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Server processes, each with its own models (default 1)."),
    ] = None,
    models: ModelsOption = None,
    log_level: Annotated[
        ServerLogLevel, typer.Option(help="Server log level; request bodies are never logged.")
    ] = ServerLogLevel.INFO,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Start the REST API (uvicorn) with the registry's champion; docs at /docs.

    Checks first that a champion exists and the case store is migrated, so a broken setup
    fails here with a message instead of a server that is never ready. Header and body
    caps and slow-client timeouts come from the api.limits settings (docs/http-limits.md).
    """
    with extra_imports(API):
        from loan_recovery.api.server import check_serveable, run_server
    overrides: dict[str, object] = {} if models is None else {"models_dir": models}
    settings = current_settings(**overrides)
    require_database_driver(settings)
    api = settings.api
    host = host or api.host
    port = port or api.port
    version = check_serveable(settings)
    stderr_console().print(
        f"Serving model [bold]{version}[/] at [bold]http://{host}:{port}[/] "
        f"(docs at /docs; Ctrl+C stops it)",
        highlight=False,
    )
    run_server(
        host=host,
        port=port,
        workers=workers or api.workers,
        config_file=state.config_file,
        models_dir=models,
        log_level=log_level.value,
        access_log=access_log,
        limits=api.limits,
    )


def _demo_payload(outcome: DemoOutcome, settings: Settings) -> dict[str, Any]:
    """``demo --json``: what was built or found, and the same numbers as the tables."""
    card = outcome.model_card
    plan = outcome.plan
    return {
        "built": outcome.built,
        "trained": outcome.trained,
        "portfolio": outcome.paths.portfolio,
        "validation": validation_payload(outcome.validation.result),
        "model": {
            "version": card.version,
            "champion_family": card.champion_family,
            "calibration": card.calibration_method,
            "registry": settings.registry_dir,
        },
        "plan": plan_payload(
            plan.plan, loans=len(plan.plan.worklist), version=plan.version, out=plan.out_path
        ),
        "payments": outcome.paths.payments,
        "early_warning_version": outcome.early_warning.version.version,
    }
