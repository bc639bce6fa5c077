"""SIGKILL `loan-recovery plan --store` at random points, rerun: equal to a clean run.

The store holds an older export of 150 loans and a `bau` plan of them (scores, planned
actions); `plan --store` plans 240 loans (and 12 invalid rows) with the learned policy:
the worklist file, loans upserted in batches of 30, then one transaction with the run's
scores, new actions and the cancelled ones it supersedes. Compared after the rerun:

* ``loans``, ``borrowers``: every column but ``created_at``/``updated_at``;
* ``actions``: every column but the surrogate ``id``, ``score_id`` (the id of a score row)
  and the timestamps (wall clock of the run that wrote them);
* ``model_versions``: every column but ``registered_at`` (wall clock);
* ``scores``: each run is whole (all 240 loans or none) and equal to the clean run's,
  ignoring ``id``, ``run_id`` (a random id per run) and ``created_at``. A kill after the
  plan's commit leaves a whole run, and the rerun (a second request to plan) adds a
  second, equal one: 1 or 2 learned runs, never a partial one;
* the worklist and quarantine files, byte for byte; the audit: one ``plan.store`` row per
  stored run, every loan inserted once and every change audited once over the batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fault_data import BAD_ROWS, PLAN_LOANS, FaultFiles
from fault_support import (
    FAULT_MARKS,
    Databases,
    Launcher,
    Run,
    Scenario,
    Trial,
    assert_same,
    audit_count,
    batch_audit,
    note,
    store_env,
    table,
)

from loan_recovery.store.loans import BORROWER_UPDATE, IMPORT_BATCH, LOAN_UPDATE
from loan_recovery.store.plans import PLAN_STORE

pytestmark = FAULT_MARKS

COMMAND = "plan --store"
BATCH = 30
EXIT_REJECTED = 1
#: Wall-clock columns and surrogate ids: a rerun legitimately writes other values.
TIMESTAMPS = ("created_at", "updated_at")
IGNORED: dict[str, tuple[str, ...]] = {
    "loans": TIMESTAMPS,
    "borrowers": TIMESTAMPS,
    "actions": ("id", "score_id", *TIMESTAMPS, "started_at", "completed_at"),
    "model_versions": ("registered_at",),
}
SCORE_IGNORED = ("id", "created_at")


def _argv(files: FaultFiles, models: Path, folder: Path) -> list[str]:
    return [
        "plan", str(files.plan_loans), "--out", str(folder / "plan.csv"),
        "--quarantine", str(folder / "rejected.csv"), "--models", str(models), "--store",
    ]  # fmt: skip


def _env(url: str, folder: Path) -> dict[str, str]:
    return store_env(url, folder) | {"LOAN_RECOVERY_STORE__BATCH_SIZE": str(BATCH)}


def _state(url: str) -> dict[str, pd.DataFrame]:
    return {name: table(url, name, ignore=ignored) for name, ignored in IGNORED.items()}


def _learned_runs(url: str) -> list[pd.DataFrame]:
    """The learned policy's score runs, each without its run id, in a stable order."""
    scores = table(url, "scores", ignore=SCORE_IGNORED)
    learned = scores[scores["policy"] != "bau"]
    runs = []
    for _, run in learned.groupby("run_id", sort=False):
        frame = run.drop(columns="run_id")
        runs.append(frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True))
    return runs


def _audited(url: str) -> dict[str, int]:
    return batch_audit(url, IMPORT_BATCH, LOAN_UPDATE, BORROWER_UPDATE)


@dataclass(frozen=True)
class Clean:
    run: Run
    state: dict[str, pd.DataFrame]
    scores: pd.DataFrame
    audited: dict[str, int]
    worklist: bytes
    quarantine: bytes


@pytest.fixture(scope="module")
def scenario(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    fault_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """Runs from a store with an older export of the first 150 loans and a bau plan of them."""
    folder = tmp_path_factory.mktemp("plan-base")
    bau = [
        "plan", str(fault_files.plan_old), "--out", str(folder / "bau.csv"),
        "--models", str(fault_models), "--policy", "bau", "--store",
    ]  # fmt: skip
    setup = [(["import", str(fault_files.plan_old)], 0), (bau, 0)]
    return Scenario.prepare(launcher, databases, folder, setup, env=_env, exit_code=EXIT_REJECTED)


@pytest.fixture(scope="module")
def clean(
    scenario: Scenario,
    fault_files: FaultFiles,
    fault_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Clean:
    """`plan --store` run once without a kill: the reference, its duration and commits."""
    folder = tmp_path_factory.mktemp("plan-clean")
    url, _, run = scenario.clean_run(folder, _argv(fault_files, fault_models, folder), _env)
    (scores,) = _learned_runs(url)
    assert len(scores) == PLAN_LOANS
    state = _state(url)
    statuses = set(state["actions"]["status"])
    assert {"planned", "cancelled"} <= statuses  # the learned plan supersedes bau's
    audited = _audited(url)
    assert audited["updated"] > 0  # the file changes loans the store holds
    return Clean(
        run=run,
        state=state,
        scores=scores,
        audited=audited,
        worklist=(folder / "plan.csv").read_bytes(),
        quarantine=(folder / "rejected.csv").read_bytes(),
    )


def test_killed_plan_store_rerun_equals_clean_run(
    trial: Trial,
    scenario: Scenario,
    fault_files: FaultFiles,
    fault_models: Path,
    clean: Clean,
) -> None:
    """Kills `plan --store` at a seeded point, reruns it; expects the clean run's loans,
    actions, model version and files, whole score runs equal to the clean one, and an
    audit that reconciles."""
    argv = _argv(fault_files, fault_models, trial.folder)
    url, _, rerun = scenario.kill_and_rerun(trial, clean.run, argv, _env)
    assert f"{BAD_ROWS:,} rejected rows" in rerun.stdout

    for name, expected in clean.state.items():
        assert_same(table(url, name, ignore=IGNORED[name]), expected, name)
    runs = _learned_runs(url)
    assert len(runs) in (1, 2), f"{len(runs)} learned score runs"
    note(trial, plan_stored_before_rerun=len(runs) - 1)
    for number, scores in enumerate(runs):
        assert_same(scores, clean.scores, f"scores of learned run {number + 1}")
    assert audit_count(url, PLAN_STORE) == 1 + len(runs)  # the base's bau run, then ours
    assert _audited(url) == clean.audited
    assert (trial.folder / "plan.csv").read_bytes() == clean.worklist
    assert (trial.folder / "rejected.csv").read_bytes() == clean.quarantine
