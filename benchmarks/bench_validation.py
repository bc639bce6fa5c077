"""Benchmark: read + validate a large loan CSV within the time and memory budget.

Generates a realistic file (spelling variants, blank EMIs, extra columns and ~2% bad
rows of assorted kinds) with vectorised NumPy/Arrow, then times read + validate in a
fresh subprocess, so neither the generator's memory nor its imports count against the
budget. Exits 1 when the run is over budget or the counts do not reconcile.

    python benchmarks/bench_validation.py --rows 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from loan_recovery.data import schema
from loan_recovery.finance import reducing_balance_emi

TIME_BUDGET_SECONDS = 20.0
RSS_BUDGET_BYTES = 2 * 1024**3
BAD_SHARE = 0.02
EXTRA_COLUMNS = ("Branch", "Region", "Officer_ID", "Segment_Code", "Notes")

Rng = np.random.Generator
Columns = dict[str, pa.Array]


# --- generation ---------------------------------------------------------------------------
def _text(values: np.ndarray[Any, Any]) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _ids(prefix: str, numbers: np.ndarray[Any, Any]) -> pa.Array:
    return pc.binary_join_element_wise(prefix, _text(numbers), "")


def _pick(rng: Rng, labels: tuple[str, ...], n: int) -> pa.Array:
    """Labels drawn uniformly; dictionary-decoded so the column is plain text."""
    codes = rng.integers(0, len(labels), n).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(labels)).dictionary_decode()


def _money(values: np.ndarray[Any, Any]) -> pa.Array:
    return _text(np.round(values, 2))


def _loan_columns(rng: Rng, n: int) -> Columns:
    """Believable loans, including label spellings and blanks validation must absorb."""
    amount = np.round(rng.lognormal(12.5, 0.8, n), -2)
    rate = np.round(rng.uniform(6, 24, n), 2)
    tenure = rng.choice(np.array([12, 24, 36, 48, 60, 120, 240]), n)
    emi = np.round(reducing_balance_emi(amount, rate, tenure), 2)
    emi_text = pc.if_else(pa.array(rng.random(n) < 0.1), "", _text(emi))
    return {
        schema.BORROWER_ID: _ids("B", rng.integers(0, n // 2 + 1, n)),
        schema.AGE: _text(rng.integers(21, 71, n)),
        schema.GENDER: _pick(rng, ("Male", "Female", "Other", "male", "F", " M "), n),
        schema.EMPLOYMENT_TYPE: _pick(
            rng, ("Salaried", "Self-Employed", "self employed", "Business Owner", "Gig"), n
        ),
        schema.MONTHLY_INCOME: _money(rng.lognormal(10.8, 0.6, n)),
        schema.NUM_DEPENDENTS: _text(rng.integers(0, 6, n)),
        schema.LOAN_ID: _ids("L", np.arange(n)),
        schema.LOAN_AMOUNT: _text(amount),
        schema.LOAN_TENURE: _text(tenure),
        schema.INTEREST_RATE: _text(rate),
        schema.LOAN_TYPE: _pick(rng, ("Personal", "Home", "Auto", "Business", "Gold"), n),
        schema.COLLATERAL_VALUE: _money(amount * rng.uniform(0, 1.5, n) * (rng.random(n) < 0.6)),
        schema.OUTSTANDING_LOAN_AMOUNT: _money(amount * rng.uniform(0, 1.2, n)),
        schema.MONTHLY_EMI: emi_text,
        schema.PAYMENT_HISTORY: _pick(rng, ("On-Time", "on time", "Delayed", "Missed"), n),
        schema.NUM_MISSED_PAYMENTS: _text(rng.integers(0, 13, n)),
        schema.DAYS_PAST_DUE: _text(rng.integers(0, 366, n)),
        schema.COLLECTION_ATTEMPTS: _text(rng.integers(0, 11, n)),
        schema.COLLECTION_METHOD: _pick(rng, schema.COLLECTION_METHODS, n),
        schema.LEGAL_ACTION_TAKEN: _pick(rng, ("Yes", "No", "y", "n"), n),
        schema.RECOVERY_STATUS: _pick(rng, schema.RECOVERY_STATUSES, n),
        schema.AS_OF_DATE: _pick(rng, ("2026-05-31", "2026-06-30"), n),
        schema.AMOUNT_RECOVERED: _money(amount * rng.uniform(0, 0.5, n)),
        schema.PHONE: _ids("+9198", rng.integers(10_000_000, 99_999_999, n)),
        schema.EMAIL: _ids("user", rng.integers(0, n, n)),
        EXTRA_COLUMNS[0]: _ids("BR", rng.integers(0, 500, n)),
        EXTRA_COLUMNS[1]: _pick(rng, ("North", "South", "East", "West"), n),
        EXTRA_COLUMNS[2]: _ids("O", rng.integers(0, 2_000, n)),
        EXTRA_COLUMNS[3]: _text(rng.integers(100, 999, n)),
        EXTRA_COLUMNS[4]: _pick(rng, ("", "called twice", "promised to pay", "skip trace"), n),
    }


#: (column, bad text) per kind of damage; the duplicate and outstanding kinds are built.
_DAMAGE: tuple[tuple[str, str], ...] = (
    (schema.AGE, "abc"),
    (schema.AGE, "3.5"),
    (schema.MONTHLY_INCOME, "nan"),
    (schema.DAYS_PAST_DUE, "Infinity"),
    (schema.LOAN_AMOUNT, "-5"),
    (schema.INTEREST_RATE, "150"),
    (schema.GENDER, "Xyz"),
    (schema.BORROWER_ID, " "),
    (schema.AS_OF_DATE, "2026-02-30"),
)


def _damage(rng: Rng, columns: Columns, n: int) -> int:
    """Break ~2% of the rows, one problem each; returns how many rows were broken."""
    bad = rng.choice(np.arange(1, n), size=max(int(n * BAD_SHARE), 1), replace=False)
    kinds = np.arange(len(bad)) % (len(_DAMAGE) + 2)
    for kind, (column, text) in enumerate(_DAMAGE):
        _replace(columns, column, bad[kinds == kind], pa.scalar(text))
    good = np.setdiff1d(np.arange(n), bad)
    repeats = np.sort(bad[kinds == len(_DAMAGE)])
    earlier = good[rng.integers(0, np.searchsorted(good, repeats).clip(min=1))]
    # A repeat is a duplicate only on the same As_Of_Date: the same loan on another date is
    # a snapshot, which validation accepts.
    for name in (schema.LOAN_ID, schema.AS_OF_DATE):
        _replace(columns, name, repeats, columns[name].take(pa.array(earlier)))
    over = bad[kinds == len(_DAMAGE) + 1]
    amounts = pc.cast(columns[schema.LOAN_AMOUNT].take(pa.array(over)), pa.float64())
    _replace(columns, schema.OUTSTANDING_LOAN_AMOUNT, over, _text(amounts.to_numpy() * 10))
    return len(bad)


def _replace(columns: Columns, name: str, rows: np.ndarray[Any, Any], new: Any) -> None:
    mask = np.zeros(len(columns[name]), dtype=bool)
    mask[rows] = True
    order = np.argsort(rows)
    values = new if isinstance(new, pa.Scalar) else new.take(pa.array(order))
    if isinstance(values, pa.Scalar):
        values = pa.array([values.as_py()] * len(rows), pa.string())
    columns[name] = pc.replace_with_mask(columns[name], pa.array(mask), values)


def generate(path: Path, rows: int, seed: int) -> tuple[int, int]:
    """Write the benchmark CSV; returns (deliberately broken rows, columns)."""
    rng = np.random.default_rng(seed)
    columns = _loan_columns(rng, rows)
    broken = _damage(rng, columns, rows)
    table = pa.table(columns)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="none"))
    return broken, table.num_columns


# --- measurement --------------------------------------------------------------------------
def measure(path: Path) -> dict[str, Any]:
    """Read + validate ``path`` in this process; time it and report peak memory."""
    from loan_recovery.data.validation import validate_file

    start = time.perf_counter()
    result = validate_file(path)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows_read": result.rows_read,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "issues": len(result.issues),
        "reasons": result.reason_counts(),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _measure_in_subprocess(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"measurement failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _verdict(report: dict[str, Any], rows: int, broken: int) -> list[str]:
    problems = []
    if report["seconds"] > TIME_BUDGET_SECONDS:
        problems.append(f"took {report['seconds']:.1f} s > {TIME_BUDGET_SECONDS:.0f} s")
    if report["peak_rss_bytes"] > RSS_BUDGET_BYTES:
        problems.append(f"peak RSS {report['peak_rss_bytes'] / 1e9:.2f} GB > 2 GiB")
    if report["rows_read"] != rows or report["accepted"] + report["rejected"] != rows:
        problems.append("counts do not reconcile")
    if report["rejected"] != broken:
        problems.append(f"rejected {report['rejected']} rows, broke {broken}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, print, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="bench_validation_"))
    path = folder / f"loans_{args.rows}.csv"
    try:
        start = time.perf_counter()
        broken, width = generate(path, args.rows, args.seed)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows x {width} columns ({size_mb:,.0f} MB, "
            f"{broken:,} broken) in {time.perf_counter() - start:.1f} s"
        )
        report = _measure_in_subprocess(path)
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"read + validate: {report['seconds']:.2f} s, "
        f"{report['rows_read'] / report['seconds']:,.0f} rows/s, "
        f"peak RSS {report['peak_rss_bytes'] / 2**20:,.0f} MiB"
    )
    print(
        f"rows read {report['rows_read']:,} = accepted {report['accepted']:,} "
        f"+ rejected {report['rejected']:,}; issues {report['issues']:,}"
    )
    print(f"rejected rows by reason: {report['reasons']}")
    problems = _verdict(report, args.rows, broken)
    print("FAIL: " + "; ".join(problems) if problems else "PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
