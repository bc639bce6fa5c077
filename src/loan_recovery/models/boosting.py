"""Small XGBoost helpers shared by every boosted model."""

from __future__ import annotations

from collections.abc import Sequence

import xgboost as xgb


def named(booster: xgb.Booster, names: Sequence[str]) -> xgb.Booster:
    """Give a booster trained on unnamed matrices its feature names.

    Boosting on named matrices makes XGBoost re-read and compare every feature name on
    every round and every evaluation (over half the fit time on a small file). The names
    only matter to the saved model, scoring checks and explanations, so they are attached
    once, after training; the trees are the same either way.
    """
    booster.feature_names = list(names)
    return booster
