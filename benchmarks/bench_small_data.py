"""Does the CV that ``train`` reports describe the model ``score`` serves, on small files?

For each simulated file (variant x rows x seed) an *external* stratified 5-fold CV runs the
training procedure (``cross_validate_risk``: every candidate cross-fitted, the champion
refitted on all training rows) on 4/5 of the file and scores the held-out 1/5 with the
served champion (``risk_score``, what ``score`` calls). Reported beside it:

* ``reported``: the CV ROC-AUC that ``train`` prints when trained on the whole file (the
  selection-aware ``champion_procedure`` row); ``champion_row``: the winner's own row;
* ``defaults``: a default ``xgboost.XGBClassifier()`` on the same features and outer folds;
* the monotone decision and its cost.

Targets (issue 13): |external - reported| <= 0.01; external >= defaults.

    .venv/bin/python benchmarks/bench_small_data.py --seeds 1 2 3 4 5 --rows 500 2000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold

from loan_recovery.config import Settings
from loan_recovery.data.validation import validate_frame
from loan_recovery.models import metrics
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.risk_selection import cross_validate_risk
from loan_recovery.simulation.portfolio import simulate_portfolio

OUTER_FOLDS = 5


def _design(
    settings: Settings, rows: int, seed: int, variant: str
) -> tuple[pd.DataFrame, np.ndarray]:
    loans = simulate_portfolio(rows, seed, settings=settings, variant=variant).loans
    table = validate_frame(loans, settings=settings, require_label=True).table
    return risk_design_matrix(table, settings.risk), np.asarray(risk_label(table, settings.risk))


def measure(settings: Settings, rows: int, seed: int, variant: str) -> dict[str, object]:
    """External CV of the served champion, train's reported CV and library defaults."""
    X, y = _design(settings, rows, seed, variant)
    full = cross_validate_risk(X, y, settings=settings.risk, random_state=seed)
    reported = float(full.reported_metrics["roc_auc_mean"])
    champion_row = float(full.metrics["roc_auc_mean"][full.champion_family])
    outer = StratifiedKFold(OUTER_FOLDS, shuffle=True, random_state=1_000 + seed)
    served, defaults, champions = [], [], []
    for train, test in outer.split(X, y):
        evaluation = cross_validate_risk(
            X.iloc[train], y[train], settings=settings.risk, random_state=seed
        )
        champions.append(f"{evaluation.champion_family}/{int(evaluation.monotone.constrained)}")
        served.append(metrics.roc_auc(y[test], evaluation.champion.risk_score(X.iloc[test])))
        library = xgb.XGBClassifier(random_state=seed, n_jobs=2).fit(X.iloc[train], y[train])
        defaults.append(metrics.roc_auc(y[test], library.predict_proba(X.iloc[test])[:, 1]))
    return {
        "variant": variant,
        "rows": rows,
        "seed": seed,
        "reported": round(reported, 4),
        "champion_row": round(champion_row, 4),
        "external": round(float(np.mean(served)), 4),
        "defaults": round(float(np.mean(defaults)), 4),
        "gap_reported": round(reported - float(np.mean(served)), 4),
        "vs_defaults": round(float(np.mean(served)) - float(np.mean(defaults)), 4),
        "champion": full.champion_family,
        "constrained": full.monotone.constrained,
        "monotone_cost": None if full.monotone.cost is None else round(full.monotone.cost, 4),
        "outer_champions": champions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--rows", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--variants", nargs="+", default=["default", "nonmonotone"])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    arguments = parser.parse_args()
    settings = Settings()
    results = []
    for variant in arguments.variants:
        for rows in arguments.rows:
            for seed in arguments.seeds:
                started = time.monotonic()
                result = measure(settings, rows, seed, variant)
                result["seconds"] = round(time.monotonic() - started, 1)
                results.append(result)
                print(json.dumps(result) if arguments.json else result, flush=True)
    frame = pd.DataFrame(results)
    summary = frame.groupby(["variant", "rows"])[
        ["reported", "external", "defaults", "gap_reported", "vs_defaults"]
    ].mean()
    summary["max_abs_gap"] = frame.groupby(["variant", "rows"])["gap_reported"].apply(
        lambda gaps: gaps.abs().max()
    )
    summary["worst_vs_defaults"] = frame.groupby(["variant", "rows"])["vs_defaults"].min()
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
