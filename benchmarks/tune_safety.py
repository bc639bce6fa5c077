"""Choose the safe-improvement defaults (test, min_support, confidence) on *tuning* seeds.

For each tuning seed: simulate a history, train once, then refit only the safety test
under every (test, min_support, confidence) combination and value the learned policy on
a fresh portfolio against the truth (vs ``bau``, oracle capture, with and without BAU's
capacity). The defaults in ``config.py`` are chosen from this grid on seeds 101-103; the
README reports other seeds.

    .venv/bin/python benchmarks/tune_safety.py --loans 5000,50000 --seeds 101,102,103
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from loan_recovery.config import Settings, load_settings
from loan_recovery.jobs.evaluate import evaluate_policies, prepare_evaluation
from loan_recovery.jobs.train import fit_history_safety
from loan_recovery.simulation.portfolio import simulate_portfolio

TUNING_SEEDS = (101, 102, 103)


def _with_safe(settings: Settings, **update: object) -> Settings:
    safe = settings.strategy.safe.model_copy(update=update)
    return settings.model_copy(
        update={"strategy": settings.strategy.model_copy(update={"safe": safe})}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", default="5000,50000")
    parser.add_argument("--seeds", default=",".join(str(s) for s in TUNING_SEEDS))
    parser.add_argument("--fresh-loans", type=int, default=20_000)
    parser.add_argument("--tests", default="policy,pairs")
    parser.add_argument("--min-support", default="10,30,100")
    parser.add_argument("--confidence", default="0.8,0.9,0.95")
    args = parser.parse_args()
    base = load_settings()
    grid = list(
        itertools.product(
            args.tests.split(","),
            [int(v) for v in args.min_support.split(",")],
            [float(v) for v in args.confidence.split(",")],
        )
    )
    for loans in (int(v) for v in args.loans.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            setup = prepare_evaluation(
                settings=base, n_loans=loans, seed=seed, fresh_loans=args.fresh_loans
            )
            history = simulate_portfolio(loans, seed, settings=base).loans
            for test, min_support, confidence in grid:
                settings = _with_safe(
                    base, test=test, min_support=min_support, confidence=confidence
                )
                safety = fit_history_safety(history, setup.bundle, settings, seed)
                report = evaluate_policies(
                    setup.with_safety(safety), settings, bootstrap_replicates=50
                )
                learned = report.policies["learned"]
                capped = evaluate_policies(
                    setup.with_safety(safety),
                    settings,
                    same_capacity=True,
                    bootstrap_replicates=50,
                ).policies["learned"]
                row = {
                    "loans": loans,
                    "seed": seed,
                    "test": test,
                    "min_support": min_support,
                    "confidence": confidence,
                    "vs_bau": round(learned.vs_bau, 5),
                    "capture": round(float(np.nan_to_num(learned.capture)), 4),
                    "same_capacity_vs_bau": round(capped.vs_bau, 5),
                    "approved_pairs": len(safety.deviations.approved) if safety else 0,
                }
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
