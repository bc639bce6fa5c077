"""Benchmark a streamed plan on a Dask cluster (a 2-worker LocalCluster) against the
local stream, and check that both give the same plan loan by loan.

Not timed: the models, the ``--reference-loans`` Parquet file and the ``--loans`` book,
built as ``bench_stream.py`` builds them in the same ``--work`` folder (and reused from
it). Run that benchmark first, or let this one build them.

Timed, each in its own process, one after the other in the same run:

* **local sample**: ``stream_plan`` on the reference file in this process, what
  ``loan-recovery plan --stream`` does (the reference rate);
* **Dask sample**: the same file on a ``LocalCluster`` of ``--workers`` single-threaded
  worker processes (``plan --dask local``); its plan is compared with the local one,
  loan by loan and column by column;
* **Dask book**: the whole ``--loans`` book on the same kind of cluster.

Each prints its loans/s and the peak RSS of the driver and of every worker (VmHWM). The
targets (issue 16): the 20M book completes on a 2-worker LocalCluster, and its output on
a 1M sample is identical to the local path's.

    .venv/bin/python benchmarks/bench_dask.py --loans 20000000 --reference-loans 1000000 \
        --train-loans 50000 --seed 7 --work /tmp/bench-stream
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

import bench_support
from bench_stream import _prepare, _settings
from loan_recovery.jobs.dask_batches import DaskBatches
from loan_recovery.jobs.stream_plan import stream_plan
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry

PATHS = ("local-sample", "dask-sample", "dask-book")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000_000, help="loans in the book")
    parser.add_argument("--reference-loans", type=int, default=1_000_000)
    parser.add_argument("--train-loans", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--batch-rows", type=int, default=None, help="default: settings")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-stream"))
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _worker_peak_mib() -> float:
    """Run on each worker: its process's peak RSS (VmHWM), MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(arguments: argparse.Namespace) -> None:
    """One timed path in this process; prints its numbers as JSON."""
    from distributed import Client, LocalCluster

    settings = _settings()
    work: Path = arguments.work
    bundle = load_bundle(ModelRegistry(work / "models"), None)
    source = work / ("book" if arguments.child == "dask-book" else "reference.parquet")
    out = work / f"{arguments.child}-plan"
    bench_support.reset_peak_rss()
    workers: dict[str, float] = {}
    if arguments.child == "local-sample":
        started = time.perf_counter()
        run = stream_plan(
            source, out=out, settings=settings, bundle=bundle, batch_rows=arguments.batch_rows
        )
        seconds = time.perf_counter() - started
    else:
        with (
            LocalCluster(
                n_workers=arguments.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()
            run = stream_plan(
                source,
                out=out,
                settings=settings,
                bundle=bundle,
                batch_rows=arguments.batch_rows,
                cluster=DaskBatches(client),
            )
            seconds = time.perf_counter() - started
            workers = client.run(_worker_peak_mib)
    result = {
        "loans": run.loans,
        "batches": run.run.tally.batches,
        "seconds": seconds,
        "driver_peak_mib": bench_support.high_water_mib() or bench_support.peak_rss_mib(),
        "worker_peaks_mib": sorted(workers.values()),
        "load": bench_support.machine_load(),
    }
    print(json.dumps(result))


def _run_child(arguments: argparse.Namespace, which: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", which, "--work", str(arguments.work)]
    command += ["--workers", str(arguments.workers)]
    if arguments.batch_rows is not None:
        command += ["--batch-rows", str(arguments.batch_rows)]
    return bench_support.run_json_child(command, which)


def _same_plan(work: Path) -> tuple[bool, int]:
    """Whether the Dask sample's plan equals the local one, loan by loan; loans compared."""
    local = pads.dataset(str(work / "local-sample-plan"), format="parquet").to_table()
    remote = pads.dataset(str(work / "dask-sample-plan"), format="parquet").to_table()
    return local.equals(remote), local.num_rows


def main(argv: list[str] | None = None) -> None:
    arguments = _parse(argv)
    if arguments.child:
        _child(arguments)
        return
    _prepare(arguments, _settings())
    print(bench_support.machine_load())
    rows = {which: _run_child(arguments, which) for which in PATHS}
    print(
        f"{'path':<14}{'loans':>13}{'batches':>9}{'seconds':>10}{'loans/s':>11}"
        f"{'driver peak':>13}  worker peaks"
    )
    for which, row in rows.items():
        rate = row["loans"] / row["seconds"]
        peaks = ", ".join(f"{peak:,.0f}" for peak in row["worker_peaks_mib"]) or "-"
        print(
            f"{which:<14}{row['loans']:>13,}{row['batches']:>9}{row['seconds']:>10.1f}"
            f"{rate:>11,.0f}{row['driver_peak_mib']:>9,.0f} MiB  {peaks} MiB"
        )
    base = rows["local-sample"]["loans"] / rows["local-sample"]["seconds"]
    for which in ("dask-sample", "dask-book"):
        ratio = rows[which]["loans"] / rows[which]["seconds"] / base
        print(f"throughput {which} / local sample: {ratio:.2f}")
    same, loans = _same_plan(arguments.work)
    print(
        f"Dask sample plan identical to the local plan on {loans:,} loans: "
        f"{'PASS' if same else 'MISS'}"
    )
    print(f"{arguments.workers}-worker book of {arguments.loans:,} loans completed: PASS")
    print("loads: " + "; ".join(f"{which} {row['load']}" for which, row in rows.items()))


if __name__ == "__main__":
    main()
