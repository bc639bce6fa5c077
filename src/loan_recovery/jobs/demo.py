"""Demo job: the seeded demo portfolio under ``var/``, built once, validated, summarised,
and a champion model trained on it once.

This is what ``make run`` starts. Later stages (plan, dashboard) extend it; each
artefact is built only when missing so a second run starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.jobs.plan import PlanOutcome, run_plan
from loan_recovery.jobs.progress import ProgressReporter
from loan_recovery.jobs.report import build_model_card
from loan_recovery.jobs.simulate import run_simulate
from loan_recovery.jobs.train import run_train
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import ModelCard
from loan_recovery.portfolio import PortfolioSummary, summarise_portfolio


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """Where the demo artefacts live, all under ``settings.var_dir / "demo"``."""

    directory: Path
    portfolio: Path
    truth: Path
    plan: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DemoPaths:
        directory = settings.var_dir / "demo"
        return cls(
            directory=directory,
            portfolio=directory / "portfolio.csv",
            truth=directory / "truth.parquet",
            plan=directory / "plan.csv",
        )


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo built (or found) and the checks it ran on it."""

    paths: DemoPaths
    built: bool
    validation: ValidateOutcome
    summary: PortfolioSummary
    trained: bool
    model_card: ModelCard
    plan: PlanOutcome


def run_demo(
    *, settings: Settings, rebuild: bool = False, progress: ProgressReporter | None = None
) -> DemoOutcome:
    """Build the demo portfolio and champion model if missing (or when ``rebuild``).

    Then validate and summarise the portfolio, assemble the champion's model card and
    plan the portfolio with the learned policy (``var/demo/plan.csv``).
    """
    paths = DemoPaths.from_settings(settings)
    must_build = rebuild or not (paths.portfolio.is_file() and paths.truth.is_file())
    if must_build:
        run_simulate(
            n_loans=settings.demo.loans,
            seed=settings.demo.seed,
            out=paths.portfolio,
            truth_out=paths.truth,
            settings=settings,
        )
    validation = run_validate(paths.portfolio, settings=settings, require_label=True)
    summary = summarise_portfolio(validation.result.table)
    registry = ModelRegistry(settings.registry_dir)
    must_train = must_build or registry.champion() is None
    if must_train:
        run_train(
            paths.portfolio,
            settings=settings,
            seed=settings.demo.seed,
            promote=True,
            progress=progress,
        )
    return DemoOutcome(
        paths=paths,
        built=must_build,
        validation=validation,
        summary=summary,
        trained=must_train,
        model_card=build_model_card(settings=settings),
        plan=run_plan(paths.portfolio, out=paths.plan, settings=settings),
    )
