"""Demo job: the seeded demo portfolio under ``var/``, built once, validated, summarised,
a champion model trained on it once, and the early-warning side of the same book.

This is what ``make run`` starts. Later stages (plan, dashboard) extend it; each
artefact is built only when missing so a second run starts at once. The payment history
(``var/demo/payments.csv``) comes from the same borrowers and seed as the portfolio,
exactly as ``loan-recovery simulate --payments-out`` writes it, so the dashboard's Alerts
page and ``loan-recovery alerts`` have something to score out of the box.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data.io import write_table
from loan_recovery.jobs.early_warning import run_validate_payments, train_and_register
from loan_recovery.jobs.plan import PlanOutcome, run_plan
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.report import build_model_card
from loan_recovery.jobs.simulate import run_simulate
from loan_recovery.jobs.train import run_train
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.early_warning import early_warning_registry
from loan_recovery.models.registry import ModelRegistry, VersionInfo
from loan_recovery.models.report import ModelCard
from loan_recovery.portfolio import PortfolioSummary, summarise_portfolio
from loan_recovery.simulation.payments import simulate_payment_history
from loan_recovery.simulation.portfolio import simulate_portfolio


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """Where the demo artefacts live, all under ``settings.var_dir / "demo"``."""

    directory: Path
    portfolio: Path
    truth: Path
    payments: Path
    plan: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DemoPaths:
        directory = settings.var_dir / "demo"
        return cls(
            directory=directory,
            portfolio=directory / "portfolio.csv",
            truth=directory / "truth.parquet",
            payments=directory / "payments.csv",
            plan=directory / "plan.csv",
        )


@dataclass(frozen=True, slots=True)
class DemoEarlyWarning:
    """The demo's early-warning champion: which version, where, and whether built now."""

    registry: Path
    version: VersionInfo
    trained: bool
    payments_built: bool


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
    early_warning: DemoEarlyWarning


def _same_file(frame: pd.DataFrame, path: Path) -> bool:
    """Whether writing ``frame`` as ``path``'s format gives exactly the bytes on disk."""
    with tempfile.TemporaryDirectory(prefix="loan-recovery-demo-") as folder:
        written = write_table(frame, Path(folder) / path.name)
        return written.read_bytes() == path.read_bytes()


def _write_missing_payments(paths: DemoPaths, settings: Settings) -> bool:
    """Write the history of a portfolio built before the demo wrote payments.

    Simulates the portfolio again from the demo seed (same call and seed as
    ``run_simulate(payments_out=...)``, so the bytes equal a full build's). Returns False,
    writing nothing, when the file on disk is not that portfolio (other settings or an
    older simulator): a history would then describe other loans.
    """
    demo = settings.demo
    portfolio = simulate_portfolio(demo.loans, demo.seed, settings=settings)
    if not _same_file(portfolio.loans, paths.portfolio):
        return False
    payments = simulate_payment_history(portfolio, random_state=demo.seed, settings=settings)
    write_table(payments.history, paths.payments)
    return True


def _champion_info(registry: ModelRegistry) -> VersionInfo:
    champion = registry.resolve("champion")
    return next(info for info in registry.versions() if info.version == champion)


def _early_warning(
    paths: DemoPaths,
    loans: pd.DataFrame,
    *,
    settings: Settings,
    payments_built: bool,
    progress: ProgressReporter,
) -> DemoEarlyWarning:
    """Train and promote the early-warning model when its champion is missing or stale.

    Stale: the portfolio or the history was just (re)built. Trained exactly as
    ``loan-recovery train-early-warning`` would on the demo files, with the demo seed.
    """
    registry = early_warning_registry(settings.registry_dir, settings.early_warning)
    must_train = payments_built or registry.champion() is None
    if must_train:
        progress.start(1)
        progress.stage("Training the early-warning model")
        payments = run_validate_payments(paths.payments, settings=settings)
        train_and_register(
            payments.result.table,
            loans,
            settings=settings,
            registry=registry,
            seed=settings.demo.seed,
            promote=True,
            source=str(paths.payments),
        )
        progress.advance()
    return DemoEarlyWarning(
        registry=registry.root,
        version=_champion_info(registry),
        trained=must_train,
        payments_built=payments_built,
    )


def run_demo(
    *, settings: Settings, rebuild: bool = False, progress: ProgressReporter | None = None
) -> DemoOutcome:
    """Build the demo portfolio, its payment history and both models if missing.

    (Or all of them when ``rebuild``.) Then validate and summarise the portfolio, assemble
    the champion's model card and plan the portfolio with the learned policy
    (``var/demo/plan.csv``).
    """
    report = progress or SilentProgress()
    paths = DemoPaths.from_settings(settings)
    must_build = rebuild or not (paths.portfolio.is_file() and paths.truth.is_file())
    payments_built = must_build or not paths.payments.is_file()
    if payments_built and not must_build:
        # A portfolio from before the demo wrote payments: add its history, or rebuild
        # everything when the file is not the portfolio these settings simulate.
        must_build = not _write_missing_payments(paths, settings)
    if must_build:
        run_simulate(
            n_loans=settings.demo.loans,
            seed=settings.demo.seed,
            out=paths.portfolio,
            truth_out=paths.truth,
            payments_out=paths.payments,
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
    early_warning = _early_warning(
        paths,
        validation.result.table,
        settings=settings,
        payments_built=payments_built,
        progress=report,
    )
    return DemoOutcome(
        paths=paths,
        built=must_build,
        validation=validation,
        summary=summary,
        trained=must_train,
        model_card=build_model_card(settings=settings),
        plan=run_plan(paths.portfolio, out=paths.plan, settings=settings),
        early_warning=early_warning,
    )


def demo_is_built(settings: Settings) -> bool:
    """Whether every demo input the dashboard reads exists (files and both champions)."""
    paths = DemoPaths.from_settings(settings)
    registries = (
        ModelRegistry(settings.registry_dir),
        early_warning_registry(settings.registry_dir, settings.early_warning),
    )
    files = (paths.portfolio, paths.truth, paths.payments)
    return all(path.is_file() for path in files) and all(
        registry.champion() is not None for registry in registries
    )
