"""Benchmark the portfolio simulator: wall time to simulate and to write Parquet, peak RSS.

Usage::

    .venv/bin/python benchmarks/bench_simulator.py [--loans 1000000] [--seed 42] [--budget 30]

Exits 1 when simulating takes longer than ``--budget`` seconds (30 s for a million loans
on a 2-core box is the target the simulator is held to), so CI can run it as a check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import bench_support
from loan_recovery.config import load_settings
from loan_recovery.simulation.portfolio import simulate_portfolio

DEFAULT_LOANS = 1_000_000
DEFAULT_BUDGET_SECONDS = 30.0


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=DEFAULT_LOANS, help="loans to simulate")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="seconds simulating may take before the benchmark fails",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a small table, return 0 within budget and 1 over it."""
    arguments = _parse_arguments(argv)
    settings = load_settings()

    start = time.perf_counter()
    portfolio = simulate_portfolio(arguments.loans, arguments.seed, settings=settings)
    simulate_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as directory:
        loans_path = Path(directory) / "loans.parquet"
        truth_path = Path(directory) / "truth.parquet"
        start = time.perf_counter()
        portfolio.loans.to_parquet(loans_path, index=False)
        portfolio.truth.to_parquet(truth_path, index=False)
        write_seconds = time.perf_counter() - start
        size_mib = (loans_path.stat().st_size + truth_path.stat().st_size) / 2**20

    rows = [
        ("loans", f"{arguments.loans:,}"),
        ("simulate_portfolio", f"{simulate_seconds:.2f} s"),
        ("write Parquet (loans + truth)", f"{write_seconds:.2f} s ({size_mib:.0f} MiB)"),
        ("loans per second", f"{arguments.loans / simulate_seconds:,.0f}"),
        ("peak RSS", f"{bench_support.peak_rss_mib():,.0f} MiB"),
        ("budget (simulate)", f"{arguments.budget:g} s"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")

    if simulate_seconds > arguments.budget:
        print(
            f"FAIL: simulating took {simulate_seconds:.2f} s, over the {arguments.budget:g} s "
            "budget.",
            file=sys.stderr,
        )
        return 1
    print("OK: within budget.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
