"""Validate job: check a lender file and keep every rejected row in a quarantine file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.data.validation import (
    ValidationResult,
    default_quarantine_path,
    validate_file,
    write_quarantine,
)


@dataclass(frozen=True, slots=True)
class ValidateOutcome:
    """The validation result and where the rejected rows went (None when none were)."""

    result: ValidationResult
    quarantine_path: Path | None


def run_validate(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    require_label: bool = False,
) -> ValidateOutcome:
    """Validate ``path``; write rejected rows beside it (or to ``quarantine_path``)."""
    result = validate_file(
        path, mapping_path=mapping_path, settings=settings, require_label=require_label
    )
    written: Path | None = None
    if result.rejected:
        written = write_quarantine(result, quarantine_path or default_quarantine_path(path))
    return ValidateOutcome(result=result, quarantine_path=written)
