"""The streamed forms of ``validate``, ``score`` and ``plan`` as the CLI runs and shows them.

A command streams when told to (``--stream``), when its input is a folder of Parquet
files, when the input file is larger than ``compute.stream_above_mb``, or when it runs on
a Dask cluster (``--dask ADDRESS`` or ``compute.engine = "dask"``). The work itself
is :mod:`loan_recovery.jobs.stream`; this module picks the mode and prints the outcome
the way the in-memory commands do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from loan_recovery.cli.common import echo_json
from loan_recovery.cli.payloads import files_payload, plan_payload, score_payload
from loan_recovery.config import Settings
from loan_recovery.exceptions import ConfigError, UnsupportedFormatError
from loan_recovery.jobs.dask_batches import DaskBatches, cluster_address, dask_cluster
from loan_recovery.jobs.stream import StreamRun, StreamScoreRun, stream_score, stream_validate
from loan_recovery.jobs.stream_plan import StreamPlanRun, stream_plan
from loan_recovery.models.boosting import boosting_on
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.money import MoneyFormat
from loan_recovery.render import (
    RichProgress,
    plan_summary_table,
    validation_payload,
    validation_tables,
)

_MIB = 1 << 20

__all__ = [
    "cluster_address",
    "dask_training",
    "plan_streamed",
    "score_streamed",
    "should_stream",
    "validate_streamed",
]


@contextmanager
def _engine(address: str | None, err: Console) -> Iterator[DaskBatches | None]:
    """The Dask cluster at ``address`` for the command's batches; None runs them here."""
    if address is None:
        yield None
        return
    with ExitStack() as stack:
        with err.status(f"Connecting to the Dask cluster ({address}) ..."):
            cluster = stack.enter_context(dask_cluster(address))
        yield cluster


@contextmanager
def dask_training(address: str | None, err: Console) -> Iterator[None]:
    """Boosters fitted inside train on the Dask cluster at ``address`` (None: here)."""
    with _engine(address, err) as engine:
        if engine is None:
            yield
            return
        with boosting_on(engine.client):
            yield


def should_stream(path: Path, asked: bool | None, settings: Settings) -> bool:
    """``--stream``/``--no-stream`` when given; else a folder, or a file above the limit."""
    if asked is not None:
        return asked
    if path.is_dir():
        return True
    return path.is_file() and path.stat().st_size > settings.compute.stream_above_mb * _MIB


def files_lines(run: StreamRun, console: Console) -> None:
    """Where the rejected rows and the warnings of a streamed run went."""
    if run.quarantine_path is not None:
        console.print(
            f"{run.tally.rejected:,} rejected rows kept in [bold]{run.quarantine_path}[/]"
        )
    if run.warnings_path is not None:
        console.print(
            f"{sum(run.tally.warning_counts().values()):,} warning(s) listed in "
            f"[bold]{run.warnings_path}[/]"
        )


def validate_streamed(
    path: Path,
    *,
    settings: Settings,
    mapping: Path | None,
    quarantine: Path | None,
    require_label: bool,
    batch_rows: int | None,
    as_json: bool,
    out: Console,
    err: Console,
    cluster: str | None = None,
) -> StreamRun:
    """Validate ``path`` batch by batch and print the counts (or the JSON payload)."""
    with _engine(cluster, err) as engine, RichProgress(err) as progress:
        run = stream_validate(
            path,
            settings=settings,
            mapping_path=mapping,
            quarantine_path=quarantine,
            require_label=require_label,
            batch_rows=batch_rows,
            progress=progress,
            cluster=engine,
        )
    if as_json:
        typer.echo(json.dumps({**validation_payload(run.tally), "batches": run.tally.batches}))
        return run
    out.print(validation_tables(run.tally, str(path), money=MoneyFormat(settings.display)))
    out.print(f"Read in {run.tally.batches:,} batch(es) in {run.seconds:,.1f} s.")
    files_lines(run, out)
    return run


def score_streamed(
    path: Path,
    *,
    out_path: Path,
    settings: Settings,
    bundle: ModelBundle,
    mapping: Path | None,
    quarantine: Path | None,
    batch_rows: int | None,
    out: Console,
    err: Console,
    cluster: str | None = None,
    as_json: bool = False,
) -> StreamRun:
    """Score ``path`` batch by batch into ``out_path`` and say where everything went
    (or print ``score --json``'s document, with the number of batches)."""
    with _engine(cluster, err) as engine, RichProgress(err) as progress:
        scored = stream_score(
            path,
            out=out_path,
            settings=settings,
            bundle=bundle,
            mapping_path=mapping,
            quarantine_path=quarantine,
            batch_rows=batch_rows,
            progress=progress,
            cluster=engine,
        )
    if as_json:
        echo_json(_streamed_score_payload(scored, bundle.version))
        return scored.run
    out.print(
        f"Scored {scored.loans:,} loans with version {bundle.version} in "
        f"{scored.run.tally.batches:,} batch(es) -> [bold]{scored.out_path}[/]"
    )
    files_lines(scored.run, out)
    return scored.run


def plan_streamed(
    path: Path,
    *,
    out_path: Path,
    settings: Settings,
    bundle: ModelBundle,
    policy: str,
    capacity: Mapping[str, int],
    budget: float | None,
    mapping: Path | None,
    quarantine: Path | None,
    batch_rows: int | None,
    store: bool,
    out: Console,
    err: Console,
    cluster: str | None = None,
    as_json: bool = False,
) -> StreamRun:
    """Plan ``path`` batch by batch into ``out_path``; print the plan's totals (or
    ``plan --json``'s document, with the number of batches)."""
    if store:
        raise ConfigError(
            "--store writes a whole plan to the case store in one transaction; plan a "
            "streamed book without --store, then import the plan's loans in parts."
        )
    if out_path.name.lower().endswith(".xlsx"):
        raise UnsupportedFormatError(
            "a streamed plan is written as .csv, .parquet or a folder of Parquet parts; "
            "Excel holds at most 1,048,576 rows."
        )
    with _engine(cluster, err) as engine, RichProgress(err) as progress:
        planned = stream_plan(
            path,
            out=out_path,
            settings=settings,
            bundle=bundle,
            policy=policy,
            capacity=capacity,
            budget=budget,
            mapping_path=mapping,
            quarantine_path=quarantine,
            batch_rows=batch_rows,
            progress=progress,
            cluster=engine,
        )
    if as_json:
        echo_json(_streamed_plan_payload(planned, bundle.version))
        return planned.run
    out.print(plan_summary_table(planned, money=MoneyFormat(settings.display)))
    out.print(
        f"Planned {planned.loans:,} loans with version {bundle.version} ({planned.policy}) in "
        f"{planned.run.tally.batches:,} batch(es) -> [bold]{planned.out_path}[/] "
        "(in input order; worklist_rank orders the worked loans)"
    )
    if planned.prices:
        money = MoneyFormat(settings.display)
        shown = ", ".join(
            f"{name} {money.number(price, decimals=2)}" for name, price in planned.prices.items()
        )
        out.print(f"Capacity shared across the whole book; shadow prices: {shown}")
    files_lines(planned.run, out)
    return planned.run


def _run_files(run: StreamRun) -> dict[str, Any]:
    """A streamed run's files part of a payload, with the number of batches read."""
    files = files_payload(run.tally, run.quarantine_path, run.warnings_path)
    return files | {"batches": run.tally.batches}


def _streamed_score_payload(scored: StreamScoreRun, version: str) -> dict[str, Any]:
    """``score --json`` of a streamed run: as in memory, plus the batches."""
    found = score_payload(loans=scored.loans, version=version, out=scored.out_path)
    return found | _run_files(scored.run)


def _streamed_plan_payload(planned: StreamPlanRun, version: str) -> dict[str, Any]:
    """``plan --json`` of a streamed run: as in memory (no store), plus the batches."""
    found = plan_payload(
        planned,
        loans=planned.loans,
        version=version,
        out=planned.out_path,
        shadow_prices=planned.prices,
    )
    return found | {"store": None} | _run_files(planned.run)
