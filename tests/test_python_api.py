"""The Python API: the docs' notebook session runs as written, and a notebook gets the
CLI's numbers for the same rows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import loan_recovery as lr
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.exceptions import DataFileError
from loan_recovery.jobs.plan import run_plan
from loan_recovery.jobs.score import run_score

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def test_the_documented_notebook_session_runs_as_written(served_models: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"models_dir": served_models}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert isinstance(namespace["plan"], lr.python_api.PlanResult)


def test_a_notebook_plan_and_scores_equal_the_cli_jobs(
    tmp_path: Path, served_models: Path, settings: Settings
) -> None:
    fresh = lr.simulate(300, seed=21, settings=settings)
    source = write_table(fresh, tmp_path / "fresh.csv")
    models = lr.load_models(served_models, settings=settings)
    cli_plan = run_plan(source, out=tmp_path / "plan.csv", settings=settings, bundle=models)
    pd.testing.assert_frame_equal(
        lr.plan(source, models, settings=settings).worklist, cli_plan.plan.worklist
    )
    # From the DataFrame itself (typed, not read from text): the same plan.
    pd.testing.assert_frame_equal(
        lr.plan(fresh, models, settings=settings).worklist, cli_plan.plan.worklist
    )
    cli_scores = run_score(source, out=tmp_path / "s.csv", settings=settings, bundle=models)
    pd.testing.assert_frame_equal(lr.score(source, models, settings=settings), cli_scores.scores)


def test_a_frame_with_no_valid_row_is_refused_with_the_reason(
    served_models: Path, settings: Settings
) -> None:
    broken = lr.simulate(3, seed=2, settings=settings).assign(**{schema.AGE: -1})
    with pytest.raises(DataFileError, match="no loan to plan: all 3 rows were rejected"):
        lr.plan(broken, lr.load_models(served_models), settings=settings)


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = "import sys, loan_recovery; print('pandas' in sys.modules, loan_recovery.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", lr.__version__]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        lr.nothing  # noqa: B018
