"""Store jobs: import a loan file, write a plan, migrate the database.

Thin orchestrators over :mod:`loan_recovery.store`, shared by the CLI and anything else
that drives the store from files. Each opens the store first, so a database that is not
migrated is reported before minutes of validation or planning are spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loan_recovery.config import Settings
from loan_recovery.jobs.plan import PlanOutcome
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.store.audit import CLI_ACTOR, write_audit
from loan_recovery.store.db import (
    Store,
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    settings_url,
    shown_url,
    store_session_scope,
    upgrade,
)
from loan_recovery.store.loans import UpsertCounts, import_loans
from loan_recovery.store.plans import StoredPlan, store_plan

LOANS_IMPORT = "loans.import"


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did, the validation behind it, and which database it wrote."""

    counts: UpsertCounts
    validation: ValidateOutcome
    database: str

    @property
    def rows_read(self) -> int:
        """Data rows of the file."""
        return self.validation.result.rows_read

    @property
    def rejected(self) -> int:
        """Rows validation refused (kept in the quarantine file)."""
        return self.validation.result.rejected

    @property
    def reconciles(self) -> bool:
        """Every row read is inserted, updated, unchanged, outdated or rejected."""
        return self.rows_read == self.counts.loans + self.rejected

    def as_dict(self) -> dict[str, int]:
        """The counts: what the loans became, and how many warnings validation gave."""
        counts = self.counts
        return {
            "rows_read": self.rows_read,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "outdated": counts.outdated,
            "rejected": self.rejected,
            "borrowers_inserted": counts.borrowers_inserted,
            "borrowers_updated": counts.borrowers_updated,
            "warnings": len(self.validation.result.warnings),
        }

    def payload(self) -> dict[str, Any]:
        """What ``import --json`` prints and the audit row records: the counts and the
        warnings by reason (loans kept with an unusable contact detail)."""
        return self.as_dict() | {"warning_reasons": self.validation.result.warning_counts()}


@dataclass(frozen=True)
class MigrationState:
    """Where a database stands against the migrations this code ships."""

    database: str
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """Whether the schema is at the head revision."""
        return self.current == self.head


def run_import(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    actor: str = CLI_ACTOR,
    batch_size: int | None = None,
    store: Store | None = None,
    on_batch: Callable[[UpsertCounts], None] | None = None,
) -> ImportOutcome:
    """Validate ``path`` (bad rows to quarantine) and upsert the accepted rows in batches."""
    with store_session_scope(settings, store) as active:
        validation = run_validate(
            path, settings=settings, mapping_path=mapping_path, quarantine_path=quarantine_path
        )
        counts = import_loans(
            active.engine,
            validation.result.table,
            actor=actor,
            batch_size=batch_size or settings.store.batch_size,
            source=path.name,
            on_batch=on_batch,
        )
        outcome = ImportOutcome(
            counts=counts, validation=validation, database=shown_url(active.engine.url)
        )
        with active.transaction() as session:
            write_audit(
                session,
                actor=actor,
                action=LOANS_IMPORT,
                entity="loan",
                details={"source": path.name, **outcome.payload()},
            )
        return outcome


def model_details(registry: ModelRegistry, version: str) -> dict[str, Any]:
    """What the registry says about ``version`` (family, creation time, metrics summary)."""
    for info in registry.versions():
        if info.version == version:
            return {"created_at": info.created_at, **dict(info.summary)}
    return {}


def run_store_plan(
    outcome: PlanOutcome,
    *,
    settings: Settings,
    store: Store,
    models_dir: Path | None = None,
    actor: str = CLI_ACTOR,
    on_batch: Callable[[UpsertCounts], None] | None = None,
) -> StoredPlan:
    """Upsert the planned loans (in batches), then write the plan's scores and actions."""
    table = outcome.validation.result.table
    loan_counts = import_loans(
        store.engine,
        table,
        actor=actor,
        batch_size=settings.store.batch_size,
        source="plan",
        on_batch=on_batch,
    )
    details = model_details(ModelRegistry(models_dir or settings.registry_dir), outcome.version)
    with store.transaction() as session:
        stored = store_plan(
            session,
            outcome.plan.worklist,
            model_version=outcome.version,
            actor=actor,
            policy=outcome.plan.policy,
            model_details=details,
        )
    return StoredPlan(
        run_id=stored.run_id,
        model_version=stored.model_version,
        scores=stored.scores,
        actions_created=stored.actions_created,
        actions_kept=stored.actions_kept,
        actions_cancelled=stored.actions_cancelled,
        loans=loan_counts,
    )


def migration_state(settings: Settings) -> MigrationState:
    """The database's revision and the code's head revision."""
    engine = create_store_engine(settings_url(settings))
    try:
        return MigrationState(
            database=shown_url(engine.url), current=current_revision(engine), head=head_revision()
        )
    finally:
        engine.dispose()


def run_migrate(settings: Settings, *, direction: str, revision: str) -> MigrationState:
    """Upgrade or downgrade the settings' database to ``revision``."""
    engine = create_store_engine(settings_url(settings))
    try:
        reached = (
            upgrade(engine, revision) if direction == "upgrade" else downgrade(engine, revision)
        )
        return MigrationState(database=shown_url(engine.url), current=reached, head=head_revision())
    finally:
        engine.dispose()
