"""Simulate job: write a synthetic portfolio and, separately, its ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.data.io import write_table
from loan_recovery.data.sinks import TableSink
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.simulation.book import simulate_book
from loan_recovery.simulation.payments import SimulatedPayments, simulate_payment_history
from loan_recovery.simulation.portfolio import (
    DEFAULT_VARIANT,
    SimulatedPortfolio,
    simulate_portfolio,
)


@dataclass(frozen=True, slots=True)
class SimulateOutcome:
    """The simulated frames and the files written."""

    portfolio: SimulatedPortfolio
    loans_path: Path
    truth_path: Path | None
    payments: SimulatedPayments | None = None
    payments_path: Path | None = None


def run_simulate(
    *,
    n_loans: int,
    seed: int,
    out: Path,
    settings: Settings,
    truth_out: Path | None = None,
    epsilon: float | None = None,
    payments_out: Path | None = None,
    months: int | None = None,
    variant: str = DEFAULT_VARIANT,
) -> SimulateOutcome:
    """Simulate ``n_loans`` with ``seed`` and write the loan table (and truth if asked).

    With ``payments_out``, also write each loan's monthly instalment history as known on
    the as-of date (``months`` of it; default ``settings.early_warning.history_months``),
    simulated from the same borrowers with the same seed. ``variant`` picks the simulator's
    recovery world (``simulation.portfolio.VARIANTS``; ``"nonmonotone"``: days past due,
    missed payments and collection attempts relate to recovery non-monotonically).
    """
    portfolio = simulate_portfolio(
        n_loans, seed, settings=settings, epsilon=epsilon, variant=variant
    )
    loans_path = write_table(portfolio.loans, out)
    truth_path = write_table(portfolio.truth, truth_out) if truth_out is not None else None
    payments: SimulatedPayments | None = None
    payments_path: Path | None = None
    if payments_out is not None:
        payments = simulate_payment_history(
            portfolio, random_state=seed, months=months, settings=settings
        )
        payments_path = write_table(payments.history, payments_out)
    return SimulateOutcome(
        portfolio=portfolio,
        loans_path=loans_path,
        truth_path=truth_path,
        payments=payments,
        payments_path=payments_path,
    )


@dataclass(frozen=True, slots=True)
class SimulatedBook:
    """A book simulated part by part: how many loans, in how many parts, and where."""

    loans: int
    parts: int
    loans_path: Path
    truth_path: Path | None


def run_simulate_book(
    *,
    n_loans: int,
    seed: int,
    out: Path,
    settings: Settings,
    batch_rows: int,
    truth_out: Path | None = None,
    epsilon: float | None = None,
    variant: str = DEFAULT_VARIANT,
    progress: ProgressReporter | None = None,
) -> SimulatedBook:
    """Simulate ``n_loans`` in parts of ``batch_rows`` and append each part to ``out`` (a
    CSV, a Parquet file, or a folder of Parquet parts), so memory stays that of one part.
    """
    report = progress or SilentProgress()
    report.start(n_loans)
    parts = 0
    loans_sink = TableSink(out)
    truth_sink = TableSink(truth_out) if truth_out is not None else None
    try:
        for part in simulate_book(
            n_loans,
            seed,
            batch_rows=batch_rows,
            settings=settings,
            epsilon=epsilon,
            variant=variant,
        ):
            loans_sink.write(part.loans)
            if truth_sink is not None:
                truth_sink.write(part.truth)
            parts += 1
            report.advance(len(part.loans))
            report.stage(f"Simulated {loans_sink.rows:,} of {n_loans:,} loans")
    finally:
        loans_sink.close()
        if truth_sink is not None:
            truth_sink.close()
    return SimulatedBook(n_loans, parts, out, truth_out)
