"""Is the worklist ordered by the money working a loan adds? Measured against the truth.

Trains on a simulated history, plans fresh loans with the default settings, and compares
each loan's ``priority`` with the *true* uplift of its recommended action (the
simulator's discounted expected net of that action minus that of leaving the loan
alone):

* Spearman correlation between priority and true uplift over the loans the plan works
  (target >= 0.6);
* among the top 10% by priority, the share of loans the truth says would do as well left
  alone: true uplift of the recommended action at most 1% of the outstanding (target <=
  10%).

    .venv/bin/python benchmarks/bench_worklist.py --train-loans 50000 --loans 20000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.train import run_train
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import plan_loans

FRESH_SEED_OFFSET = 10_000
TOP_SHARE = 0.10
NEAR_ZERO_SHARE = 0.01


def measure(train_loans: int, loans: int, seed: int) -> dict[str, float]:
    """The worklist metrics of one seed (see the module docstring)."""
    settings = load_settings()
    history = simulate_portfolio(train_loans, seed, settings=settings)
    fresh = simulate_portfolio(loans, seed + FRESH_SEED_OFFSET, settings=settings)
    with tempfile.TemporaryDirectory(prefix="bench-worklist-") as folder:
        path = write_table(history.loans, Path(folder) / "history.parquet")
        trained = run_train(
            path,
            settings=settings,
            models_dir=Path(folder) / "models",
            seed=seed,
            cross_validate=False,
        )
    table = validate_frame(fresh.loans, settings=settings).table
    started = time.perf_counter()
    worklist = plan_loans(table, trained.bundle, settings).worklist
    elapsed = time.perf_counter() - started
    truth = fresh.truth.set_index(schema.LOAN_ID).loc[worklist[schema.LOAN_ID].to_numpy()]
    hold = truth[schema.expected_net_column(schema.HOLD)].to_numpy()
    actions = worklist[schema.RECOMMENDED_ACTION].to_numpy(dtype=object)
    true_uplift = _pick_truth(truth, actions) - hold
    worked = actions != schema.HOLD
    priority = worklist[schema.PRIORITY].to_numpy(dtype=np.float64)
    outstanding = (
        table.set_index(schema.LOAN_ID)
        .loc[worklist[schema.LOAN_ID].to_numpy(), schema.OUTSTANDING_LOAN_AMOUNT]
        .to_numpy(dtype=np.float64)
    )
    top = np.arange(len(priority)) < int(np.ceil(TOP_SHARE * len(priority)))
    alone = true_uplift <= NEAR_ZERO_SHARE * outstanding
    rho = spearmanr(priority[worked], true_uplift[worked]).statistic
    return {
        "seed": seed,
        "loans_worked": int(worked.sum()),
        "spearman_priority_true_uplift": float(rho),
        "top10_share_would_do_as_well_alone": float(alone[top].mean()),
        "plan_seconds": elapsed,
        "held_share": float(1 - worked.mean()),
    }


def _pick_truth(truth: pd.DataFrame, actions: np.ndarray) -> np.ndarray:
    """truth's discounted expected net of each loan's recommended arm, vectorised."""
    columns = [schema.expected_net_column(arm) for arm in schema.ARM_NAMES]
    matrix = truth[columns].to_numpy(dtype=np.float64)
    codes = pd.Index(schema.ARM_NAMES).get_indexer(pd.Index(actions))
    picked: np.ndarray = matrix[np.arange(len(codes)), codes]
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-loans", type=int, default=50_000)
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seeds", type=str, default="1")
    args = parser.parse_args()
    for seed in (int(value) for value in args.seeds.split(",")):
        print(json.dumps(measure(args.train_loans, args.loans, seed)), flush=True)


if __name__ == "__main__":
    main()
