"""Early-warning training job: payment history and loans -> time-split evaluation -> a version.

Stages: validate both files (bad rows quarantined beside them), train on earlier monthly
cut-offs and test on the latest labelled one (:func:`train_early_warning`), save the model
with its evaluation in the early-warning registry. The registry's first version becomes
champion; later ones only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data.io import write_table
from loan_recovery.data.payment_validation import validate_payments_file
from loan_recovery.data.validation import default_quarantine_path
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.early_warning import (
    EarlyWarningTraining,
    early_warning_registry,
    save_early_warning,
    train_early_warning,
)
from loan_recovery.models.registry import ModelRegistry, VersionInfo, data_fingerprint


@dataclass(frozen=True)
class TrainEarlyWarningOutcome:
    """The saved version, what the time split measured, and both files' validation."""

    version: VersionInfo
    promoted: bool
    training: EarlyWarningTraining
    payments: ValidateOutcome
    loans: ValidateOutcome


def run_validate_payments(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
) -> ValidateOutcome:
    """Validate a payment-history file; write rejected rows beside it (or to the path)."""
    result = validate_payments_file(path, mapping_path=mapping_path, settings=settings)
    written: Path | None = None
    if result.rejected:
        written = write_table(result.quarantine, quarantine_path or default_quarantine_path(path))
    return ValidateOutcome(result=result, quarantine_path=written)


def train_and_register(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    settings: Settings,
    registry: ModelRegistry,
    seed: int = 0,
    promote: bool | None = None,
    source: str = "",
    n_jobs: int | None = None,
) -> tuple[VersionInfo, bool, EarlyWarningTraining]:
    """Train on validated frames and save a version; the frame-level entry point.

    ``promote``: True makes the version champion, False never, None only when the
    registry has no champion yet. Returns the version, whether it was promoted, and the
    training result.
    """
    training = train_early_warning(
        payments, loans, settings=settings.early_warning, random_state=seed, n_jobs=n_jobs
    )
    info = save_early_warning(
        registry,
        training,
        settings=settings.early_warning,
        extra_metadata={
            "seed": seed,
            "training_data": {"source": source, **data_fingerprint(payments)},
        },
    )
    should_promote = promote if promote is not None else registry.champion() is None
    if should_promote:
        registry.promote(info.version)
    return info, should_promote, training


def run_train_early_warning(
    payments_path: Path,
    loans_path: Path,
    *,
    settings: Settings,
    models_dir: Path | None = None,
    seed: int = 0,
    promote: bool | None = None,
    loans_mapping_path: Path | None = None,
    payments_mapping_path: Path | None = None,
    n_jobs: int | None = None,
) -> TrainEarlyWarningOutcome:
    """Validate both files, train with the time split, save (and maybe promote) a version."""
    payments = run_validate_payments(
        payments_path, settings=settings, mapping_path=payments_mapping_path
    )
    loans = run_validate(loans_path, settings=settings, mapping_path=loans_mapping_path)
    registry = early_warning_registry(models_dir or settings.registry_dir, settings.early_warning)
    info, promoted, training = train_and_register(
        payments.result.table,
        loans.result.table,
        settings=settings,
        registry=registry,
        seed=seed,
        promote=promote,
        source=str(payments_path),
        n_jobs=n_jobs,
    )
    return TrainEarlyWarningOutcome(
        version=info, promoted=promoted, training=training, payments=payments, loans=loans
    )
