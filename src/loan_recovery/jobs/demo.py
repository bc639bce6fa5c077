"""Demo job: the seeded demo portfolio under ``var/``, built once, validated and summarised.

This is what ``make run`` starts. Later stages (models, plan, dashboard) extend it; each
artefact is built only when missing so a second run starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.jobs.simulate import run_simulate
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.portfolio import PortfolioSummary, summarise_portfolio


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """Where the demo artefacts live, all under ``settings.var_dir / "demo"``."""

    directory: Path
    portfolio: Path
    truth: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DemoPaths:
        directory = settings.var_dir / "demo"
        return cls(
            directory=directory,
            portfolio=directory / "portfolio.csv",
            truth=directory / "truth.parquet",
        )


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo built (or found) and the checks it ran on it."""

    paths: DemoPaths
    built: bool
    validation: ValidateOutcome
    summary: PortfolioSummary


def run_demo(*, settings: Settings, rebuild: bool = False) -> DemoOutcome:
    """Build the demo portfolio if missing (or when ``rebuild``), validate and summarise it."""
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
    return DemoOutcome(paths=paths, built=must_build, validation=validation, summary=summary)
