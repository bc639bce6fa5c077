"""Small XGBoost helpers shared by every boosted model, and where a booster trains.

A booster trains in this process, or on a Dask cluster through ``xgboost.dask`` while
:func:`boosting_on` is active (``train --dask ADDRESS``). On a cluster the rows are split
into one block per worker and the workers build each tree together (XGBoost's
distributed ``hist``); the trees can differ from a one-process fit in the last digits of
their split points, as any change of partitioning does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

if TYPE_CHECKING:
    from distributed import Client

#: The cluster boosters train on (None: this process). One training runs per process, so
#: a module-level value is enough, and unlike a context variable it is what a fit
#: running in a helper thread sees too.
_cluster: list[Client] = []


@dataclass(frozen=True)
class BoostRows:
    """The rows a booster trains or is evaluated on."""

    values: npt.NDArray[np.float32]
    label: npt.NDArray[Any]
    weight: npt.NDArray[np.float64] | None = None
    base_margin: npt.NDArray[np.float64] | None = None


def named(booster: xgb.Booster, names: Sequence[str]) -> xgb.Booster:
    """Give a booster trained on unnamed matrices its feature names.

    Boosting on named matrices makes XGBoost re-read and compare every feature name on
    every round and every evaluation (over half the fit time on a small file). The names
    only matter to the saved model, scoring checks and explanations, so they are attached
    once, after training; the trees are the same either way.
    """
    booster.feature_names = list(names)
    return booster


@contextmanager
def boosting_on(client: Client) -> Iterator[None]:
    """Train the boosters fitted inside this block on ``client``'s cluster."""
    _cluster.append(client)
    try:
        yield
    finally:
        _cluster.pop()


def training_cluster() -> Client | None:
    """The cluster boosters train on now (None: this process)."""
    return _cluster[-1] if _cluster else None


def fit_booster(
    params: dict[str, Any],
    train: BoostRows,
    rounds: int,
    *,
    valid: BoostRows | None = None,
    early_stopping_rounds: int | None = None,
) -> xgb.Booster:
    """``xgb.train`` on ``train`` (with ``valid`` as the "validation" set for early
    stopping), here or on the active cluster."""
    client = training_cluster()
    if client is not None:
        return _fit_on_cluster(client, params, train, rounds, valid, early_stopping_rounds)
    threads = int(params.get("nthread", 1))
    matrix = _matrix(train, threads)
    evals = [] if valid is None else [(_matrix(valid, threads, ref=matrix), "validation")]
    return xgb.train(
        params,
        matrix,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )


def _matrix(rows: BoostRows, threads: int, ref: xgb.QuantileDMatrix | None = None) -> Any:
    return xgb.QuantileDMatrix(
        rows.values,
        rows.label,
        weight=rows.weight,
        base_margin=rows.base_margin,
        ref=ref,
        nthread=threads,
    )


def _fit_on_cluster(
    client: Client,
    params: dict[str, Any],
    train: BoostRows,
    rounds: int,
    valid: BoostRows | None,
    early_stopping_rounds: int | None,
) -> xgb.Booster:
    from xgboost import dask as dxgb

    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    matrix = dxgb.DaskQuantileDMatrix(client, **_blocks(train, workers))
    evals = []
    if valid is not None:
        evals = [
            (dxgb.DaskQuantileDMatrix(client, ref=matrix, **_blocks(valid, workers)), "validation")
        ]
    # Each worker sets its own thread count.
    settings = {key: value for key, value in params.items() if key != "nthread"}
    output = dxgb.train(
        client,
        settings,
        matrix,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    booster: xgb.Booster = output["booster"]
    return booster


def _blocks(rows: BoostRows, workers: int) -> dict[str, Any]:
    """The rows as Dask arrays of one block per worker."""
    import dask.array as da

    size = max(1, math.ceil(len(rows.values) / workers))
    arrays: dict[str, Any] = {
        "data": da.from_array(rows.values, chunks=(size, rows.values.shape[1])),
        "label": da.from_array(rows.label, chunks=size),
    }
    for name in ("weight", "base_margin"):
        value = getattr(rows, name)
        if value is not None:
            arrays[name] = da.from_array(value, chunks=size)
    return arrays
