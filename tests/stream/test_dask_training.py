"""Boosters trained with xgboost.dask on a 2-worker cluster: the served risk booster and
the outcome boosters, through the same training code as one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.jobs.dask_batches import DaskBatches
from loan_recovery.models.boosting import BoostRows, boosting_on, fit_booster, training_cluster
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.scoring import score_loans
from loan_recovery.simulation.portfolio import simulate_portfolio

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 3,
    "learning_rate": 0.3,
    "seed": 3,
    "nthread": 1,
    "verbosity": 0,
}


def _rows(count: int, seed: int) -> BoostRows:
    generator = np.random.default_rng(seed)
    values = generator.normal(size=(count, 4)).astype(np.float32)
    margin = 1.5 * values[:, 0] - values[:, 1] ** 2
    label = (generator.random(count) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    return BoostRows(values, label)


def test_a_booster_fitted_on_the_cluster_learns_what_one_fitted_here_learns(
    cluster: DaskBatches,
) -> None:
    train, valid, test = _rows(4_000, 1), _rows(1_000, 2), _rows(2_000, 3)
    here = fit_booster(PARAMS, train, 200, valid=valid, early_stopping_rounds=10)
    with boosting_on(cluster.client):
        assert training_cluster() is cluster.client
        remote = fit_booster(PARAMS, train, 200, valid=valid, early_stopping_rounds=10)
    assert training_cluster() is None
    # Early stopping ran on the cluster too: far fewer than 200 rounds were kept.
    assert remote.num_boosted_rounds() < 200
    assert abs(remote.best_iteration - here.best_iteration) <= 5
    auc = {
        name: roc_auc_score(test.label, booster.inplace_predict(test.values))
        for name, booster in (("here", here), ("cluster", remote))
    }
    assert auc["cluster"] == pytest.approx(auc["here"], abs=0.01)
    assert auc["cluster"] > 0.75


def test_train_on_the_cluster_serves_a_model_that_scores_like_one_trained_here(
    tmp_path: Path, settings: Settings, cluster: DaskBatches
) -> None:
    history = write_table(
        simulate_portfolio(3_000, 5, settings=settings).loans, tmp_path / "history.parquet"
    )
    fresh = simulate_portfolio(1_000, 6, settings=settings).loans
    runner = CliRunner()
    scores: dict[str, pd.DataFrame] = {}
    for name, extra in (("here", []), ("cluster", ["--dask", cluster.client.scheduler.address])):
        models = tmp_path / name
        common = [str(history), "--models", str(models), "--no-cv", "--seed", "4"]
        done = runner.invoke(app, ["train", *common, *extra])
        assert done.exit_code == 0, done.output
        bundle = load_bundle(ModelRegistry(models), None)
        assert bundle.outcome_model is not None
        scores[name] = score_loans(fresh, bundle, settings.risk, top_k=1)
    here, remote = (scores[name][schema.RISK_SCORE] for name in ("here", "cluster"))
    assert not np.array_equal(here, remote)  # the cluster's trees, not a copy of these
    assert np.corrcoef(here, remote)[0, 1] > 0.95
