"""Benchmark the early-warning model: time-split quality, quality against the future, timings.

Usage::

    .venv/bin/python benchmarks/bench_early_warning.py [--loans 20000] [--months 18] [--seed 42]

Simulates ``--loans`` loans and ``--months`` of instalments (plus the default 3 months of
ground truth past the as-of date), trains with the time split (earlier monthly cut-offs
train, the latest labelled cut-off tests) and prints the test cut-off's ROC-AUC,
precision and lift in the top 5%. Then scores the as-of date itself, as ``alerts`` would,
and measures it against what the simulator says happens in the next 3 months. Wall times
of each stage and the machine's load are printed beside the numbers.
"""

from __future__ import annotations

import argparse
import sys
import time

import bench_support
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.jobs.alerts import alerts_from_scores, score_early_warning
from loan_recovery.models.early_warning import (
    early_warning_labels,
    top_fraction_metrics,
    train_early_warning,
)
from loan_recovery.simulation.payments import simulate_payment_history
from loan_recovery.simulation.portfolio import simulate_portfolio


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000, help="loans to simulate")
    parser.add_argument("--months", type=int, default=18, help="months of instalments")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    return parser.parse_args(argv)


def _metrics_line(name: str, found: dict[str, float]) -> str:
    return (
        f"{name:<34} rows {found['rows']:>7,.0f}  base rate {found['base_rate']:6.1%}  "
        f"ROC-AUC {found['roc_auc']:.3f}  PR-AUC {found['pr_auc']:.3f}  "
        f"precision@{found['top_fraction']:.0%} {found['precision_at_top']:6.1%}  "
        f"lift@{found['top_fraction']:.0%} {found['lift_at_top']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    settings = load_settings()
    warning = settings.early_warning
    started = time.perf_counter()
    portfolio = simulate_portfolio(arguments.loans, arguments.seed, settings=settings)
    payments = simulate_payment_history(
        portfolio, random_state=arguments.seed, months=arguments.months, settings=settings
    )
    simulated = time.perf_counter()
    training = train_early_warning(
        payments.history, portfolio.loans, settings=warning, random_state=0
    )
    trained = time.perf_counter()
    scored = score_early_warning(
        payments.history, portfolio.loans, model=training.model, settings=settings
    )
    alerts = alerts_from_scores(scored, portfolio.loans, model=training.model, settings=settings)
    alerted = time.perf_counter()
    truth = early_warning_labels(payments.full, payments.as_of, settings=warning)
    future = truth.reindex(scored.index).to_numpy()
    at_as_of = top_fraction_metrics(
        future, scored[schema.EARLY_WARNING_SCORE].to_numpy(), warning.top_fraction
    )

    evaluation = training.evaluation
    print(
        f"{arguments.loans:,} loans, {len(payments.history):,} instalments over "
        f"{arguments.months} months to {payments.as_of}; seed {arguments.seed}"
    )
    print(
        f"train cut-offs {evaluation.train_cutoffs[0].date()} .. "
        f"{evaluation.train_cutoffs[-1].date()} ({evaluation.train_rows:,} loan-months, "
        f"{evaluation.train_positives:,} defaults, last instalment read due "
        f"{evaluation.train_max_due_date.date()}); test cut-off {evaluation.test_cutoff.date()}"
    )
    print(_metrics_line("time split (test cut-off)", evaluation.test_metrics))
    print(_metrics_line("as-of date vs simulated future", at_as_of))
    hits = truth.reindex(alerts[schema.LOAN_ID]).mean() if len(alerts) else float("nan")
    print(
        f"alerts at threshold {warning.threshold:g}: {len(alerts):,} of {len(scored):,} "
        f"eligible loans; {hits:.1%} of them reach {warning.default_dpd}+ DPD within "
        f"{warning.horizon_months} months"
    )
    print(
        f"wall time: simulate {simulated - started:.1f} s, train and test "
        f"{trained - simulated:.1f} s, score and explain the as-of date "
        f"{alerted - trained:.1f} s; {bench_support.machine_load()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
