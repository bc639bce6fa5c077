"""Model commands: train and report the risk models, promote and list their versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loan_recovery.cli.common import (
    JsonOption,
    ModelsOption,
    current_settings,
    echo_json,
    stderr_console,
    stdout_console,
    user_errors,
)
from loan_recovery.cli.extras import TUNE, require_extra
from loan_recovery.cli.payloads import train_payload, versions_payload
from loan_recovery.cli.streaming import cluster_address, dask_training
from loan_recovery.jobs.report import run_report
from loan_recovery.jobs.train import run_train
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import metrics_rich_table
from loan_recovery.money import MoneyFormat
from loan_recovery.render import RichProgress, model_choice_lines, versions_table


@user_errors
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
    as_json: JsonOption = False,
) -> None:
    """Train risk models, calibration and segments; save a new registry version.

    --json prints {"version", "promoted", "champion_family", "rows_read", "accepted",
    "rejected", "quarantine", "metrics", "model_choice"}: "metrics" is the
    cross-validation table (candidate -> metric -> value; null with --no-cv) and
    "model_choice" how the served model was chosen.
    """
    if tune:
        require_extra(TUNE)  # before the data is read, not minutes into training
    settings = current_settings()
    cluster = cluster_address(settings, dask)
    with dask_training(cluster, stderr_console()), RichProgress(stderr_console()) as progress:
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
    if as_json:
        echo_json(train_payload(outcome))
        return
    result = outcome.validation.result
    console = stdout_console()
    console.print(
        f"Trained on {result.accepted:,} of {result.rows_read:,} rows "
        f"({result.rejected:,} rejected); champion family: "
        f"[bold]{outcome.artefacts.champion_family}[/]"
    )
    if outcome.artefacts.metrics is not None:
        console.print(metrics_rich_table(outcome.artefacts.metrics))
    for line in model_choice_lines(outcome.artefacts.model_choice):
        console.print(line, markup=False, highlight=False)
    if outcome.bundle.safety is not None:
        money = MoneyFormat(settings.display)
        console.print(outcome.bundle.safety.summary(money), markup=False, highlight=False)
    state = "and promoted to champion" if outcome.promoted else "(not promoted)"
    console.print(f"Saved version [bold]{outcome.version.version}[/] {state}")


@user_errors
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
    settings = current_settings()
    outputs = [path for path in (html, markdown) if path is not None]
    card, written = run_report(
        settings=settings, models_dir=models, version=version, outputs=outputs
    )
    if as_json:
        typer.echo(json.dumps(card.to_json_dict()))
        return
    console = stdout_console()
    console.print(f"Model {card.version} ({card.champion_family}), {card.label_definition}")
    if card.metrics is not None:
        console.print(metrics_rich_table(card.metrics))
    for path in written:
        console.print(f"Model card written to [bold]{path}[/]")


@user_errors
def promote(
    version: Annotated[str, typer.Argument(help="Version to serve, e.g. v0002.")],
    models: ModelsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make VERSION the champion that scoring, the API and the dashboard use.

    --json prints {"champion"}: the version now served.
    """
    registry = ModelRegistry(models or current_settings().registry_dir)
    registry.promote(version)
    if as_json:
        echo_json({"champion": version})
        return
    stdout_console().print(f"[bold]{version}[/] is now champion")


@user_errors
def versions(models: ModelsOption = None, as_json: JsonOption = False) -> None:
    """List the registry's versions; the champion is marked.

    --json prints {"champion", "versions"}: the champion's name (null without one) and,
    oldest first, each version's "version", "champion", "created_at",
    "champion_family" and "cv_roc_auc" (null when trained with --no-cv).
    """
    registry = ModelRegistry(models or current_settings().registry_dir)
    if as_json:
        echo_json(versions_payload(registry.versions()))
        return
    stdout_console().print(versions_table(registry.versions()))
