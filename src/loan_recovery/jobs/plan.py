"""Plan job: validate a loan file, build the recovery plan with the champion, write it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loan_recovery.config import DisplaySettings, Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_excel, write_table
from loan_recovery.data.validation import current_snapshot
from loan_recovery.exceptions import ConfigError, UnsupportedFormatError
from loan_recovery.jobs.validate import ValidateOutcome, require_accepted, run_validate
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.money import MoneyFormat
from loan_recovery.strategy.plan import PlanResult, plan_loans

PLAN_SUFFIXES = (".csv", ".parquet", ".xlsx")


@dataclass(frozen=True)
class PlanOutcome:
    """The plan, where it went, and the validation and model version behind it."""

    plan: PlanResult
    out_path: Path
    validation: ValidateOutcome
    version: str


def parse_capacity(text: str | None) -> dict[str, int]:
    """``"legal=40,call=500"`` -> ``{"legal": 40, "call": 500}``, names and counts checked."""
    if not text:
        return {}
    capacity: dict[str, int] = {}
    for part in text.split(","):
        name, separator, slots = part.partition("=")
        if not separator or not slots.strip().isdigit():
            raise ConfigError(f"capacity must look like legal=40,call=500; got {part.strip()!r}.")
        if name.strip() not in schema.ACTION_NAMES:
            raise ConfigError(
                f"capacity names unknown action {name.strip()!r}; "
                f"actions are {', '.join(schema.ACTION_NAMES)}."
            )
        capacity[name.strip()] = int(slots)
    return capacity


def write_plan(worklist: pd.DataFrame, path: Path, display: DisplaySettings | None = None) -> Path:
    """CSV, Parquet or Excel by suffix; in Excel, money reads as ``display`` groups it."""
    suffix = path.suffix.lower()
    if suffix not in PLAN_SUFFIXES:
        raise UnsupportedFormatError(
            f"plan files are {', '.join(PLAN_SUFFIXES)}; got {path.suffix or 'no suffix'}."
        )
    if suffix == ".xlsx":
        path.parent.mkdir(parents=True, exist_ok=True)
        formats = MoneyFormat(display or DisplaySettings()).excel_formats(worklist.columns)
        write_excel(worklist, path, number_formats=formats, sheet_name="worklist")
        return path
    return write_table(worklist, path)


def run_plan(
    path: Path,
    *,
    out: Path,
    settings: Settings,
    models_dir: Path | None = None,
    version: str | None = None,
    policy: str = "learned",
    capacity: Mapping[str, int] | None = None,
    budget: float | None = None,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    bundle: ModelBundle | None = None,
) -> PlanOutcome:
    """Plan every valid loan of ``path``; bad rows go to quarantine.

    A file of ``As_Of_Date`` snapshots is planned on each loan's latest row: a loan gets
    one recommendation, not one per month of its history.
    """
    if out.suffix.lower() not in PLAN_SUFFIXES:
        write_plan(pd.DataFrame(), out)  # raises the format error before any work
    validation = run_validate(
        path, settings=settings, mapping_path=mapping_path, quarantine_path=quarantine_path
    )
    result = validation.result
    require_accepted(result.accepted, result.rejected, validation.quarantine_path, "plan")
    loaded = bundle or load_bundle(ModelRegistry(models_dir or settings.registry_dir), version)
    plan = plan_table(
        validation.result.table, loaded, settings, policy=policy, capacity=capacity, budget=budget
    )
    written = write_plan(plan.worklist, out, settings.display)
    return PlanOutcome(plan=plan, out_path=written, validation=validation, version=loaded.version)


def plan_table(
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: Settings,
    *,
    policy: str = "learned",
    capacity: Mapping[str, int] | None = None,
    budget: float | None = None,
) -> PlanResult:
    """The plan of a validated table: each loan's latest snapshot, ``capacity`` (slots per
    action) replacing the configured one when given."""
    if capacity:
        strategy = settings.strategy.model_copy(update={"capacity": dict(capacity)})
        settings = settings.model_copy(update={"strategy": strategy})
    return plan_loans(current_snapshot(table), bundle, settings, policy=policy, budget=budget)
