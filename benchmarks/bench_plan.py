"""Benchmark planning: end-to-end ``plan_loans`` against the bare predicts it needs, peak RSS.

Not timed: simulating ``--train-loans`` labelled loans, training a version on them with
``run_train`` (cross-validation off, temporary registry), loading that bundle from disk,
and simulating + validating ``--loans`` fresh loans into an in-memory typed table.

Timed on that table, in one run:

* bare predict: the sum of ``inplace_predict`` on the design matrix as float32 of every
  model a plan needs: the risk booster (``iteration_range=(0, best + 1)``), and each outcome
  booster in ``outcome_model.boosters_`` called as ``predict_fractions`` calls it (t-pooled:
  the shared booster's margin, then each action's booster with it as ``base_margin``;
  s-ipw: the shared booster on the action-augmented matrix; low-support actions, which
  hold a prior, are not predicted). The loaded outcome boosters are pinned to one thread
  because ``predict_fractions`` parallelises over row blocks, so the bare calls use copies
  set to every available core: the floor is the machine's, not one thread's. A warm-up,
  then the median of three;
* ``plan_loans(table, bundle, settings)`` end to end with no capacity and no budget
  (``settings.explain.method`` from ``--reasons``; reasons for the worked loans, the
  default ``explain.scope``), then again with ``explain.scope = "all"``, with a
  breakdown: ``action_values`` (scoring, reasons, outcome fractions, values,
  guardrails) against the rest (policy choice, worklist assembly, sort);
* on the first ``--capacity-loans`` loans: the uncapped plan, then ``plan_loans`` with
  ``legal`` and ``call`` capped at half the uncapped plan's counts and a budget of 60 % of
  its cost, and ``optimise_with_capacity`` alone on the same inputs.

The targets: the uncapped plan end to end <= 2x the bare predicts (<= 4x with every loan
explained); the capacity-and-budget optimisation < 30 s. Every step shows wall and CPU
seconds (all threads), and each path the share of its wall time some task waited for a
CPU (Linux PSI). Peak RSS is read per path after resetting the kernel's high-water mark
(Linux). Exits 0 unless something fails; the PASS/MISS lines report the targets.

    .venv/bin/python benchmarks/bench_plan.py --loans 1000000 --train-loans 50000 \
        --seed 7 --reasons approximate --capacity-loans 100000
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

import bench_support
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.train import run_train
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.outcomes import SHARED_KEY
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import PlanResult, action_values, learned_capacity_plan, plan_loans
from loan_recovery.strategy.policy import CapacityPlan

T = TypeVar("T")

DEFAULT_LOANS = 1_000_000
DEFAULT_TRAIN_LOANS = 50_000
DEFAULT_CAPACITY_LOANS = 100_000
#: The targets: uncapped plan at most this multiple of the bare predicts; optimisation time.
TARGET_RATIO = 2.0
#: The same plan with every loan explained (``--reasons all``), approximate reasons.
TARGET_RATIO_ALL_REASONS = 4.0
TARGET_OPTIMISE_SECONDS = 30.0
BARE_REPEATS = 3
CAPPED_ACTIONS: tuple[str, ...] = ("legal", "call")
CAPACITY_SHARE = 0.5
BUDGET_SHARE = 0.6


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=DEFAULT_LOANS, help="loans to plan")
    parser.add_argument(
        "--train-loans", type=int, default=DEFAULT_TRAIN_LOANS, help="labelled loans to train on"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--reasons",
        choices=("exact", "approximate"),
        default="approximate",
        help="reason-code method the plan uses",
    )
    parser.add_argument(
        "--capacity-loans",
        type=int,
        default=DEFAULT_CAPACITY_LOANS,
        help="first loans the capacity-and-budget plan is timed on",
    )
    return parser.parse_args(argv)


# --- measurement helpers ------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds and CPU seconds of this process (all threads) of one step."""

    wall: float
    cpu: float

    def __sub__(self, other: Timing) -> Timing:
        return Timing(self.wall - other.wall, self.cpu - other.cpu)

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


ZERO = Timing(0.0, 0.0)


def _timed(call: Callable[[], T]) -> tuple[T, Timing]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


@dataclass(frozen=True)
class Measured:
    """Steps of one path, its CPU-wait share and its peak RSS."""

    steps: dict[str, Timing]
    cpu_wait_share: float | None
    peak_rss_mib: float | None


def _measure(steps: Callable[[dict[str, Timing]], None]) -> Measured:
    """Run ``steps`` (which fills the dict), with the CPU-wait share and peak RSS around it."""
    resettable = bench_support.reset_peak_rss()
    waited, start = bench_support.cpu_pressure_us(), time.perf_counter()
    timings: dict[str, Timing] = {}
    steps(timings)
    peak = bench_support.peak_rss_mib() if resettable else None
    waited_after, elapsed = bench_support.cpu_pressure_us(), time.perf_counter() - start
    share = (
        None if waited is None or waited_after is None else (waited_after - waited) / 1e6 / elapsed
    )
    return Measured(steps=timings, cpu_wait_share=share, peak_rss_mib=peak)


# --- setup (not timed) --------------------------------------------------------------------
def _train_bundle(
    settings: Settings, train_loans: int, seed: int, directory: Path
) -> tuple[ModelBundle, float]:
    """Train a version on simulated labelled loans, then load it from the registry."""
    start = time.perf_counter()
    history = simulate_portfolio(train_loans, seed, settings=settings).loans
    path = write_table(history, directory / "history.parquet")
    del history
    models = directory / "models"
    outcome = run_train(path, settings=settings, models_dir=models, seed=seed, cross_validate=False)
    bundle = load_bundle(ModelRegistry(models), outcome.version.version)
    return bundle, time.perf_counter() - start


def _planning_table(settings: Settings, loans: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Fresh simulated loans (another seed than training), validated to a typed table."""
    start = time.perf_counter()
    portfolio = simulate_portfolio(loans, seed, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings).table
    del portfolio
    gc.collect()
    return table, time.perf_counter() - start


def _plan_settings(settings: Settings, method: str) -> Settings:
    """The reason method from --reasons; no capacity and no budget unless passed explicitly."""
    unlimited = settings.strategy.model_copy(update={"capacity": {}, "budget": None})
    return settings.with_explain(method=method).model_copy(update={"strategy": unlimited})


# --- bare predicts ------------------------------------------------------------------------
@dataclass(frozen=True)
class BarePredict:
    """Each model's own inplace_predict on the design matrix; their sum is the floor."""

    parts: dict[str, Timing]

    @property
    def total(self) -> Timing:
        return sum(self.parts.values(), ZERO)


def _median_timing(predict: Callable[[], Any]) -> Timing:
    predict()  # warm-up
    runs = sorted((_timed(predict)[1] for _ in range(BARE_REPEATS)), key=lambda run: run.wall)
    return runs[len(runs) // 2]


def _bare_predicts(bundle: ModelBundle, design: pd.DataFrame) -> BarePredict:
    values: npt.NDArray[np.float32] = np.ascontiguousarray(design.to_numpy(dtype=np.float32))
    parts: dict[str, Timing] = {}
    base = bundle.risk_model.base_
    if base.family == "xgboost":
        best = int(base.best_iteration_)
        parts[f"risk booster ({best + 1} trees)"] = _median_timing(
            lambda: base.booster_.inplace_predict(values, iteration_range=(0, best + 1))
        )
    else:
        parts["risk forest predict_proba"] = _median_timing(lambda: base.predict_proba(design))
    model = bundle.outcome_model
    if model is None:
        return BarePredict(parts)
    cores = bench_support.cores()
    boosters = {key: booster.copy() for key, booster in model.boosters_.items()}
    for booster in boosters.values():
        booster.set_param({"nthread": cores})
    low = model.support_["low_support"].to_dict() if "low_support" in model.support_ else {}
    shared = boosters.get(SHARED_KEY)
    learner = model.learner_
    catalogue = list(model.actions_)
    margin: Any = None
    if shared is not None and learner != "s-ipw":
        trees = model.best_iterations_[SHARED_KEY] + 1
        parts[f"outcome {SHARED_KEY} margin ({trees} trees)"] = _median_timing(
            lambda: shared.inplace_predict(values, predict_type="margin")
        )
        margin = np.asarray(shared.inplace_predict(values, predict_type="margin"))
    for index, action in enumerate(catalogue):
        if bool(low.get(action, False)):
            continue
        if shared is not None and learner == "s-ipw":
            augmented = np.zeros((len(values), values.shape[1] + len(catalogue)), np.float32)
            augmented[:, : values.shape[1]] = values
            augmented[:, values.shape[1] + index] = 1.0
            trees = model.best_iterations_[SHARED_KEY] + 1
            parts[f"outcome {SHARED_KEY} [{action}] ({trees} trees)"] = _median_timing(
                lambda augmented=augmented: shared.inplace_predict(augmented)
            )
            continue
        booster = boosters[action]
        trees = model.best_iterations_[action] + 1
        parts[f"outcome {action} ({trees} trees)"] = _median_timing(
            lambda booster=booster: booster.inplace_predict(values, base_margin=margin)
        )
    return BarePredict(parts)


# --- the timed paths ----------------------------------------------------------------------
def _uncapped(table: pd.DataFrame, bundle: ModelBundle, settings: Settings) -> Measured:
    """action_values alone, then plan_loans end to end (no capacity, no budget)."""

    def steps(timings: dict[str, Timing]) -> None:
        inputs, timings["action_values"] = _timed(lambda: action_values(table, bundle, settings))
        del inputs
        gc.collect()
        _, timings["plan_loans end to end"] = _timed(lambda: plan_loans(table, bundle, settings))

    return _measure(steps)


@dataclass(frozen=True)
class CappedRun:
    limits: dict[str, int]
    budget: float
    uncapped: PlanResult
    capped: PlanResult
    direct: CapacityPlan
    measured: Measured


def _capped(table: pd.DataFrame, bundle: ModelBundle, settings: Settings) -> CappedRun:
    """Uncapped plan, capped plan and optimise_with_capacity alone on the same loans."""
    holder: dict[str, Any] = {}

    def steps(timings: dict[str, Timing]) -> None:
        uncapped, timings["plan_loans, uncapped"] = _timed(
            lambda: plan_loans(table, bundle, settings)
        )
        frame = uncapped.worklist
        counts = frame[schema.RECOMMENDED_ACTION].astype(str).value_counts()
        limits = {name: int(counts.get(name, 0) * CAPACITY_SHARE) for name in CAPPED_ACTIONS}
        budget = BUDGET_SHARE * float(frame[schema.EXPECTED_COST].sum())
        capped, timings["plan_loans, capacity + budget"] = _timed(
            lambda: plan_loans(table, bundle, settings, capacity=limits, budget=budget)
        )
        inputs, timings["action_values"] = _timed(lambda: action_values(table, bundle, settings))
        # The plan optimises the uplift over hold among the safe candidates (departures
        # from BAU only into slots BAU leaves free), exactly as learned_capacity_plan does.
        direct, timings["optimise_with_capacity alone"] = _timed(
            lambda: learned_capacity_plan(inputs, limits, budget)
        )
        holder.update(limits=limits, budget=budget, uncapped=uncapped, capped=capped, direct=direct)

    measured = _measure(steps)
    return CappedRun(measured=measured, **holder)


# --- report -------------------------------------------------------------------------------
def _row(label: str, timing: Timing, note: str = "") -> tuple[str, ...]:
    return (label, bench_support.seconds(timing.wall), bench_support.seconds(timing.cpu), note)


def _footer(measured: Measured) -> list[tuple[str, ...]]:
    peak = "n/a" if measured.peak_rss_mib is None else f"{measured.peak_rss_mib:,.0f} MiB"
    wait = "n/a" if measured.cpu_wait_share is None else f"{measured.cpu_wait_share:.0%}"
    return [
        ("peak RSS during the path", peak, "", ""),
        ("CPU pressure during the path", wait, "", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    """Set up, time the bare predicts, the uncapped plan and the capped plan; PASS/MISS."""
    arguments = _parse_arguments(argv)
    settings = load_settings()
    plan_settings = _plan_settings(settings, arguments.reasons)
    print(
        f"machine: {bench_support.cores()} cores available, {bench_support.machine_load()} (start)"
    )

    with tempfile.TemporaryDirectory(prefix="bench_plan_") as directory:
        bundle, train_seconds = _train_bundle(
            settings, arguments.train_loans, arguments.seed, Path(directory)
        )
        table, setup_seconds = _planning_table(settings, arguments.loans, arguments.seed + 1)
    if bundle.outcome_model is None:
        print(f"ERROR: version {bundle.version} has no outcome models; cannot plan.")
        return 1
    outcome = bundle.outcome_model
    base = bundle.risk_model.base_
    total = len(table)
    setup_peak = bench_support.peak_rss_mib()
    baseline = bench_support.current_rss_mib()
    print(
        f"setup (not timed): trained {bundle.version} on {arguments.train_loans:,} loans in "
        f"{train_seconds:.1f} s: risk {base.family}, outcome learner {outcome.learner_} "
        f"({len(outcome.boosters_)} boosters: {', '.join(outcome.boosters_)})"
    )
    print(
        f"setup (not timed): simulated + validated {arguments.loans:,} loans -> {total:,} "
        f"accepted in {setup_seconds:.1f} s; setup peak RSS {setup_peak:,.0f} MiB"
        + ("" if baseline is None else f", RSS before planning {baseline:,.0f} MiB")
    )
    print(f"reasons: {arguments.reasons} (top {plan_settings.explain.top_k})")

    design = risk_design_matrix(table, settings.risk)
    bare = _bare_predicts(bundle, design)
    del design
    gc.collect()

    uncapped = _uncapped(table, bundle, plan_settings)
    end_to_end = uncapped.steps["plan_loans end to end"]
    values_step = uncapped.steps["action_values"]
    ratio = end_to_end.wall / bare.total.wall
    gc.collect()
    every_settings = plan_settings.with_explain(scope="all")
    every = _uncapped(table, bundle, every_settings)
    every_end_to_end = every.steps["plan_loans end to end"]
    every_ratio = every_end_to_end.wall / bare.total.wall

    print()
    rows: list[tuple[str, ...]] = [
        (f"uncapped plan, {total:,} loans", "wall", "CPU", "note"),
    ]
    for label, timing in bare.parts.items():
        rows.append(_row(f"  bare {label}", timing, f"median of {BARE_REPEATS}"))
    rows.append(_row("bare predicts, sum", bare.total, f"{total / bare.total.wall:,.0f} loans/s"))
    rows.append(_row("action_values (separate call)", values_step, "score + reasons + fractions"))
    rows.append(
        _row("rest of plan_loans (e2e - action_values)", end_to_end - values_step, "choice + sort")
    )
    rows.append(
        _row("plan_loans end to end", end_to_end, f"{total / end_to_end.wall:,.0f} loans/s")
    )
    rows.append(
        ("plan_loans / bare predicts", f"{ratio:,.2f}x", "", f"target <= {TARGET_RATIO:g}x")
    )
    rows.extend(_footer(uncapped))
    rows.append(
        _row(
            "plan_loans end to end, --reasons all",
            every_end_to_end,
            f"action_values {every.steps['action_values'].wall:,.2f} s",
        )
    )
    rows.append(
        (
            "--reasons all / bare predicts",
            f"{every_ratio:,.2f}x",
            "",
            f"target <= {TARGET_RATIO_ALL_REASONS:g}x",
        )
    )
    rows.extend(_footer(every))
    bench_support.print_table(rows)
    print(
        f"reasons made for {plan_settings.explain.worked_loans:,} worked loans at most "
        f"(explain.scope = {plan_settings.explain.scope}); --reasons all: every loan"
    )

    subset = table.iloc[: arguments.capacity_loans]
    capped = _capped(subset, bundle, plan_settings)
    capped_plan = capped.capped.capacity_plan
    optimise = capped.measured.steps["optimise_with_capacity alone"]
    via_plan = (
        capped.measured.steps["plan_loans, capacity + budget"]
        - capped.measured.steps["plan_loans, uncapped"]
    )
    print()
    rows = [(f"capacity + budget, first {len(subset):,} loans", "wall", "CPU", "note")]
    for label, timing in capped.measured.steps.items():
        rows.append(_row(label, timing))
    rows.append(_row("capped - uncapped plan_loans", via_plan, "optimisation inside plan"))
    rows.extend(_footer(capped.measured))
    bench_support.print_table(rows)
    limits = ", ".join(f"{name} {slots:,}" for name, slots in capped.limits.items())
    print(f"limits: {limits}; budget {capped.budget:,.0f} (60% of the uncapped plan's cost)")
    if capped_plan is not None:
        counts = capped_plan.counts()
        print(
            f"capped plan: status {capped_plan.status}, objective {capped_plan.objective:,.0f}, "
            f"upper bound {capped_plan.upper_bound:,.0f}, cost {capped_plan.total_cost:,.0f}, "
            f"rounded {capped_plan.rounded_loans}, "
            + ", ".join(f"{name} {counts.get(name, 0):,}" for name in CAPPED_ACTIONS)
        )
        uncapped_net = capped.uncapped.totals()["expected_net"]
        print(f"uncapped plan on the same loans: expected net {uncapped_net:,.0f}")
    if abs(
        capped.direct.objective - (capped_plan.objective if capped_plan else np.nan)
    ) > 1e-6 * max(1.0, abs(capped.direct.objective)):
        print("WARNING: optimise_with_capacity alone and inside plan_loans disagree.")
    print(f"machine: {bench_support.machine_load()} (end)")
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(
        f"{verdict}: plan_loans end to end {ratio:,.2f}x the bare predicts "
        f"({arguments.reasons} reasons, target <= {TARGET_RATIO:g}x)"
    )
    verdict = "PASS" if every_ratio <= TARGET_RATIO_ALL_REASONS else "MISS"
    print(
        f"{verdict}: plan_loans --reasons all {every_ratio:,.2f}x the bare predicts "
        f"({arguments.reasons} reasons, target <= {TARGET_RATIO_ALL_REASONS:g}x)"
    )
    verdict = "PASS" if optimise.wall < TARGET_OPTIMISE_SECONDS else "MISS"
    print(
        f"{verdict}: optimise_with_capacity on {len(subset):,} loans {optimise.wall:,.2f} s "
        f"(target < {TARGET_OPTIMISE_SECONDS:g} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
