"""The ``loan-recovery`` command line.

Commands are thin: parse options, call a job, render the result. This is the only place
that turns :class:`LoanRecoveryError` into a message and an exit code, so a user never
sees a traceback (``--debug`` shows one for unexpected errors).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from loan_recovery import __version__
from loan_recovery.config import Settings, load_settings
from loan_recovery.dashboard.launch import check_ready, dashboard_command, run_dashboard
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.jobs.demo import run_demo
from loan_recovery.jobs.evaluate import run_evaluate_policy
from loan_recovery.jobs.plan import parse_capacity, run_plan
from loan_recovery.jobs.report import run_report
from loan_recovery.jobs.score import run_score
from loan_recovery.jobs.simulate import run_simulate
from loan_recovery.jobs.train import run_train
from loan_recovery.jobs.validate import run_validate
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import metrics_rich_table
from loan_recovery.render import (
    RichProgress,
    evaluation_table,
    plan_summary_table,
    portfolio_tables,
    validation_payload,
    validation_tables,
    versions_table,
)

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
) -> None:
    """Check a loan file against the canonical table; quarantine bad rows.

    Exit code 0: every row accepted; 1: some rows rejected; 2: the file is unusable.
    """
    settings = _settings()
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
) -> None:
    """Write a synthetic portfolio with a logged recovery history."""
    settings = _settings()
    with _stderr().status(f"Simulating {loans:,} loans ..."):
        outcome = run_simulate(
            n_loans=loans, seed=seed, out=out, truth_out=truth, epsilon=epsilon, settings=settings
        )
    console = _stdout()
    console.print(f"Wrote {len(outcome.portfolio.loans):,} loans to [bold]{outcome.loans_path}[/]")
    if outcome.truth_path is not None:
        console.print(f"Wrote ground truth to [bold]{outcome.truth_path}[/]")


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
    cv: Annotated[bool, typer.Option(help="Cross-validate both families and baselines.")] = True,
    promote: Annotated[
        bool | None,
        typer.Option(help="Make the new version champion (default: only if none exists)."),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
) -> None:
    """Train risk models, calibration and segments; save a new registry version."""
    settings = _settings()
    console = _stdout()
    with RichProgress(_stderr()) as progress:
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
) -> None:
    """Risk score, band, asset class, segment and reasons for every valid loan."""
    settings = _settings()
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
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


@app.command()
@_user_errors
def plan(
    file: Annotated[Path, typer.Argument(help="Loans to plan, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Worklist to write: .csv, .parquet or .xlsx.")],
    models: ModelsOption = None,
    version: Annotated[str | None, typer.Option(help="Version to use (default: champion).")] = None,
    policy: Annotated[
        str, typer.Option(help="learned, threshold-rules, dpd-rule, all-<action> or random.")
    ] = "learned",
    capacity: Annotated[
        str | None, typer.Option(help="Slots per action per cycle, e.g. legal=40,call=500.")
    ] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="Total cost cap per cycle.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column-mapping TOML file.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: beside FILE).")
    ] = None,
) -> None:
    """The recovery plan: best action per loan within the rules, sorted by priority."""
    settings = _settings()
    slots = parse_capacity(capacity)
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
    console = _stdout()
    console.print(plan_summary_table(outcome.plan))
    console.print(
        f"Planned {len(outcome.plan.worklist):,} loans with version {outcome.version} "
        f"({outcome.plan.policy}) -> [bold]{outcome.out_path}[/]"
    )
    result = outcome.validation.result
    if result.rejected:
        kept = outcome.validation.quarantine_path
        console.print(f"{result.rejected:,} rejected rows kept in [bold]{kept}[/]")
    raise typer.Exit(EXIT_REJECTED_ROWS if result.rejected else EXIT_OK)


@app.command("evaluate-policy")
@_user_errors
def evaluate_policy(
    loans: Annotated[
        int, typer.Option(min=200, help="Loans of history (and fresh loans).")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of simulation and training.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score every policy against the simulator's ground truth, with off-policy estimates."""
    settings = _settings()
    with RichProgress(_stderr()) as progress:
        result = run_evaluate_policy(settings=settings, n_loans=loans, seed=seed, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.to_json_dict()))
        return
    _stdout().print(evaluation_table(result))


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
    check_ready(settings, data)
    command = dashboard_command(
        settings,
        config_file=_state.config_file,
        models_dir=models,
        data_file=data,
        host=host,
        port=port,
    )
    _stdout().print(f"Dashboard at [bold]{command.url}[/] (Ctrl+C stops it)")
    code = run_dashboard(command)
    if code != 0:
        raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)
