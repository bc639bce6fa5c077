"""The risk candidates' CV on the demo portfolio (what ``make run`` trains on).

Issue 13's "no cost on large data" check: the champion's CV ROC-AUC on the 20,000-loan
demo must not drop below 0.832 (before cross-fitting) and its ECE must stay <= 0.03.

    .venv/bin/python benchmarks/bench_demo_risk.py
"""

from __future__ import annotations

import time

from loan_recovery.config import Settings
from loan_recovery.data.validation import validate_frame
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.risk_selection import cross_validate_risk
from loan_recovery.simulation.portfolio import simulate_portfolio


def main() -> None:
    settings = Settings()
    loans = simulate_portfolio(settings.demo.loans, settings.demo.seed, settings=settings).loans
    table = validate_frame(loans, settings=settings, require_label=True).table
    X, y = risk_design_matrix(table, settings.risk), risk_label(table, settings.risk)
    started = time.monotonic()
    evaluation = cross_validate_risk(X, y, settings=settings.risk, random_state=settings.demo.seed)
    seconds = time.monotonic() - started
    columns = ["roc_auc_mean", "roc_auc_std", "pr_auc_mean", "brier_mean", "ece_mean"]
    print(evaluation.metrics[columns].round(4).to_string())
    print(f"champion {evaluation.champion_family}; {evaluation.monotone.sentence()}")
    print(f"cross-validation of every candidate: {seconds:.0f} s")


if __name__ == "__main__":
    main()
