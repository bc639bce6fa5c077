"""Score job: validate a loan file, score every accepted row with the champion, write it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import current_snapshot
from loan_recovery.jobs.validate import ValidateOutcome, require_accepted, run_validate
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.scoring import score_loans


@dataclass(frozen=True)
class ScoreOutcome:
    """Scores of the accepted rows, where they went, and the validation behind them."""

    scores: pd.DataFrame
    out_path: Path
    validation: ValidateOutcome
    version: str


def run_score(
    path: Path,
    *,
    out: Path,
    settings: Settings,
    models_dir: Path | None = None,
    version: str | None = None,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    bundle: ModelBundle | None = None,
) -> ScoreOutcome:
    """Score ``path`` with ``version`` (default: champion); bad rows go to quarantine."""
    validation = run_validate(
        path, settings=settings, mapping_path=mapping_path, quarantine_path=quarantine_path
    )
    result = validation.result
    require_accepted(result.accepted, result.rejected, validation.quarantine_path, "score")
    loaded = bundle or load_bundle(ModelRegistry(models_dir or settings.registry_dir), version)
    scores = score_table(validation.result.table, loaded, settings)
    written = write_table(scores, out)
    return ScoreOutcome(
        scores=scores, out_path=written, validation=validation, version=loaded.version
    )


def score_table(table: pd.DataFrame, bundle: ModelBundle, settings: Settings) -> pd.DataFrame:
    """Scores of a validated table: each loan's latest snapshot, reasons as configured."""
    return score_loans(
        current_snapshot(table),
        bundle,
        settings.risk,
        top_k=settings.explain.top_k,
        approximate_reasons=settings.explain.method == "approximate",
    )
