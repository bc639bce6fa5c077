"""Benchmark training: both risk-model families and the segmenter on a large book, peak RSS.

Not timed: simulating ``--loans`` labelled loans, validating them into a typed table and
building the design matrix and labels. Timed, with cross-validation off (the fits of
``run_train(..., cross_validate=False)``, which fits the champion family only; both
families are timed here):

* ``CalibratedRiskModel("xgboost", settings=settings.risk, random_state=seed).fit(X, y)``;
* ``CalibratedRiskModel("random_forest", ...).fit(X, y)``;
* ``Segmenter.from_settings(settings.segments, random_state=seed).fit(table, scores)`` on
  the boosted model's scores (scoring them is timed apart and not counted).

Peak RSS of training is read after resetting the kernel's high-water mark (Linux), so it
excludes the simulator's own peak, which is shown separately. Every step shows wall and
CPU seconds (all threads) and the share of its wall time some task waited for a CPU
(Linux PSI): on a shared box, numbers taken under pressure are slower than the code is.
Exits 1 when the two family fits together take longer than ``--budget`` seconds (the
issue's target: under 3 minutes).

    .venv/bin/python benchmarks/bench_training.py --loans 1000000 --seed 7 --budget 180
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import bench_support
from loan_recovery.config import load_settings
from loan_recovery.data.validation import validate_frame
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.risk import FAMILIES, CalibratedRiskModel
from loan_recovery.models.segments import Segmenter
from loan_recovery.simulation.portfolio import simulate_portfolio

T = TypeVar("T")

DEFAULT_LOANS = 1_000_000
DEFAULT_BUDGET_SECONDS = 180.0


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=DEFAULT_LOANS, help="loans to train on")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="seconds both family fits together may take before the benchmark fails",
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds and CPU seconds of this process (all threads) of one step."""

    wall: float
    cpu: float
    #: Share of the wall time some task waited for a CPU (Linux PSI): other load.
    cpu_wait_share: float | None

    def pressure(self) -> str:
        return "" if self.cpu_wait_share is None else f"{self.cpu_wait_share:.0%}"


def _timed(call: Callable[[], T]) -> tuple[T, Timing]:
    waited, wall, cpu = bench_support.cpu_pressure_us(), time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    waited_after = bench_support.cpu_pressure_us()
    share = None if waited is None or waited_after is None else (waited_after - waited) / 1e6 / wall
    return result, Timing(wall, cpu, share)


def main(argv: list[str] | None = None) -> int:
    """Set up, time each fit, print a table, return 0 within budget and 1 over it."""
    arguments = _parse_arguments(argv)
    settings = load_settings()
    risk = settings.risk
    print(
        f"machine: {bench_support.cores()} cores available, {bench_support.machine_load()} (start)"
    )

    start = time.perf_counter()
    portfolio = simulate_portfolio(arguments.loans, arguments.seed, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings, require_label=True).table
    del portfolio
    design = risk_design_matrix(table, risk)
    label = risk_label(table, risk)
    setup_seconds = time.perf_counter() - start
    setup_peak = bench_support.peak_rss_mib()
    print(
        f"setup (not timed): simulated + validated {arguments.loans:,} loans -> {len(table):,} "
        f"rows x {design.shape[1]} features, {label.mean():.1%} not recovered, in "
        f"{setup_seconds:.1f} s; setup peak RSS {setup_peak:,.0f} MiB"
    )

    resettable = bench_support.reset_peak_rss()
    models: dict[str, CalibratedRiskModel] = {}
    fits: dict[str, Timing] = {}
    for family in FAMILIES:
        model = CalibratedRiskModel(family=family, settings=risk, random_state=arguments.seed)
        models[family], fits[family] = _timed(partial(model.fit, design, label))
    scores, scoring = _timed(lambda: models["xgboost"].risk_score(design))
    segmenter = Segmenter.from_settings(settings.segments, random_state=arguments.seed)
    _, segmenting = _timed(lambda: segmenter.fit(table, scores))
    training_peak = bench_support.peak_rss_mib() if resettable else None

    boosted = models["xgboost"].base_
    forest = risk.random_forest
    rows_per_tree = forest.max_samples if forest.max_samples is not None else "all"
    details = {
        "xgboost": f"{boosted.best_iteration_ + 1} trees kept of {risk.xgboost.n_estimators}, "
        f"max depth {risk.xgboost.max_depth}",
        "random_forest": f"{forest.n_estimators} trees, {rows_per_tree} rows per tree",
    }
    families_total = sum(timing.wall for timing in fits.values())
    families_cpu = sum(timing.cpu for timing in fits.values())
    rows: list[tuple[str, str, str, str, str]] = [
        ("step", "wall s", "CPU s", "CPU pressure", "detail")
    ]
    for family in FAMILIES:
        rows.append(
            (
                f"fit {family} (calibrated)",
                f"{fits[family].wall:,.1f}",
                f"{fits[family].cpu:,.1f}",
                fits[family].pressure(),
                f"{details[family]}; {models[family].calibration_method_} calibration",
            )
        )
    rows.append(
        (
            "both families",
            f"{families_total:,.1f}",
            f"{families_cpu:,.1f}",
            "",
            f"budget {arguments.budget:g} s",
        )
    )
    rows.append(
        (
            "fit segmenter",
            f"{segmenting.wall:,.1f}",
            f"{segmenting.cpu:,.1f}",
            segmenting.pressure(),
            f"{segmenter.n_segments_} segments (silhouette over k = "
            f"{settings.segments.min_segments}..{settings.segments.max_segments})",
        )
    )
    rows.append(
        (
            "total (families + segmenter)",
            f"{families_total + segmenting.wall:,.1f}",
            f"{families_cpu + segmenting.cpu:,.1f}",
            "",
            "",
        )
    )
    rows.append(
        (
            "(risk_score for the segmenter)",
            f"{scoring.wall:,.1f}",
            f"{scoring.cpu:,.1f}",
            scoring.pressure(),
            "not counted",
        )
    )
    peak = "n/a" if training_peak is None else f"{training_peak:,.0f} MiB"
    rows.append(("peak RSS while training", peak, "", "", f"setup peak {setup_peak:,.0f} MiB"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for step, wall, cpu, pressure, detail in rows:
        print(
            f"{step:<{widths[0]}}  {wall:>{widths[1]}}  {cpu:>{widths[2]}}  "
            f"{pressure:>{widths[3]}}  {detail}".rstrip()
        )
    print(f"machine: {bench_support.machine_load()} (end)")

    if families_total > arguments.budget:
        print(
            f"FAIL: fitting both families took {families_total:.1f} s, over the "
            f"{arguments.budget:g} s budget.",
            file=sys.stderr,
        )
        return 1
    print(f"PASS: both families fit in {families_total:.1f} s (budget {arguments.budget:g} s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
