"""The ``loan-recovery`` command line.

Commands are thin: parse options, call a job, render the result. This is the only place
that turns :class:`LoanRecoveryError` into a message and an exit code, so a user never
sees a traceback (``--debug`` shows one for unexpected errors).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from loan_recovery import __version__
from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.api.logs import LogLevel
from loan_recovery.api.server import check_serveable, run_server
from loan_recovery.cli_streaming import (
    cluster_address,
    dask_training,
    plan_streamed,
    score_streamed,
    should_stream,
    validate_streamed,
)
from loan_recovery.config import Settings, load_settings
from loan_recovery.dashboard.launch import check_ready, dashboard_command, run_dashboard
from loan_recovery.data import schema
from loan_recovery.data.sinks import is_dataset_path
from loan_recovery.exceptions import ConfigError, LoanRecoveryError
from loan_recovery.jobs.alerts import AlertsOutcome, run_alerts_files, run_alerts_store
from loan_recovery.jobs.demo import run_demo
from loan_recovery.jobs.early_warning import TrainEarlyWarningOutcome, run_train_early_warning
from loan_recovery.jobs.evaluate import run_evaluate_policy
from loan_recovery.jobs.plan import PlanOutcome, parse_capacity, run_plan
from loan_recovery.jobs.profile import profile_rich_tables, run_profile, write_profile_html
from loan_recovery.jobs.remind import (
    REMIND_HEADERS,
    OutboxListing,
    RemindOutcome,
    remind_rows,
    run_outbox_list,
    run_outbox_release,
    run_remind,
)
from loan_recovery.jobs.report import run_report
from loan_recovery.jobs.score import run_score
from loan_recovery.jobs.simulate import run_simulate, run_simulate_book
from loan_recovery.jobs.store import (
    MigrationState,
    migration_state,
    run_import,
    run_migrate,
    run_store_plan,
)
from loan_recovery.jobs.train import run_train
from loan_recovery.jobs.validate import run_validate
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import metrics_rich_table
from loan_recovery.render import (
    RichProgress,
    evaluation_table,
    model_choice_lines,
    plan_summary_table,
    portfolio_tables,
    validation_payload,
    validation_tables,
    versions_table,
)
from loan_recovery.store.apikeys import ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key
from loan_recovery.store.audit import CLI_ACTOR
from loan_recovery.store.db import Store, open_store, store_session_scope
from loan_recovery.store.loans import UpsertCounts
from loan_recovery.store.models import Role
from loan_recovery.store.payments import PaymentCounts

#: Exit codes shared by every command.
EXIT_OK = 0
EXIT_REJECTED_ROWS = 1
EXIT_UNUSABLE_INPUT = 2
EXIT_INTERNAL_ERROR = 3

app = typer.Typer(
    name="loan-recovery",
    help="Turn loan data into a recovery plan: validate, simulate, train, score, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")


class _State:
    """Options given before the command name, shared with every command."""

    config_file: Path | None = None
    debug: bool = False


_state = _State()


#: Width used when output is not a terminal (pipes, CI logs): wide enough for metric tables.
_PIPE_WIDTH = 150


def _stdout() -> Console:
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, _PIPE_WIDTH)
    return console


def _stderr() -> Console:
    return Console(stderr=True)


def _settings() -> Settings:
    return load_settings(_state.config_file)


def _user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a one-line message and exit code 2; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except typer.BadParameter:  # a bad option (combination): usage and exit 2
            raise
        except LoanRecoveryError as error:
            _stderr().print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_UNUSABLE_INPUT) from None
        except Exception as error:
            if _state.debug:
                raise
            _stderr().print(
                f"[bold red]unexpected error:[/] {type(error).__name__}: {error}\n"
                "Rerun with --debug for details and report it.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (or LOAN_RECOVERY_CONFIG)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of unexpected errors.")] = False,
) -> None:
    """loan-recovery: risk, segment, best action and worklist for every loan."""
    _state.config_file = config
    _state.debug = debug


StreamOption = Annotated[
    bool | None,
    typer.Option(
        "--stream/--no-stream",
        help="Read and write in record batches with bounded memory (default: for a folder "
        "of Parquet files or a file above compute.stream_above_mb).",
    ),
]
BatchRowsOption = Annotated[
    int | None,
    typer.Option(min=1, help="Rows per batch when streaming (default: compute.batch_rows)."),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help="Stream the batches as tasks on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or 'local' (one worker per core). Parquet input; the input, "
        "output and model registry on paths every worker sees. Default: compute.engine.",
    ),
]


@app.command()
@_user_errors
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
    settings = _settings()
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
            out=_stdout(),
            err=_stderr(),
        )
        raise typer.Exit(EXIT_REJECTED_ROWS if streamed.tally.rejected else EXIT_OK)
    with _stderr().status(f"Validating {file} ..."):
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
        console = _stdout()
        console.print(validation_tables(result, str(file)))
        if outcome.quarantine_path is not None:
            console.print(f"Rejected rows kept in [bold]{outcome.quarantine_path}[/]")
        if outcome.warnings_path is not None:
            console.print(_warnings_line(outcome.warnings_path))
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


@app.command()
@_user_errors
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
) -> None:
    """Write a synthetic portfolio with a logged recovery history (and instalments).

    --variant nonmonotone simulates the same loans and logged actions in a recovery book
    where a loan's place in collections matters more than its arrears: days past due and
    missed payments barely rank recovery, a few collection attempts beat none or many,
    and old secured defaults recover through their collateral. Use it to test models
    that assume risk only rises with arrears.
    """
    if months is not None and payments_out is None:
        raise ConfigError("--months sets the instalment history's length; it needs --payments-out.")
    settings = _settings()
    if batch_rows is not None or is_dataset_path(out):
        if payments_out is not None:
            raise ConfigError("--payments-out needs the whole book; simulate it without parts.")
        with RichProgress(_stderr()) as progress:
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
        _stdout().print(f"Wrote {book.loans:,} loans in {book.parts:,} part(s) to [bold]{out}[/]")
        if truth is not None:
            _stdout().print(f"Wrote ground truth to [bold]{truth}[/]")
        return
    with _stderr().status(f"Simulating {loans:,} loans ..."):
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
    console = _stdout()
    console.print(f"Wrote {len(outcome.portfolio.loans):,} loans to [bold]{outcome.loans_path}[/]")
    if outcome.truth_path is not None:
        console.print(f"Wrote ground truth to [bold]{outcome.truth_path}[/]")
    if outcome.payments is not None:
        console.print(
            f"Wrote {len(outcome.payments.history):,} instalments to "
            f"[bold]{outcome.payments_path}[/]"
        )


@app.command()
@_user_errors
def demo(
    rebuild: Annotated[bool, typer.Option(help="Rebuild the demo data even if present.")] = False,
) -> None:
    """Build (if missing) the seeded demo portfolio and champion model under var/; summarise."""
    settings = _settings()
    with RichProgress(_stderr()) as progress:
        outcome = run_demo(settings=settings, rebuild=rebuild, progress=progress)
    console = _stdout()
    verb = "Built" if outcome.built else "Found"
    console.print(f"{verb} demo portfolio [bold]{outcome.paths.portfolio}[/]")
    console.print(validation_tables(outcome.validation.result, str(outcome.paths.portfolio)))
    console.print(portfolio_tables(outcome.summary))
    card = outcome.model_card
    verb = "Trained" if outcome.trained else "Found"
    console.print(
        f"{verb} champion model [bold]{card.version}[/] ({card.champion_family}, "
        f"{card.calibration_method} calibration) in [bold]{settings.registry_dir}[/]"
    )
    if card.metrics is not None:
        console.print(metrics_rich_table(card.metrics))
    console.print(plan_summary_table(outcome.plan.plan))
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


ModelsOption = Annotated[
    Path | None,
    typer.Option("--models", help="Model registry folder (default: var/models or settings)."),
]


@app.command()
@_user_errors
def train(
    file: Annotated[Path, typer.Argument(help="Labelled loan history, .csv or .parquet.")],
    models: ModelsOption = None,
    seed: Annotated[int, typer.Option(help="Random seed of every stage.")] = 0,
    tune: Annotated[
        bool, typer.Option(help="Search XGBoost hyperparameters within the time budget.")
    ] = False,
    cv: Annotated[
        bool,
        typer.Option(
            help="Cross-validate every candidate (boosted trees with and without monotone "
            "constraints, forest, scorecard) and the baselines; --no-cv fits boosted trees only."
        ),
    ] = True,
    promote: Annotated[
        bool | None,
        typer.Option(help="Make the new version champion (default: only if none exists)."),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Fit the served risk booster and the outcome boosters with xgboost.dask on "
            "this cluster (tcp://host:8786, or 'local'). Default: compute.engine.",
        ),
    ] = None,
) -> None:
    """Train risk models, calibration and segments; save a new registry version."""
    settings = _settings()
    console = _stdout()
    cluster = cluster_address(settings, dask)
    with dask_training(cluster, _stderr()), RichProgress(_stderr()) as progress:
        outcome = run_train(
            file,
            settings=settings,
            models_dir=models,
            seed=seed,
            tune=tune,
            cross_validate=cv,
            promote=promote,
            mapping_path=mapping,
            progress=progress,
        )
    result = outcome.validation.result
    console.print(
        f"Trained on {result.accepted:,} of {result.rows_read:,} rows "
        f"({result.rejected:,} rejected); champion family: "
        f"[bold]{outcome.artefacts.champion_family}[/]"
    )
    if outcome.artefacts.metrics is not None:
        console.print(metrics_rich_table(outcome.artefacts.metrics))
    for line in model_choice_lines(outcome.artefacts.model_choice):
        console.print(line, markup=False, highlight=False)
    state = "and promoted to champion" if outcome.promoted else "(not promoted)"
    console.print(f"Saved version [bold]{outcome.version.version}[/] {state}")


@app.command()
@_user_errors
def score(
    file: Annotated[Path, typer.Argument(help="Loans to score, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Scores file to write, .csv or .parquet.")],
    models: ModelsOption = None,
    version: Annotated[str | None, typer.Option(help="Version to use (default: champion).")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: beside FILE).")
    ] = None,
    stream: StreamOption = None,
    batch_rows: BatchRowsOption = None,
    dask: DaskOption = None,
) -> None:
    """Risk score, band, asset class, segment and reasons for every valid loan.

    Streamed (--stream, or a large or folder input), OUT may also be a folder: it then
    gets one Parquet part per batch.
    """
    settings = _settings()
    cluster = cluster_address(settings, dask)
    if cluster or should_stream(file, stream, settings):
        streamed = score_streamed(
            file,
            out_path=out,
            settings=settings,
            bundle=load_bundle(ModelRegistry(models or settings.registry_dir), version),
            mapping=mapping,
            quarantine=quarantine,
            batch_rows=batch_rows,
            cluster=cluster,
            out=_stdout(),
            err=_stderr(),
        )
        raise typer.Exit(EXIT_REJECTED_ROWS if streamed.tally.rejected else EXIT_OK)
    with _stderr().status(f"Scoring {file} ..."):
        outcome = run_score(
            file,
            out=out,
            settings=settings,
            models_dir=models,
            version=version,
            mapping_path=mapping,
            quarantine_path=quarantine,
        )
    result = outcome.validation.result
    console = _stdout()
    console.print(
        f"Scored {len(outcome.scores):,} loans with version {outcome.version} "
        f"-> [bold]{outcome.out_path}[/]"
    )
    if result.rejected:
        kept = outcome.validation.quarantine_path
        console.print(f"{result.rejected:,} rejected rows kept in [bold]{kept}[/]")
    if outcome.validation.warnings_path is not None:
        console.print(_warnings_line(outcome.validation.warnings_path))
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


class ReasonScope(StrEnum):
    """Which loans of a plan get reason codes (``explain.scope``)."""

    worked = "worked"
    all = "all"


@app.command()
@_user_errors
def plan(
    file: Annotated[Path, typer.Argument(help="Loans to plan, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Worklist to write: .csv, .parquet or .xlsx.")],
    models: ModelsOption = None,
    version: Annotated[str | None, typer.Option(help="Version to use (default: champion).")] = None,
    policy: Annotated[
        str,
        typer.Option(
            help="learned, bau, threshold-rules, random or all-<arm> (all-hold included)."
        ),
    ] = "learned",
    capacity: Annotated[
        str | None, typer.Option(help="Slots per action per cycle, e.g. legal=40,call=500.")
    ] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="Total cost cap per cycle.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: beside FILE).")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Also write the plan to the case store: loans upserted, one score per loan, "
            "planned actions.",
        ),
    ] = False,
    reasons: Annotated[
        ReasonScope | None,
        typer.Option(
            help="Which loans get reason codes: worked (the worklist's worked loans, up to "
            "explain.worked_loans; every loan of a file of at most explain.all_below) or "
            "all (default: settings, worked)."
        ),
    ] = None,
    stream: StreamOption = None,
    batch_rows: BatchRowsOption = None,
    dask: DaskOption = None,
) -> None:
    """The recovery plan: per loan, the action that adds most over leaving it alone (hold)
    within the rules, sorted by priority; totals against holding everything and bau.

    Reason codes are made for the loans an agent will work (--reasons all: every loan);
    the other loans' reason columns are blank.

    Streamed (--stream, or a large or folder input), the plan is written batch by batch in
    input order, OUT may be a folder of Parquet parts, and worklist_rank gives each worked
    loan's place in the whole book's worklist; capacity and a budget are shared across the
    whole book. --dask runs the batches on a Dask cluster, with the same results.
    """
    settings = _settings()
    if reasons is not None:
        settings = settings.with_explain(scope=reasons.value)
    slots = parse_capacity(capacity)
    cluster = cluster_address(settings, dask)
    if cluster or should_stream(file, stream, settings):
        streamed = plan_streamed(
            file,
            out_path=out,
            settings=settings,
            bundle=load_bundle(ModelRegistry(models or settings.registry_dir), version),
            policy=policy,
            capacity=slots,
            budget=budget,
            mapping=mapping,
            quarantine=quarantine,
            batch_rows=batch_rows,
            cluster=cluster,
            store=store,
            out=_stdout(),
            err=_stderr(),
        )
        raise typer.Exit(EXIT_REJECTED_ROWS if streamed.tally.rejected else EXIT_OK)
    case_store = open_store(settings) if store else None  # fail before planning, not after
    try:
        with _stderr().status(f"Planning {file} ..."):
            outcome = run_plan(
                file,
                out=out,
                settings=settings,
                models_dir=models,
                version=version,
                policy=policy,
                capacity=slots,
                budget=budget,
                mapping_path=mapping,
                quarantine_path=quarantine,
            )
    except BaseException:
        if case_store is not None:
            case_store.dispose()
        raise
    console = _stdout()
    console.print(plan_summary_table(outcome.plan))
    console.print(
        f"Planned {len(outcome.plan.worklist):,} loans with version {outcome.version} "
        f"({outcome.plan.policy}) -> [bold]{outcome.out_path}[/]"
    )
    if case_store is not None:
        _store_plan(outcome, settings, case_store, models)
    result = outcome.validation.result
    if result.rejected:
        kept = outcome.validation.quarantine_path
        console.print(f"{result.rejected:,} rejected rows kept in [bold]{kept}[/]")
    if outcome.validation.warnings_path is not None:
        console.print(_warnings_line(outcome.validation.warnings_path))
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


def _store_plan(
    outcome: PlanOutcome, settings: Settings, store: Store, models: Path | None
) -> None:
    """``plan --store``: upsert the loans, write scores and planned actions, report."""
    try:
        with _stderr().status("Writing the plan to the store ...") as status:

            def progress(totals: UpsertCounts) -> None:
                status.update(f"Writing the plan to the store: {totals.loans:,} loans upserted")

            stored = run_store_plan(
                outcome, settings=settings, store=store, models_dir=models, on_batch=progress
            )
    finally:
        store.dispose()
    _stdout().print(
        f"Stored run [bold]{stored.run_id}[/] in {_shown(store)}: {stored.scores:,} scores, "
        f"{stored.actions_created:,} actions planned, {stored.actions_kept:,} kept, "
        f"{stored.actions_cancelled:,} superseded"
    )


@app.command("evaluate-policy")
@_user_errors
def evaluate_policy(
    loans: Annotated[int, typer.Option(min=200, help="Loans of simulated history.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of simulation and training.")] = 0,
    same_capacity: Annotated[
        bool,
        typer.Option(
            "--same-capacity",
            help="Hold every policy to BAU's own use of the capacity-limited actions "
            f"({', '.join(CAPACITY_LIMITED)}).",
        ),
    ] = False,
    fresh_loans: Annotated[
        int | None,
        typer.Option(min=200, help="Fresh loans the policies are scored on (default: --loans)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score every policy against the simulator's ground truth and against BAU.

    Trains on a simulated history, then compares the learned policy, the lender's current
    rule (bau), the simple rules and every single arm on fresh loans: true net recovery,
    gain over holding everything and over BAU, and the doubly robust estimate a lender
    could make from its own logs, with its 95% interval and the chance it beats BAU.
    """
    settings = _settings()
    with RichProgress(_stderr()) as progress:
        result = run_evaluate_policy(
            settings=settings,
            n_loans=loans,
            seed=seed,
            progress=progress,
            same_capacity=same_capacity,
            fresh_loans=fresh_loans,
        )
    if as_json:
        typer.echo(json.dumps(_json_ready(result.to_json_dict()), allow_nan=False))
        return
    _stdout().print(evaluation_table(result))


def _json_ready(value: object) -> object:
    """``value`` with every non-finite float as null: JSON has no NaN, and a ratio to a zero
    BAU value (or an empty interval) is not a number a client could parse."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


@app.command()
@_user_errors
def report(
    models: ModelsOption = None,
    version: Annotated[
        str | None, typer.Option(help="Version to report (default: champion).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write the model card as HTML.")] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write the model card as Markdown with PNG charts.")
    ] = None,
) -> None:
    """Metrics of both families and baselines, and the model card."""
    settings = _settings()
    outputs = [path for path in (html, markdown) if path is not None]
    card, written = run_report(
        settings=settings, models_dir=models, version=version, outputs=outputs
    )
    if as_json:
        typer.echo(json.dumps(card.to_json_dict()))
        return
    console = _stdout()
    console.print(f"Model {card.version} ({card.champion_family}), {card.label_definition}")
    if card.metrics is not None:
        console.print(metrics_rich_table(card.metrics))
    for path in written:
        console.print(f"Model card written to [bold]{path}[/]")


@app.command()
@_user_errors
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
    settings = _settings()
    with _stderr().status(f"Profiling {file} ..."):
        outcome = run_profile(file, settings=settings, mapping_path=mapping)
    written = write_profile_html(outcome, html) if html is not None else None
    if as_json:
        typer.echo(json.dumps(_json_ready(outcome.to_dict()), allow_nan=False))
        return
    console = _stdout()
    console.print(profile_rich_tables(outcome))
    result = outcome.validation.result
    if result.rejected:
        console.print(
            f"{result.rejected:,} of {result.rows_read:,} rows rejected and left out; "
            f"kept in [bold]{outcome.validation.quarantine_path}[/]"
        )
    if written is not None:
        console.print(f"Profile written to [bold]{written}[/]")


@app.command()
@_user_errors
def promote(
    version: Annotated[str, typer.Argument(help="Version to serve, e.g. v0002.")],
    models: ModelsOption = None,
) -> None:
    """Make VERSION the champion that scoring, the API and the dashboard use."""
    registry = ModelRegistry(models or _settings().registry_dir)
    registry.promote(version)
    _stdout().print(f"[bold]{version}[/] is now champion")


@app.command()
@_user_errors
def versions(models: ModelsOption = None) -> None:
    """List the registry's versions; the champion is marked."""
    registry = ModelRegistry(models or _settings().registry_dir)
    _stdout().print(versions_table(registry.versions()))


@app.command()
@_user_errors
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
    overrides: dict[str, object] = {} if models is None else {"models_dir": models}
    settings = load_settings(_state.config_file, **overrides)
    check_ready(settings, data, payments)
    command = dashboard_command(
        settings,
        config_file=_state.config_file,
        models_dir=models,
        data_file=data,
        payments_file=payments,
        host=host,
        port=port,
    )
    _stdout().print(f"Dashboard at [bold]{command.url}[/] (Ctrl+C stops it)")
    code = run_dashboard(command)
    if code != 0:
        raise typer.Exit(code)


@app.command()
@_user_errors
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
        LogLevel, typer.Option(help="Server log level; request bodies are never logged.")
    ] = LogLevel.INFO,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Start the REST API (uvicorn) with the registry's champion; docs at /docs.

    Checks first that a champion exists and the case store is migrated, so a broken setup
    fails here with a message instead of a server that is never ready. Header and body
    caps and slow-client timeouts come from the api.limits settings (docs/http-limits.md).
    """
    overrides: dict[str, object] = {} if models is None else {"models_dir": models}
    settings = load_settings(_state.config_file, **overrides)
    api = settings.api
    host = host or api.host
    port = port or api.port
    version = check_serveable(settings)
    _stderr().print(
        f"Serving model [bold]{version}[/] at [bold]http://{host}:{port}[/] "
        f"(docs at /docs; Ctrl+C stops it)",
        highlight=False,
    )
    run_server(
        host=host,
        port=port,
        workers=workers or api.workers,
        config_file=_state.config_file,
        models_dir=models,
        log_level=log_level.value,
        access_log=access_log,
        limits=api.limits,
    )


# --- the case store ---------------------------------------------------------------------------
db_app = typer.Typer(
    help="The case store's schema: apply or undo migrations, show the revision.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
apikey_app = typer.Typer(
    help="API keys: create (the key is shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(apikey_app, name="apikey")


def _shown(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=True)


def _print_state(state: MigrationState) -> None:
    where = "head" if state.up_to_date else f"head is {state.head}"
    current = state.current or "none (empty database)"
    _stdout().print(f"Database {state.database} at revision [bold]{current}[/] ({where})")


@db_app.command("upgrade")
@_user_errors
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
) -> None:
    """Create or migrate the store's tables (SQLite under var/ unless DATABASE_URL says)."""
    _print_state(run_migrate(_settings(), direction="upgrade", revision=revision))


@db_app.command("downgrade")
@_user_errors
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Revision to return to; 'base' drops every table.")
    ] = "-1",
) -> None:
    """Undo migrations (default: the last one). 'base' deletes all stored data."""
    _print_state(run_migrate(_settings(), direction="downgrade", revision=revision))


@db_app.command("current")
@_user_errors
def db_current() -> None:
    """Show the database's revision and whether it is up to date."""
    state = migration_state(_settings())
    _print_state(state)
    if not state.up_to_date:
        _stdout().print("Run [bold]loan-recovery db upgrade[/] to bring it up to date.")


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
    console = _stdout()
    console.print(table)
    if quarantine is not None:
        console.print(f"Rejected rows kept in [bold]{quarantine}[/]")
    if warnings is not None:
        console.print(_warnings_line(warnings))


def _warnings_line(path: Path) -> str:
    """Where the warnings went, and what they mean for the loans."""
    return (
        f"Warnings (loans kept; an unusable email or phone turns that channel off, a bad "
        f"language becomes the default) listed in [bold]{path}[/]"
    )


@app.command("import")
@_user_errors
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
    settings = _settings()
    with _stderr().status(f"Importing {file} ...") as status:

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


@apikey_app.command("create")
@_user_errors
def apikey_create(
    role: Annotated[Role, typer.Option(help="viewer: read; agent: work cases; admin: all.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key; the audit log's actor.")],
) -> None:
    """Create an API key and print it once: only its hash is stored."""
    store = open_store(_settings())
    try:
        with store.transaction() as session:
            created = create_api_key(session, name=name, role=role.value, actor=CLI_ACTOR)
    finally:
        store.dispose()
    info = created.info
    _stderr().print(
        f"Created API key [bold]{info.key_id}[/] for {info.name} ({info.role}). "
        "This is the only time it is shown; store it now:",
        highlight=False,
    )
    typer.echo(created.key)


def _keys_table(keys: list[ApiKeyInfo]) -> Table:
    table = Table(title="API keys")
    for header in ("id", "name", "role", "created (UTC)", "revoked (UTC)"):
        table.add_column(header)
    for key in keys:
        revoked = "" if key.revoked_at is None else f"{key.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(key.key_id, key.name, key.role, f"{key.created_at:%Y-%m-%d %H:%M}", revoked)
    return table


@apikey_app.command("list")
@_user_errors
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """List API keys (ids, names, roles; never the keys)."""
    store = open_store(_settings())
    try:
        with store.transaction() as session:
            keys = list_api_keys(session)
    finally:
        store.dispose()
    if as_json:
        payload = [
            {
                "key_id": key.key_id,
                "name": key.name,
                "role": key.role,
                "created_at": key.created_at.isoformat(),
                "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
            }
            for key in keys
        ]
        typer.echo(json.dumps(payload))
        return
    _stdout().print(_keys_table(keys))


@apikey_app.command("revoke")
@_user_errors
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id, as `apikey list` shows.")],
) -> None:
    """Revoke an API key: it stops working at once; its audit trail stays."""
    store = open_store(_settings())
    try:
        with store.transaction() as session:
            info = revoke_api_key(session, key_id=key_id, actor=CLI_ACTOR)
    finally:
        store.dispose()
    _stdout().print(f"API key [bold]{info.key_id}[/] ({info.name}) revoked")


# --- payments and reminders -------------------------------------------------------------------
@app.command("import-payments")
@_user_errors
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

    settings = _settings()
    with _stderr().status(f"Importing installments from {file} ...") as status:

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


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO time such as 2026-03-02T09:30:00+05:30; got {text!r}",
            param_hint="--now",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: Rows of the dry-run table shown on screen (the rest are counted).
_REMIND_ROWS = 200


def _remind_table(outcome: RemindOutcome) -> Table:
    """The dry run's decisions, one row per target; addresses arrive already masked."""
    title = "Reminders (dry run: nothing written or sent)" if outcome.dry_run else "Reminders"
    table = Table(title=f"{title} at {outcome.now:%Y-%m-%d %H:%M} UTC")
    for header in REMIND_HEADERS:
        table.add_column(header, justify="right" if header == "amount due" else "left")
    for row in remind_rows(outcome.view.head(_REMIND_ROWS)):
        table.add_row(*row)
    return table


@app.command()
@_user_errors
def remind(
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Worklist from `plan`: its loans recommended `reminder`."),
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option("--from-store", help="Loans whose latest stored score recommends reminder."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what would be sent, deferred or held; write and send nothing."
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Act as at this ISO time (UTC unless it has an offset)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON only.")] = False,
    alerts_file: Annotated[
        Path | None,
        typer.Option(
            "--alerts",
            help="Alerts file from `alerts --out`: its alerts suggesting reminder are "
            "reminded too (with --plan, or alone).",
        ),
    ] = None,
    no_alerts: Annotated[
        bool,
        typer.Option("--no-alerts", help="With --from-store: do not score early-warning alerts."),
    ] = False,
    models: ModelsOption = None,
) -> None:
    """Queue reminders under the contact rules and send the due ones (email and SMS).

    Targets: loans recommended `reminder` (--plan FILE or --from-store) and early-warning
    alerts whose suggested action is reminder (campaign `early-warning`): with
    --from-store they are scored from the stored installments with the early-warning
    champion (skipped, with a note, when there is none); with --plan, give --alerts FILE.
    Each loan gets one reminder per campaign and day, however often this runs; messages
    outside the borrower's hours, on holidays or over the 7-in-7 cap wait for the next
    allowed slot and go out on a later run. Without targets it only sends what is
    already queued.

    One message that cannot be sent (a bad address, a template error, a refusal) never
    stops the run: it is marked failed with its reason and the rest go on. Exit code 0
    when nothing failed, 1 when some messages failed (counted by reason; see
    `outbox list --state failed`), 2 for unusable input or settings.
    """
    if plan_file is not None and from_store:
        raise typer.BadParameter("give --plan or --from-store, not both", param_hint="--plan")
    if alerts_file is not None and from_store:
        raise typer.BadParameter(
            "--alerts goes with --plan (or alone); --from-store scores alerts from the store",
            param_hint="--alerts",
        )
    if alerts_file is not None and no_alerts:
        raise typer.BadParameter("give --alerts or --no-alerts, not both", param_hint="--alerts")
    moment = _parse_now(now)
    settings = _settings()
    with _stderr().status("Preparing reminders ..."):
        outcome = run_remind(
            settings=settings,
            plan_path=plan_file,
            from_store=from_store,
            now=moment,
            dry_run=dry_run,
            alerts_path=alerts_file,
            use_alerts=not no_alerts,
            models_dir=models,
        )
    failed = 0 if outcome.dispatch is None else outcome.dispatch.failed
    if as_json:
        typer.echo(json.dumps(outcome.as_dict()))
        raise typer.Exit(EXIT_REJECTED_ROWS if failed else EXIT_OK)
    console = _stdout()
    if outcome.alerts_note is not None:
        _stderr().print(f"[yellow]note:[/] {outcome.alerts_note}", highlight=False, soft_wrap=True)
    language_note = outcome.language_note()
    if language_note is not None:
        _stderr().print(f"[yellow]note:[/] {language_note}", highlight=False, soft_wrap=True)
    if dry_run and len(outcome.view):
        console.print(_remind_table(outcome))
        if len(outcome.view) > _REMIND_ROWS:
            console.print(f"... and {len(outcome.view) - _REMIND_ROWS:,} more")
    decided = ", ".join(f"{count:,} {name}" for name, count in outcome.decisions.items())
    verb = "would queue" if dry_run else "queued"
    console.print(
        f"{outcome.targets:,} targets ({decided}); {verb} {outcome.queued:,}, "
        f"{outcome.already_queued:,} already queued, {outcome.not_queued:,} unknown loans; "
        f"{outcome.due_now:,} queued messages due now"
    )
    if outcome.alerts:
        console.print(
            f"{outcome.alert_targets:,} of the targets come from {outcome.alerts:,} "
            "early-warning alerts (source: alert)"
        )
    if outcome.dispatch is not None:
        dispatch = outcome.dispatch
        counts = [
            (name, count) for name, count in dispatch.as_dict().items() if name != "failed_reasons"
        ]
        console.print(f"Dispatch: {', '.join(f'{count:,} {name}' for name, count in counts)}")
        if dispatch.unconfirmed or dispatch.recovered_unconfirmed:
            console.print(
                "Delivery in doubt: check the mail server's log, then settle them "
                "(`loan-recovery outbox list --state held --reason unconfirmed`, "
                "`outbox release ID`).",
                highlight=False,
            )
        if failed:
            reasons = ", ".join(
                f"{count:,} {reason}" for reason, count in dispatch.failed_reasons.items()
            )
            console.print(
                f"[bold red]{failed:,} failed[/] ({reasons}); the rest of the run went on. "
                "List them with `loan-recovery outbox list --state failed`.",
                highlight=False,
            )
    raise typer.Exit(EXIT_REJECTED_ROWS if failed else EXIT_OK)


# --- the outbox -------------------------------------------------------------------------------
outbox_app = typer.Typer(
    help="The reminder outbox: list messages, settle ones in doubt or stuck.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")

#: Characters of a message's last error shown in `outbox list`.
_ERROR_WIDTH = 60


def _outbox_table(listing: OutboxListing) -> Table:
    """A page of outbox messages; addresses masked, no names."""
    page = listing.page
    shown = f"{page.offset + 1:,}-{page.offset + len(page.items):,}" if page.items else "none"
    table = Table(title=f"Outbox messages {shown} of {page.total:,} (newest first)")
    headers = ("id", "loan", "campaign", "date", "channel", "to", "status", "reason")
    for header in (*headers, "tries", "scheduled (UTC)", "last error"):
        table.add_column(header, justify="right" if header in ("id", "tries") else "left")
    for item in page.items:
        error = (item.last_error or "")[:_ERROR_WIDTH]
        table.add_row(
            str(item.id),
            item.loan_id,
            item.campaign,
            item.campaign_date.isoformat(),
            item.channel,
            listing.to.get(item.id, ""),
            item.status,
            item.reason or "",
            str(item.attempts),
            f"{item.scheduled_for:%Y-%m-%d %H:%M}",
            error,
        )
    return table


@outbox_app.command("list")
@_user_errors
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(
            "--state",
            "--status",
            help="Only this state: pending, deferred, sending, delivering, sent, failed, held.",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Only this reason, e.g. unconfirmed, opted-out, quiet-hours, invalid-address, "
            "retries-exhausted."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000, help="Messages shown.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Messages skipped (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON.")] = False,
) -> None:
    """List outbox messages, newest first, with masked addresses and counts per state.

    A failed message shows why (reason and last error; never the address). A message held
    as `unconfirmed` (its delivery was in doubt when a sender stopped), or still
    `sending`/`delivering` after its sender stopped, waits for a person: check the mail
    server's log, then `outbox release ID`.
    """
    listing = run_outbox_list(
        settings=_settings(), status=status, reason=reason, limit=limit, offset=offset
    )
    if as_json:
        items = [{**asdict(item), "to": listing.to.get(item.id, "")} for item in listing.page.items]
        payload = {"total": listing.page.total, "counts": listing.counts, "items": items}
        typer.echo(json.dumps(payload, default=str))
        return
    console = _stdout()
    console.print(_outbox_table(listing))
    counts = ", ".join(f"{count:,} {name}" for name, count in listing.counts.items() if count)
    console.print(f"Outbox: {counts or 'empty'}")
    if listing.unconfirmed:
        console.print(
            f"{listing.unconfirmed:,} held as unconfirmed (`outbox list --reason unconfirmed`): "
            "check the mail server's log, then `outbox release ID --resend` or `--mark-sent`.",
            highlight=False,
        )
    in_flight = listing.counts.get("sending", 0) + listing.counts.get("delivering", 0)
    if in_flight:
        console.print(
            f"{in_flight:,} in flight (`outbox list --state sending`, `--state delivering`): "
            "a sender holds them now, or stopped; the next `remind` run settles those older "
            "than notify.claim_lease_seconds, or settle one with `outbox release ID`.",
            highlight=False,
        )
    if listing.counts.get("failed", 0):
        console.print(
            f"{listing.counts['failed']:,} failed (`outbox list --state failed`): the reason "
            "column says why; they are not sent again.",
            highlight=False,
        )


@outbox_app.command("release")
@_user_errors
def outbox_release(
    outbox_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="Id from `outbox list`.")],
    resend: Annotated[
        bool,
        typer.Option("--resend", help="It never arrived (or is not sent yet): send it now."),
    ] = False,
    mark_sent: Annotated[
        bool,
        typer.Option("--mark-sent", help="It did arrive (the mail log says so): record it sent."),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Act as at this ISO time (UTC unless it has an offset)."),
    ] = None,
) -> None:
    """Settle a message that is not final: in doubt, stuck in flight, or waiting.

    --resend puts it back in the queue, due now: the next `remind` run asks the contact
    rules again and sends it. --mark-sent records it as sent. By state: held as
    unconfirmed, or `delivering` (claimed longer than notify.claim_lease_seconds ago):
    either, after checking the
    mail server's log. `sending` (its handover never began, so it cannot have arrived),
    `pending`, `deferred`: --resend only. `sent`, `failed` and held by the contact rules
    are final. Both choices are audited.
    """
    if resend == mark_sent:
        raise ConfigError("give exactly one of --resend and --mark-sent.")
    moment = _parse_now(now)
    record = run_outbox_release(outbox_id, settings=_settings(), resend=resend, now=moment)
    then = (
        "it goes out on the next `loan-recovery remind` run" if resend else "recorded as delivered"
    )
    _stdout().print(
        f"Outbox message [bold]{record.id}[/] (loan {record.loan_id}, {record.channel}) is "
        f"now {record.status}: {then}",
        highlight=False,
    )


# --- early warning ----------------------------------------------------------------------------
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


@app.command("train-early-warning")
@_user_errors
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
    settings = _settings()
    with _stderr().status("Training the early-warning model ..."):
        outcome = run_train_early_warning(
            payments, loans, settings=settings, models_dir=models, seed=seed, promote=promote
        )
    evaluation = outcome.training.evaluation
    if as_json:
        payload = {"version": outcome.version.version, "promoted": outcome.promoted}
        typer.echo(json.dumps(payload | evaluation.to_json_dict()))
        return
    console = _stdout()
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


@app.command()
@_user_errors
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
) -> None:
    """Loans likely to reach 60+ DPD within 3 months, with reasons and a pre-emptive action.

    Give --payments and --loans (files), or --from-store (the case store's loans and the
    installments `import-payments` loaded). Exit code 0: every row of both files accepted;
    1: some rows rejected (quarantined beside the file); 2: unusable input, an empty
    store or no early-warning model.
    """
    if from_store and (payments is not None or loans is not None):
        raise ConfigError("give --from-store or --payments and --loans, not both.")
    if not from_store and (payments is None or loans is None):
        raise ConfigError(
            "give --payments FILE and --loans FILE, or --from-store to score the case store."
        )
    settings = _settings()
    with _stderr().status("Scoring early-warning alerts ..."):
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
    console = _stdout()
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
    raise typer.Exit(EXIT_REJECTED_ROWS if outcome.rejected else EXIT_OK)


def _cutoff_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--cutoff must be a date as YYYY-MM-DD; got {text!r}.") from None


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)
