"""Validate job: check a lender file, keep every rejected row in a quarantine file and
list every warning (a loan kept with an unusable contact detail) in a warnings file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.data.validation import (
    ValidationResult,
    default_quarantine_path,
    default_warnings_path,
    validate_file,
    write_quarantine,
    write_warnings,
)
from loan_recovery.exceptions import DataFileError


@dataclass(frozen=True, slots=True)
class ValidateOutcome:
    """The validation result, where the rejected rows went and where the warnings went
    (None when there were none)."""

    result: ValidationResult
    quarantine_path: Path | None
    warnings_path: Path | None = None


def run_validate(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    require_label: bool = False,
    warnings_path: Path | None = None,
) -> ValidateOutcome:
    """Validate ``path``; write rejected rows beside it (or to ``quarantine_path``) and
    the warnings beside it too (or to ``warnings_path``)."""
    result = validate_file(
        path, mapping_path=mapping_path, settings=settings, require_label=require_label
    )
    rejected: Path | None = None
    if result.rejected:
        rejected = write_quarantine(result, quarantine_path or default_quarantine_path(path))
    warned: Path | None = None
    if len(result.warnings):
        warned = write_warnings(result, warnings_path or default_warnings_path(path))
    return ValidateOutcome(result=result, quarantine_path=rejected, warnings_path=warned)


def require_accepted(accepted: int, rejected: int, quarantine: Path | None, task: str) -> None:
    """Refuse to ``task`` a file whose every row was rejected, saying where they went."""
    if accepted:
        return
    where = f" (reasons in {quarantine})" if quarantine is not None else ""
    raise DataFileError(f"no loan to {task}: all {rejected:,} rows were rejected{where}.")
