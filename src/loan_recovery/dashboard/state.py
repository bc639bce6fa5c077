"""Cached access to settings, the champion model and planned tables for every page.

Why caching here: models load once per server (``st.cache_resource``: shared, never
copied), tables and plans once per distinct input (``st.cache_data``: keyed by the file's
path and modification time or the upload's bytes), so a page answers from memory after
its first load. Errors come back as :class:`~loan_recovery.exceptions.LoanRecoveryError`
for the page to show with ``st.error``; nothing here draws.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from loan_recovery.config import Settings, load_settings
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.validation import ValidationResult, validate_file, validate_frame
from loan_recovery.jobs.demo import DemoPaths
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.strategy.plan import PlanResult, plan_loans


@st.cache_resource
def get_settings() -> Settings:
    """Settings from defaults, ``LOAN_RECOVERY_CONFIG`` and the environment (the CLI sets them)."""
    return load_settings()


@st.cache_resource(show_spinner="Loading the champion model…")
def _bundle(registry_dir: str, version: str) -> ModelBundle:
    return load_bundle(ModelRegistry(Path(registry_dir)), version)


def champion_bundle(settings: Settings) -> ModelBundle:
    """The registry's champion, verified and loaded once per server and version.

    Resolving the alias first means promoting a new champion is picked up without a restart.
    """
    registry = ModelRegistry(settings.registry_dir)
    return _bundle(str(settings.registry_dir), registry.resolve("champion"))


def default_portfolio_path(settings: Settings) -> Path:
    """``dashboard.data_file`` when set, else the demo portfolio ``make run`` builds."""
    configured = settings.dashboard.data_file
    return configured if configured is not None else DemoPaths.from_settings(settings).portfolio


@st.cache_data(show_spinner="Validating the portfolio…", max_entries=8)
def _validated_path(path: str, modified_ns: int, _settings: Settings) -> ValidationResult:
    del modified_ns  # part of the cache key only: a rewritten file is read again
    return validate_file(Path(path), settings=_settings)


def validated_file(path: Path, settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of a portfolio file on disk."""
    modified = path.stat().st_mtime_ns
    return f"{path.resolve()}@{modified}", _validated_path(str(path.resolve()), modified, settings)


@st.cache_data(show_spinner="Validating the upload…", max_entries=8)
def _validated_upload(
    digest: str, name: str, _data: bytes, _settings: Settings
) -> ValidationResult:
    del digest  # cache key
    import tempfile

    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="loan-recovery-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(_data)
        raw = read_raw_table(path)
    return validate_frame(raw, settings=_settings)


def validated_upload(name: str, data: bytes, settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of an uploaded CSV or Parquet file."""
    digest = hashlib.sha256(data).hexdigest()
    return f"upload:{digest}", _validated_upload(digest, name, data, settings)


@st.cache_data(show_spinner="Planning the portfolio…", max_entries=16)
def _plan(
    table_key: str,
    version: str,
    policy: str,
    capacity: tuple[tuple[str, int], ...],
    budget: float | None,
    _table: pd.DataFrame,
    _bundle: ModelBundle,
    _settings: Settings,
) -> PlanResult:
    del table_key, version  # cache key
    return plan_loans(
        _table, _bundle, _settings, policy=policy, capacity=dict(capacity), budget=budget
    )


def planned(
    table_key: str,
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: Settings,
    *,
    policy: str = "learned",
    capacity: dict[str, int] | None = None,
    budget: float | None = None,
) -> PlanResult:
    """The plan of a validated table, cached per table, model version, policy and limits."""
    limits = tuple(sorted((capacity or {}).items()))
    return _plan(table_key, bundle.version, policy, limits, budget, table, bundle, settings)
