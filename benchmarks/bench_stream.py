"""Benchmark a streamed plan of a national-scale book against the in-memory plan.

Not timed: simulating ``--train-loans`` labelled loans and training a version on them
(cross-validation off), simulating a ``--reference-loans`` Parquet file and a ``--loans``
book written part by part as a folder of Parquet files (``simulate --batch-rows``). Both
are kept in ``--work`` and reused when present with the right row count.

Timed, each in its own process (so each peak RSS is that path's alone), one after the
other in the same run:

* **in memory**: ``run_plan`` on the reference file, what ``loan-recovery plan`` does:
  read, validate, plan, write a CSV;
* **streamed**: ``stream_plan`` on the book, what ``loan-recovery plan --stream`` does:
  read, validate, plan and write batch by batch, then the second pass that adds the
  worked loans' reasons and ranks.

Both plan with the default settings without capacity or budget. Then, on the reference
file, capacity across the whole book: ``call`` and ``legal`` capped at half the uncapped
plan's counts and a budget of 60 % of its cost, planned in memory (the exact LP over the
book) and streamed (the book's assignment solved on the compact table after the last
batch); the gap between their objectives, and whether every limit is met.

The targets (issue 16): the streamed plan completes with peak RSS <= 3 GB, at a
throughput (loans/s) of at least 80 % of the in-memory plan's in the same run; the
streamed capacity plan within 0.5 % of the exact LP's objective, every limit met.

    .venv/bin/python benchmarks/bench_stream.py --loans 20000000 --reference-loans 1000000 \
        --train-loans 50000 --seed 7 --work /tmp/bench-stream
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as pads

import bench_support
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.jobs.plan import run_plan
from loan_recovery.jobs.simulate import run_simulate_book
from loan_recovery.jobs.stream_plan import stream_plan
from loan_recovery.jobs.train import run_train
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio

PEAK_TARGET_MIB = 3 * 1024
THROUGHPUT_TARGET = 0.8
GAP_TARGET = 0.005
CAPPED = ("call", "legal")
BUDGET_SHARE = 0.6


def _settings() -> Settings:
    settings = load_settings()
    unlimited = settings.strategy.model_copy(update={"capacity": {}, "budget": None})
    return settings.model_copy(update={"strategy": unlimited})


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000_000, help="loans in the book")
    parser.add_argument("--reference-loans", type=int, default=1_000_000)
    parser.add_argument("--train-loans", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-rows", type=int, default=None, help="default: settings")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-stream"))
    parser.add_argument(
        "--child",
        choices=["memory", "stream", "capacity-memory", "capacity-stream"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--limits", default="{}", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _rows(path: Path) -> int:
    return int(pads.dataset(str(path), format="parquet").count_rows()) if path.exists() else -1


def _prepare(arguments: argparse.Namespace, settings: Settings) -> None:
    work: Path = arguments.work
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "models").exists():
        started = time.perf_counter()
        history = simulate_portfolio(arguments.train_loans, arguments.seed, settings=settings)
        path = write_table(history.loans, work / "history.parquet")
        run_train(
            path,
            settings=settings,
            models_dir=work / "models",
            seed=arguments.seed,
            cross_validate=False,
            promote=True,
        )
        took = time.perf_counter() - started
        print(f"setup: trained on {arguments.train_loans:,} loans in {took:.0f} s")
    reference = work / "reference.parquet"
    if _rows(reference) != arguments.reference_loans:
        loans = simulate_portfolio(arguments.reference_loans, arguments.seed + 1, settings=settings)
        write_table(loans.loans, reference)
    book = work / "book"
    if _rows(book) != arguments.loans:
        started = time.perf_counter()
        run_simulate_book(
            n_loans=arguments.loans,
            seed=arguments.seed + 2,
            out=book,
            settings=settings,
            batch_rows=1_000_000,
        )
        print(
            f"setup: simulated {arguments.loans:,} loans in {time.perf_counter() - started:.0f} s"
        )


def _child(arguments: argparse.Namespace) -> None:
    """One timed path in this process; prints its numbers and peak RSS as JSON."""
    settings = _settings()
    work: Path = arguments.work
    bundle = load_bundle(ModelRegistry(work / "models"), None)
    limits = json.loads(arguments.limits)
    capacity, budget = limits.get("capacity", {}), limits.get("budget")
    bench_support.reset_peak_rss()
    started = time.perf_counter()
    result: dict[str, object] = {}
    if arguments.child in ("memory", "capacity-memory"):
        outcome = run_plan(
            work / "reference.parquet",
            out=work / f"{arguments.child}-plan.csv",
            settings=settings,
            bundle=bundle,
            capacity=capacity,
            budget=budget,
        )
        worklist = outcome.plan.worklist
        loans, batches = len(worklist), 1
        counts = worklist[schema.RECOMMENDED_ACTION].value_counts()
        result["counts"] = {str(name): int(count) for name, count in counts.items()}
        result["cost"] = float(worklist[schema.EXPECTED_COST].sum())
        capped = outcome.plan.capacity_plan
        result["objective"] = None if capped is None else capped.objective
    else:
        source = work / ("book" if arguments.child == "stream" else "reference.parquet")
        run = stream_plan(
            source,
            out=work / f"{arguments.child}-plan",
            settings=settings,
            bundle=bundle,
            capacity=capacity,
            budget=budget,
            batch_rows=arguments.batch_rows,
        )
        loans, batches = run.loans, run.run.tally.batches
        result["objective"] = run.objective
        plan = pads.dataset(str(work / f"{arguments.child}-plan"), format="parquet").to_table(
            columns=[schema.RECOMMENDED_ACTION, schema.EXPECTED_COST]
        )
        counts = plan.column(schema.RECOMMENDED_ACTION).value_counts()
        result["counts"] = {str(row["values"]): int(row["counts"]) for row in counts.to_pylist()}
        result["cost"] = float(pc.sum(plan.column(schema.EXPECTED_COST)).as_py() or 0.0)
    seconds = time.perf_counter() - started
    result.update(
        loans=loans,
        batches=batches,
        seconds=seconds,
        peak_rss_mib=bench_support.high_water_mib() or bench_support.peak_rss_mib(),
        load=bench_support.machine_load(),
    )
    print(json.dumps(result))


def _run_child(
    arguments: argparse.Namespace, which: str, limits: dict[str, object] | None = None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", which, "--work", str(arguments.work)]
    command += ["--limits", json.dumps(limits or {})]
    if arguments.batch_rows is not None:
        command += ["--batch-rows", str(arguments.batch_rows)]
    return bench_support.run_json_child(command, which)


def main(argv: list[str] | None = None) -> None:
    arguments = _parse(argv)
    if arguments.child:
        _child(arguments)
        return
    settings = _settings()
    _prepare(arguments, settings)
    print(bench_support.machine_load())
    memory = _run_child(arguments, "memory")
    streamed = _run_child(arguments, "stream")
    rate_memory = memory["loans"] / memory["seconds"]
    rate_stream = streamed["loans"] / streamed["seconds"]
    print(f"{'path':<12}{'loans':>14}{'batches':>9}{'seconds':>10}{'loans/s':>12}{'peak RSS':>12}")
    for name, row, rate in (
        ("in memory", memory, rate_memory),
        ("streamed", streamed, rate_stream),
    ):
        print(
            f"{name:<12}{int(row['loans']):>14,}{int(row['batches']):>9}{row['seconds']:>10.1f}"
            f"{rate:>12,.0f}{row['peak_rss_mib']:>9,.0f} MiB"
        )
    ratio = rate_stream / rate_memory
    peak = streamed["peak_rss_mib"]
    print(
        f"throughput ratio streamed / in memory: {ratio:.2f} (target >= {THROUGHPUT_TARGET}) "
        f"{'PASS' if ratio >= THROUGHPUT_TARGET else 'MISS'}"
    )
    print(
        f"streamed peak RSS: {peak:,.0f} MiB (target <= {PEAK_TARGET_MIB:,}) "
        f"{'PASS' if peak <= PEAK_TARGET_MIB else 'MISS'}"
    )
    print(f"loads: in memory {memory['load']}; streamed {streamed['load']}")
    _capacity_gap(arguments, memory)


def _capacity_gap(arguments: argparse.Namespace, uncapped: dict[str, Any]) -> None:
    """Capacity across the reference book: streamed against the exact in-memory LP."""
    capacity = {name: int(uncapped["counts"].get(name, 0)) // 2 for name in CAPPED}
    budget = BUDGET_SHARE * float(uncapped["cost"])
    limits: dict[str, object] = {"capacity": capacity, "budget": budget}
    exact = _run_child(arguments, "capacity-memory", limits)
    streamed = _run_child(arguments, "capacity-stream", limits)
    gap = (exact["objective"] - streamed["objective"]) / abs(exact["objective"])
    met = all(streamed["counts"].get(name, 0) <= slots for name, slots in capacity.items())
    met = met and streamed["cost"] <= budget * (1 + 1e-9)
    print(f"capacity: {capacity}, budget {budget:,.0f}")
    for name, row in (("exact LP", exact), ("streamed", streamed)):
        print(
            f"{name:<10} objective {row['objective']:>18,.0f}  cost {row['cost']:>16,.0f}  "
            f"{row['seconds']:>7.1f} s  peak {row['peak_rss_mib']:,.0f} MiB"
        )
    print(
        f"capacity gap to the exact LP: {gap:.4%} (target < {GAP_TARGET:.1%}) "
        f"{'PASS' if gap < GAP_TARGET else 'MISS'}; every limit met: {'PASS' if met else 'MISS'}"
    )


if __name__ == "__main__":
    main()
