"""Data commands: check a loan file, simulate a book, profile it, import into the store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loan_recovery.cli.common import (
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    BatchRowsOption,
    DaskOption,
    JsonOption,
    StreamOption,
    current_settings,
    echo_json,
    json_ready,
    stderr_console,
    stdout_console,
    user_errors,
    warnings_line,
)
from loan_recovery.cli.extras import require_database_driver
from loan_recovery.cli.streaming import cluster_address, should_stream, validate_streamed
from loan_recovery.data.sinks import is_dataset_path
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.profile import profile_rich_tables, run_profile, write_profile_html
from loan_recovery.jobs.simulate import SimulateOutcome, run_simulate, run_simulate_book
from loan_recovery.jobs.store import run_import
from loan_recovery.jobs.validate import run_validate
from loan_recovery.money import MoneyFormat
from loan_recovery.render import RichProgress, validation_payload, validation_tables
from loan_recovery.store.loans import UpsertCounts
from loan_recovery.store.payments import PaymentCounts


@user_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Loan file, .csv or .parquet.")],
    mapping: Annotated[
        Path | None, typer.Option(help="TOML file mapping your column names to canonical ones.")
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Where rejected rows go (default: FILE.quarantine.csv beside FILE)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON only.")] = False,
    require_label: Annotated[
        bool, typer.Option(help="Require Recovery_Status (training data).")
    ] = False,
    stream: StreamOption = None,
    batch_rows: BatchRowsOption = None,
    dask: DaskOption = None,
) -> None:
    """Check a loan file against the canonical table; quarantine bad rows.

    An unusable email or phone, or a malformed Preferred_Language, is a warning, not a
    rejection: the loan is kept with that channel off (or the default language). --json
    adds "warnings" (how many) and "warning_reasons" (how many by reason).

    Exit code 0: every row accepted (warnings or not); 1: some rows rejected; 2: the file
    is unusable.
    """
    settings = current_settings()
    cluster = cluster_address(settings, dask)
    if cluster or should_stream(file, stream, settings):
        streamed = validate_streamed(
            file,
            settings=settings,
            mapping=mapping,
            quarantine=quarantine,
            require_label=require_label,
            batch_rows=batch_rows,
            cluster=cluster,
            as_json=as_json,
            out=stdout_console(),
            err=stderr_console(),
        )
        raise typer.Exit(EXIT_REJECTED_ROWS if streamed.tally.rejected else EXIT_OK)
    with stderr_console().status(f"Validating {file} ..."):
        outcome = run_validate(
            file,
            settings=settings,
            mapping_path=mapping,
            quarantine_path=quarantine,
            require_label=require_label,
        )
    result = outcome.result
    if as_json:
        typer.echo(json.dumps(validation_payload(result)))
    else:
        console = stdout_console()
        console.print(validation_tables(result, str(file), money=MoneyFormat(settings.display)))
        if outcome.quarantine_path is not None:
            console.print(f"Rejected rows kept in [bold]{outcome.quarantine_path}[/]")
        if outcome.warnings_path is not None:
            console.print(warnings_line(outcome.warnings_path))
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


@user_errors
def simulate(
    out: Annotated[Path, typer.Option(help="Loan table to write, .csv or .parquet.")],
    loans: Annotated[int, typer.Option(min=1, help="Number of loans.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 42,
    truth: Annotated[
        Path | None, typer.Option(help="Also write the ground truth (oracle, traits) here.")
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Logging-policy exploration share (default 0.2)."),
    ] = None,
    payments_out: Annotated[
        Path | None,
        typer.Option(help="Also write each loan's monthly instalment history here."),
    ] = None,
    months: Annotated[
        int | None,
        typer.Option(min=1, max=120, help="Months of instalment history (default 18)."),
    ] = None,
    variant: Annotated[
        str,
        typer.Option(
            help="Recovery world: 'default', or 'nonmonotone' (days past due, missed "
            "payments and collection attempts relate to recovery non-monotonically)."
        ),
    ] = "default",
    batch_rows: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Simulate and write in parts of this many loans (bounded memory; OUT may "
            "be a folder of Parquet parts). Default: in one go, unless OUT is a folder.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a synthetic portfolio with a logged recovery history (and instalments).

    --variant nonmonotone simulates the same loans and logged actions in a recovery book
    where a loan's place in collections matters more than its arrears: days past due and
    missed payments barely rank recovery, a few collection attempts beat none or many,
    and old secured defaults recover through their collateral. Use it to test models
    that assume risk only rises with arrears.

    --json prints {"loans", "out", "parts", "truth", "payments", "instalments"}: loans
    written and where, in how many parts (null when written in one go), and the ground
    truth and instalment files (null when not asked for).
    """
    if months is not None and payments_out is None:
        raise ConfigError("--months sets the instalment history's length; it needs --payments-out.")
    settings = current_settings()
    if batch_rows is not None or is_dataset_path(out):
        if payments_out is not None:
            raise ConfigError("--payments-out needs the whole book; simulate it without parts.")
        with RichProgress(stderr_console()) as progress:
            book = run_simulate_book(
                n_loans=loans,
                seed=seed,
                out=out,
                settings=settings,
                batch_rows=batch_rows or settings.compute.batch_rows,
                truth_out=truth,
                epsilon=epsilon,
                variant=variant,
                progress=progress,
            )
        written = Simulated(loans=book.loans, out=out, parts=book.parts, truth=truth)
    else:
        with stderr_console().status(f"Simulating {loans:,} loans ..."):
            outcome = run_simulate(
                n_loans=loans,
                seed=seed,
                out=out,
                truth_out=truth,
                epsilon=epsilon,
                settings=settings,
                payments_out=payments_out,
                months=months,
                variant=variant,
            )
        written = _simulated(outcome)
    if as_json:
        echo_json(asdict(written))
    else:
        _print_simulated(written)


@dataclass(frozen=True)
class Simulated:
    """What ``simulate`` wrote: the fields of its JSON document, and of its lines."""

    loans: int
    out: Path
    parts: int | None = None
    truth: Path | None = None
    payments: Path | None = None
    instalments: int | None = None


def _simulated(outcome: SimulateOutcome) -> Simulated:
    """A book simulated in one go, as ``simulate`` reports it."""
    history = outcome.payments
    return Simulated(
        loans=len(outcome.portfolio.loans),
        out=outcome.loans_path,
        truth=outcome.truth_path,
        payments=outcome.payments_path if history is not None else None,
        instalments=len(history.history) if history is not None else None,
    )


def _print_simulated(written: Simulated) -> None:
    console = stdout_console()
    if written.parts is not None:
        console.print(
            f"Wrote {written.loans:,} loans in {written.parts:,} part(s) to [bold]{written.out}[/]"
        )
    else:
        console.print(f"Wrote {written.loans:,} loans to [bold]{written.out}[/]")
    if written.truth is not None:
        console.print(f"Wrote ground truth to [bold]{written.truth}[/]")
    if written.payments is not None and written.instalments is not None:
        console.print(f"Wrote {written.instalments:,} instalments to [bold]{written.payments}[/]")


@user_errors
def profile(
    file: Annotated[Path, typer.Argument(help="Labelled loan file, .csv or .parquet.")],
    mapping: Annotated[
        Path | None, typer.Option(help="TOML file mapping your column names to canonical ones.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write the profile as HTML.")] = None,
) -> None:
    """Profile a labelled file against the risk label: missing, AUC, direction, leaks.

    Exit code 0 even when flags are found (they are findings); 2: the file is unusable.
    """
    settings = current_settings()
    with stderr_console().status(f"Profiling {file} ..."):
        outcome = run_profile(file, settings=settings, mapping_path=mapping)
    written = write_profile_html(outcome, html) if html is not None else None
    if as_json:
        typer.echo(json.dumps(json_ready(outcome.to_dict()), allow_nan=False))
        return
    console = stdout_console()
    console.print(profile_rich_tables(outcome))
    result = outcome.validation.result
    if result.rejected:
        console.print(
            f"{result.rejected:,} of {result.rows_read:,} rows rejected and left out; "
            f"kept in [bold]{outcome.validation.quarantine_path}[/]"
        )
    if written is not None:
        console.print(f"Profile written to [bold]{written}[/]")


def _report_import(
    title: str,
    counts: Mapping[str, int],
    quarantine: Path | None,
    *,
    as_json: bool,
    payload: Mapping[str, Any] | None = None,
    warnings: Path | None = None,
) -> None:
    """How `import` and `import-payments` report: ``payload`` (default: the counts) as
    JSON, or a one-row table of the counts and where the rejected rows and warnings went."""
    if as_json:
        typer.echo(json.dumps(dict(payload if payload is not None else counts)))
        return
    table = Table(title=title)
    for name in counts:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_row(*(f"{value:,}" for value in counts.values()))
    console = stdout_console()
    console.print(table)
    if quarantine is not None:
        console.print(f"Rejected rows kept in [bold]{quarantine}[/]")
    if warnings is not None:
        console.print(warnings_line(warnings))


@user_errors
def import_(
    file: Annotated[Path, typer.Argument(help="Loan file, .csv or .parquet.")],
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: beside FILE).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Loans per transaction (default: settings).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON only.")] = False,
) -> None:
    """Upsert loans (and borrowers) into the case store by Loan_ID; bad rows quarantined.

    Re-importing a file changes nothing; changed rows are updated and audited. A loan
    with an unusable email or phone is imported with that channel off and listed in
    FILE.warnings.csv (line, column, reason); --json adds "warnings" and
    "warning_reasons". Exit code 0: every row accepted (warnings or not); 1: some rows
    rejected; 2: unusable file or database.
    """
    settings = current_settings()
    require_database_driver(settings)
    with stderr_console().status(f"Importing {file} ...") as status:

        def progress(totals: UpsertCounts) -> None:
            status.update(f"Importing {file}: {totals.loans:,} loans written")

        outcome = run_import(
            file,
            settings=settings,
            mapping_path=mapping,
            quarantine_path=quarantine,
            batch_size=batch_size,
            on_batch=progress,
        )
    _report_import(
        f"Import of {file} into {outcome.database}",
        outcome.as_dict(),
        outcome.validation.quarantine_path,
        as_json=as_json,
        payload=outcome.payload(),
        warnings=outcome.validation.warnings_path,
    )
    raise typer.Exit(EXIT_REJECTED_ROWS if outcome.rejected else EXIT_OK)


@user_errors
def import_payments(
    file: Annotated[Path, typer.Argument(help="Installment file, .csv or .parquet.")],
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: beside FILE).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per transaction (default: settings).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON only.")] = False,
) -> None:
    """Upsert monthly installments (Loan_ID, Due_Date, amounts, Paid_Date) into the store.

    Re-importing a file changes nothing; rows for loans the store does not hold are
    rejected. Exit code 0: every row stored; 1: some rows rejected; 2: unusable input.
    """
    from loan_recovery.jobs.payments_import import run_import_payments

    settings = current_settings()
    require_database_driver(settings)
    with stderr_console().status(f"Importing installments from {file} ...") as status:

        def progress(totals: PaymentCounts) -> None:
            status.update(f"Importing {file}: {totals.rows:,} installments written")

        outcome = run_import_payments(
            file,
            settings=settings,
            mapping_path=mapping,
            quarantine_path=quarantine,
            batch_size=batch_size,
            on_batch=progress,
        )
    _report_import(
        f"Installments from {file} into {outcome.database}",
        outcome.as_dict(),
        outcome.quarantine_path,
        as_json=as_json,
    )
    raise typer.Exit(EXIT_REJECTED_ROWS if outcome.rejected else EXIT_OK)
