"""The Python API for notebooks: the commands' work on DataFrames, without files.

Each function is what the command of the same name does, through the same job functions
(``validate_frame``, ``score_table``, ``plan_table``, ``run_train``...), so a notebook and
the CLI give the same numbers. ``data`` is a DataFrame in the canonical layout, or the path
of a CSV, Parquet or Excel file. A DataFrame's rows are numbered in messages as a file's
would be: its first row is line 2 (line 1 being the header).

>>> import loan_recovery as lr
>>> loans = lr.simulate(200, seed=1)
>>> checked = lr.validate(loans)
>>> checked.accepted
200
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import apply_mapping, load_mapping, read_raw_table
from loan_recovery.data.validation import ValidationResult, validate_frame
from loan_recovery.jobs.evaluate import EvaluationReport, run_evaluate_policy
from loan_recovery.jobs.plan import plan_table
from loan_recovery.jobs.score import score_table
from loan_recovery.jobs.train import TrainOutcome, run_train
from loan_recovery.jobs.validate import require_accepted
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import PlanResult

#: Loans, a file of them, or a DataFrame of them.
LoanData = pd.DataFrame | str | Path

__all__ = [
    "LoanData",
    "evaluate_policy",
    "load_models",
    "plan",
    "score",
    "settings",
    "simulate",
    "train",
    "validate",
]


def settings(config_file: str | Path | None = None) -> Settings:
    """Every setting: defaults, then ``config_file`` (TOML), then ``LOAN_RECOVERY_*``
    environment variables, as the CLI reads them."""
    return load_settings(config_file)


def validate(
    data: LoanData,
    *,
    settings: Settings | None = None,
    mapping: str | Path | Mapping[str, str] | None = None,
    require_label: bool = False,
) -> ValidationResult:
    """Check loans against the canonical table.

    ``result.table`` holds the accepted rows, typed; ``result.quarantine`` the rejected
    ones with their reasons; ``result.issues`` every problem by line and column.
    ``mapping`` renames your columns to canonical ones (a TOML file or a dict).
    """
    return validate_frame(
        _raw(data, mapping),
        settings=settings or load_settings(),
        require_label=require_label,
    )


def load_models(
    models_dir: str | Path | None = None,
    version: str | None = None,
    *,
    settings: Settings | None = None,
) -> ModelBundle:
    """A registry version (the champion by default), verified and ready to score."""
    folder = (
        Path(models_dir) if models_dir is not None else (settings or load_settings()).registry_dir
    )
    return load_bundle(ModelRegistry(folder), version)


def score(
    data: LoanData,
    models: ModelBundle | None = None,
    *,
    settings: Settings | None = None,
    mapping: str | Path | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Risk score, band, asset class, segment and reasons for every valid loan (each
    loan's latest snapshot). Rejected rows are left out: see :func:`validate`.

    Raises :class:`~loan_recovery.exceptions.DataFileError` when no row is valid.
    """
    chosen = settings or load_settings()
    table = _accepted(data, chosen, mapping, "score")
    return score_table(table, models or load_models(settings=chosen), chosen)


def plan(
    data: LoanData,
    models: ModelBundle | None = None,
    *,
    settings: Settings | None = None,
    mapping: str | Path | Mapping[str, str] | None = None,
    policy: str = "learned",
    capacity: Mapping[str, int] | None = None,
    budget: float | None = None,
) -> PlanResult:
    """The recovery plan: per loan, the action that adds most over leaving it alone,
    within the rules, ``capacity`` (slots per action) and ``budget``.

    ``result.worklist`` is the plan sorted by priority; ``result.summary()`` the action
    mix and value; ``result.totals()`` the plan against holding everything and BAU.
    """
    chosen = settings or load_settings()
    table = _accepted(data, chosen, mapping, "plan")
    return plan_table(
        table,
        models or load_models(settings=chosen),
        chosen,
        policy=policy,
        capacity=capacity,
        budget=budget,
    )


def train(
    data: LoanData,
    *,
    models_dir: str | Path | None = None,
    seed: int = 0,
    cross_validate: bool = True,
    promote: bool | None = None,
    settings: Settings | None = None,
) -> TrainOutcome:
    """Train risk, outcome and segment models on labelled history; save a registry version.

    ``promote``: True makes it champion, False never, None only if there is none yet.
    """
    chosen = settings or load_settings()
    folder = Path(models_dir) if models_dir is not None else None
    if not isinstance(data, pd.DataFrame):
        return run_train(
            Path(data),
            settings=chosen,
            models_dir=folder,
            seed=seed,
            cross_validate=cross_validate,
            promote=promote,
        )
    with tempfile.TemporaryDirectory(prefix="loan-recovery-train-") as scratch:
        path = Path(scratch) / "history.parquet"
        data.to_parquet(path, index=False)
        return run_train(
            path,
            settings=chosen,
            models_dir=folder,
            seed=seed,
            cross_validate=cross_validate,
            promote=promote,
        )


def simulate(
    n_loans: int = 20_000, seed: int = 0, *, settings: Settings | None = None
) -> pd.DataFrame:
    """A simulated loan history in the canonical layout, labelled (same seed, same rows)."""
    return simulate_portfolio(n_loans, seed, settings=settings or load_settings()).loans


def evaluate_policy(
    n_loans: int = 20_000,
    seed: int = 0,
    *,
    settings: Settings | None = None,
    same_capacity: bool = False,
) -> EvaluationReport:
    """Train on a simulated history of ``n_loans``, then value every policy (learned, BAU,
    the original rules...) on fresh loans against the simulator's ground truth."""
    return run_evaluate_policy(
        settings=settings or load_settings(),
        n_loans=n_loans,
        seed=seed,
        same_capacity=same_capacity,
    )


def _raw(data: LoanData, mapping: str | Path | Mapping[str, str] | None) -> pd.DataFrame:
    """``data`` as validation reads a file: source lines as the index, columns mapped."""
    names = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping
    if not isinstance(data, pd.DataFrame):
        return read_raw_table(data, names)
    raw = apply_mapping(data, names) if names else data.copy()
    raw.index = pd.RangeIndex(
        schema.FIRST_DATA_LINE, schema.FIRST_DATA_LINE + len(raw), name=schema.SOURCE_LINE
    )
    return raw


def _accepted(
    data: LoanData,
    settings: Settings,
    mapping: str | Path | Mapping[str, str] | None,
    task: str,
) -> pd.DataFrame:
    result = validate(data, settings=settings, mapping=mapping)
    require_accepted(result.accepted, result.rejected, None, task)  # why: result.quarantine
    return result.table
