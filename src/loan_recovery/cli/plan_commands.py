"""Scoring and planning commands: score a book, plan its recovery, evaluate the policies."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.cli.common import (
    BatchRowsOption,
    DaskOption,
    JsonOption,
    ModelsOption,
    StreamOption,
    current_settings,
    echo_json,
    exit_code,
    json_ready,
    stderr_console,
    stdout_console,
    user_errors,
    warnings_line,
)
from loan_recovery.cli.extras import require_database_driver
from loan_recovery.cli.payloads import files_payload, plan_payload, score_payload, stored_payload
from loan_recovery.cli.streaming import (
    cluster_address,
    plan_streamed,
    score_streamed,
    should_stream,
)
from loan_recovery.config import Settings
from loan_recovery.jobs.evaluate import run_evaluate_policy
from loan_recovery.jobs.plan import PlanOutcome, parse_capacity, run_plan
from loan_recovery.jobs.score import run_score
from loan_recovery.jobs.store import run_store_plan
from loan_recovery.jobs.validate import ValidateOutcome
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.money import MoneyFormat
from loan_recovery.render import RichProgress, evaluation_table, plan_summary_table
from loan_recovery.store.db import Store, open_store, shown_url
from loan_recovery.store.loans import UpsertCounts
from loan_recovery.store.plans import StoredPlan


def _validation_files(validation: ValidateOutcome) -> dict[str, Any]:
    """The files part of an in-memory ``score``/``plan`` payload."""
    return files_payload(validation.result, validation.quarantine_path, validation.warnings_path)


def _print_rejections(validation: ValidateOutcome) -> None:
    """Where the rejected rows and the warnings of an in-memory run went, if anywhere."""
    console = stdout_console()
    result = validation.result
    if result.rejected:
        kept = validation.quarantine_path
        console.print(f"{result.rejected:,} rejected rows kept in [bold]{kept}[/]")
    if validation.warnings_path is not None:
        console.print(warnings_line(validation.warnings_path))


@user_errors
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
    as_json: JsonOption = False,
) -> None:
    """Risk score, band, asset class, segment and reasons for every valid loan.

    Streamed (--stream, or a large or folder input), OUT may also be a folder: it then
    gets one Parquet part per batch.

    --json prints {"loans", "version", "out", "rejected", "quarantine", "warnings_file",
    "validation"}: loans scored, the model version, where the scores went, rejected rows
    and where they (and the warnings) went (null: none), and validation's counts as
    validate --json gives them; streamed, also "batches".
    """
    settings = current_settings()
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
            out=stdout_console(),
            err=stderr_console(),
            as_json=as_json,
        )
        raise typer.Exit(exit_code(streamed.tally.rejected))
    with stderr_console().status(f"Scoring {file} ..."):
        outcome = run_score(
            file,
            out=out,
            settings=settings,
            models_dir=models,
            version=version,
            mapping_path=mapping,
            quarantine_path=quarantine,
        )
    loans = len(outcome.scores)
    if as_json:
        found = score_payload(loans=loans, version=outcome.version, out=outcome.out_path)
        echo_json(found | _validation_files(outcome.validation))
    else:
        stdout_console().print(
            f"Scored {loans:,} loans with version {outcome.version} -> [bold]{outcome.out_path}[/]"
        )
        _print_rejections(outcome.validation)
    raise typer.Exit(exit_code(outcome.validation.result.rejected))


class ReasonScope(StrEnum):
    """Which loans of a plan get reason codes (``explain.scope``)."""

    worked = "worked"
    all = "all"


@user_errors
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
    as_json: JsonOption = False,
) -> None:
    """The recovery plan: per loan, the action that adds most over leaving it alone (hold)
    within the rules, sorted by priority; totals against holding everything and bau.

    Reason codes are made for the loans an agent will work (--reasons all: every loan);
    the other loans' reason columns are blank.

    Streamed (--stream, or a large or folder input), the plan is written batch by batch in
    input order, OUT may be a folder of Parquet parts, and worklist_rank gives each worked
    loan's place in the whole book's worklist; capacity and a budget are shared across the
    whole book. --dask runs the batches on a Dask cluster, with the same results.

    --json prints {"loans", "version", "policy", "baseline_policy", "out", "actions",
    "totals", "shadow_prices", "store", "rejected", "quarantine", "warnings_file",
    "validation"}: "actions" maps each recommended action to its loans and expected
    recovered, cost, net and uplift; "totals" is the plan's value (net, if every loan is
    left alone, incremental, the baseline's and the gain over it); "store" what --store
    wrote (null without it); streamed, also "batches".
    """
    settings = current_settings()
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
            out=stdout_console(),
            err=stderr_console(),
            as_json=as_json,
        )
        raise typer.Exit(exit_code(streamed.tally.rejected))
    if store:
        require_database_driver(settings)
    case_store = open_store(settings) if store else None  # fail before planning, not after
    try:
        with stderr_console().status(f"Planning {file} ..."):
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
    if as_json:
        _plan_json(outcome, settings, case_store, models)
    else:
        _print_plan(outcome, settings, case_store, models)
    raise typer.Exit(exit_code(outcome.validation.result.rejected))


def _print_plan(
    outcome: PlanOutcome, settings: Settings, case_store: Store | None, models: Path | None
) -> None:
    """The plan's tables and where it went, then ``--store``'s run, then the rejections."""
    console = stdout_console()
    console.print(plan_summary_table(outcome.plan, money=MoneyFormat(settings.display)))
    console.print(
        f"Planned {len(outcome.plan.worklist):,} loans with version {outcome.version} "
        f"({outcome.plan.policy}) -> [bold]{outcome.out_path}[/]"
    )
    if case_store is not None:
        stored = _store_plan(outcome, settings, case_store, models)
        console.print(
            f"Stored run [bold]{stored.run_id}[/] in {shown_url(case_store.engine.url)}: "
            f"{stored.scores:,} scores, {stored.actions_created:,} actions planned, "
            f"{stored.actions_kept:,} kept, {stored.actions_cancelled:,} superseded"
        )
    _print_rejections(outcome.validation)


def _plan_json(
    outcome: PlanOutcome, settings: Settings, case_store: Store | None, models: Path | None
) -> None:
    """``plan --json``: the plan's document, after ``--store`` has written the run."""
    stored = None
    if case_store is not None:
        database = shown_url(case_store.engine.url)
        stored = stored_payload(_store_plan(outcome, settings, case_store, models), database)
    found = plan_payload(
        outcome.plan,
        loans=len(outcome.plan.worklist),
        version=outcome.version,
        out=outcome.out_path,
    )
    echo_json(found | {"store": stored} | _validation_files(outcome.validation))


def _store_plan(
    outcome: PlanOutcome, settings: Settings, store: Store, models: Path | None
) -> StoredPlan:
    """``plan --store``: upsert the loans, write scores and planned actions."""
    try:
        with stderr_console().status("Writing the plan to the store ...") as status:

            def progress(totals: UpsertCounts) -> None:
                status.update(f"Writing the plan to the store: {totals.loans:,} loans upserted")

            return run_store_plan(
                outcome, settings=settings, store=store, models_dir=models, on_batch=progress
            )
    finally:
        store.dispose()


@user_errors
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
    settings = current_settings()
    with RichProgress(stderr_console()) as progress:
        result = run_evaluate_policy(
            settings=settings,
            n_loans=loans,
            seed=seed,
            progress=progress,
            same_capacity=same_capacity,
            fresh_loans=fresh_loans,
        )
    if as_json:
        typer.echo(json.dumps(json_ready(result.to_json_dict()), allow_nan=False))
        return
    stdout_console().print(evaluation_table(result, money=MoneyFormat(settings.display)))
