"""The ``loan-recovery`` command line.

Commands are thin: parse options, call a job, render the result (or, with ``--json``,
print it as one JSON document). They live in modules by group; this module builds the
app and registers them in the order ``--help`` lists them. Error handling and the exit
codes are in :mod:`loan_recovery.cli.common`; the optional extras (API, dashboard,
PostgreSQL, tuning) are imported only by the commands that use them
(:mod:`loan_recovery.cli.extras`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loan_recovery import __version__
from loan_recovery.cli import (
    data_commands,
    early_warning_commands,
    model_commands,
    notify_commands,
    plan_commands,
    service_commands,
    store_commands,
)
from loan_recovery.cli.common import state

__all__ = ["app"]

app = typer.Typer(
    name="loan-recovery",
    help="Turn loan data into a recovery plan: validate, simulate, train, score, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(asked: bool) -> None:
    """``--version``: the program's name and version, then stop (no command needed)."""
    if asked:
        typer.echo(f"loan-recovery {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (or LOAN_RECOVERY_CONFIG)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of unexpected errors.")] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print 'loan-recovery X.Y.Z' and exit.",
        ),
    ] = False,
) -> None:
    """loan-recovery: risk, segment, best action and worklist for every loan."""
    state.config_file = config
    state.debug = debug


def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


# The order --help lists them in.
for name, command in (
    ("validate", data_commands.validate),
    ("simulate", data_commands.simulate),
    ("demo", service_commands.demo),
    ("train", model_commands.train),
    ("score", plan_commands.score),
    ("plan", plan_commands.plan),
    ("evaluate-policy", plan_commands.evaluate_policy),
    ("report", model_commands.report),
    ("profile", data_commands.profile),
    ("promote", model_commands.promote),
    ("versions", model_commands.versions),
    ("dashboard", service_commands.dashboard),
    ("serve", service_commands.serve),
    ("import", data_commands.import_),
    ("import-payments", data_commands.import_payments),
    ("remind", notify_commands.remind),
    ("train-early-warning", early_warning_commands.train_early_warning),
    ("alerts", early_warning_commands.alerts),
    ("version", version),
):
    app.command(name)(command)
app.add_typer(store_commands.db_app, name="db")
app.add_typer(store_commands.apikey_app, name="apikey")
app.add_typer(notify_commands.outbox_app, name="outbox")
