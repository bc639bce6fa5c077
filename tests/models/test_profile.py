"""Data profile: AUC, missing share, distinct values, and the flags a user must see."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from loan_recovery.data import schema
from loan_recovery.exceptions import TrainingDataError
from loan_recovery.models.profile import (
    FLAG_CONSTANT,
    FLAG_DIRECTION,
    FLAG_DUPLICATE_CONFLICTS,
    FLAG_LEAKAGE,
    POST_OUTCOME_REASON,
    PROFILE_COLUMNS,
    TABLE_LEVEL,
    DataProfile,
    duplicate_conflicts,
    profile_features,
    profile_markdown_section,
    univariate_auc,
)

ROWS = 400


def _label(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, ROWS).astype(np.int8)


def _flags(profile: DataProfile, feature: str) -> set[str]:
    return {flag.flag for flag in profile.flags if flag.feature == feature}


def test_planted_leak_and_constant_columns_are_flagged() -> None:
    """Gives the label plus tiny noise, its mirror, a constant and noise; expects leakage on
    both leaks (AUC > 0.95 either way), constant with no AUC, nothing on the noise."""
    label = _label()
    rng = np.random.default_rng(1)
    design = pd.DataFrame(
        {
            "leak": label + rng.normal(0, 0.01, ROWS),
            "mirror_leak": 1 - label + rng.normal(0, 0.01, ROWS),
            "flat": np.full(ROWS, 3.0),
            "noise": rng.normal(size=ROWS),
        }
    )
    profile = profile_features(design, label, expected={})
    assert profile.table.loc["leak", "auc"] > 0.95
    assert profile.table.loc["mirror_leak", "auc"] < 0.05
    assert _flags(profile, "leak") == {FLAG_LEAKAGE}
    assert _flags(profile, "mirror_leak") == {FLAG_LEAKAGE}
    assert _flags(profile, "flat") == {FLAG_CONSTANT}
    assert pd.isna(profile.table.loc["flat", "auc"])
    assert pd.isna(profile.table.loc["flat", "observed_direction"])
    assert _flags(profile, "noise") == set()
    assert profile.table.loc["leak", "flags"] == (FLAG_LEAKAGE,)


def test_direction_contradiction_names_the_auc() -> None:
    """Gives Days_Past_Due (expected +1) falling with the label and Num_Missed_Payments rising;
    expects a contradiction on the first only, with its AUC in the reason, and none once the
    tolerance calls the fall no direction."""
    label = _label()
    rng = np.random.default_rng(2)
    design = pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: 60 - 30 * label + rng.normal(0, 30, ROWS),
            schema.NUM_MISSED_PAYMENTS: 2 * label + rng.normal(0, 2, ROWS),
        }
    )
    profile = profile_features(design, label)
    table = profile.table
    assert table.loc[schema.DAYS_PAST_DUE, "observed_direction"] == -1
    assert table.loc[schema.DAYS_PAST_DUE, "expected_direction"] == 1
    assert _flags(profile, schema.DAYS_PAST_DUE) == {FLAG_DIRECTION}
    assert _flags(profile, schema.NUM_MISSED_PAYMENTS) == set()
    (flag,) = (f for f in profile.flags if f.flag == FLAG_DIRECTION)
    assert f"AUC {table.loc[schema.DAYS_PAST_DUE, 'auc']:.3f}" in flag.reason
    assert "Days past due" in flag.reason
    lenient = profile_features(design, label, direction_tolerance=0.49)
    assert lenient.table.loc[schema.DAYS_PAST_DUE, "observed_direction"] == 0
    assert not [f for f in lenient.flags if f.flag == FLAG_DIRECTION]


def test_duplicate_conflicts_known_answer() -> None:
    """Gives vectors A x3 (labels 0,1,1), B x2 (0,0), C x1, D (with NaN) x2 (0,1);
    expects 7 repeated rows, of which A's 3 and D's 2 conflict, and a table-level flag."""
    design = pd.DataFrame(
        {
            "x": [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, np.nan, np.nan],
            "y": [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 7.0, 7.0],
        }
    )
    label = np.array([0, 1, 1, 0, 0, 1, 0, 1])
    assert duplicate_conflicts(design, label) == (7, 5)
    profile = profile_features(design, label, expected={})
    assert (profile.duplicate_rows, profile.duplicate_conflicts) == (7, 5)
    assert (TABLE_LEVEL, FLAG_DUPLICATE_CONFLICTS) in {(f.feature, f.flag) for f in profile.flags}
    assert duplicate_conflicts(design.iloc[:6], label[:6]) == (5, 3)


def test_missing_share_distinct_and_nan_safe_auc() -> None:
    """Gives 10 rows with 3 missing and 4 distinct values; expects share 0.3, distinct 4 and
    the AUC of the 7 present rows, equal to scikit-learn's."""
    values = [1.0, np.nan, 2.0, 2.0, np.nan, 3.0, 4.0, np.nan, 1.0, 4.0]
    label = np.array([0, 1, 0, 1, 1, 1, 1, 0, 0, 0])
    design = pd.DataFrame({"x": values, "binary": [0, 1, 1, 0, 1, 0, 1, 1, 0, 0]})
    profile = profile_features(design, label, expected={})
    row = profile.table.loc["x"]
    assert row["missing_share"] == pytest.approx(0.3)
    assert row["distinct"] == 4
    present = ~np.isnan(values)
    expected = roc_auc_score(label[present], np.asarray(values)[present])
    assert row["auc"] == pytest.approx(expected)
    assert profile.table.loc["binary", "kind"] == "binary"
    assert profile.table.loc["x", "kind"] == "numeric"
    assert profile.table.loc["binary", "missing_share"] == 0


def test_univariate_auc_matches_sklearn_on_ties() -> None:
    """Gives integer scores with many ties; expects scikit-learn's AUC per column."""
    label = _label(5)
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"a": rng.integers(0, 4, ROWS), "b": label * rng.integers(0, 3, ROWS)})
    auc = univariate_auc(frame.astype(float), label)
    for column in frame:
        assert auc[column] == pytest.approx(roc_auc_score(label, frame[column]))


def test_post_outcome_columns_of_the_table_are_profiled_and_flagged() -> None:
    """Gives a raw table with Legal_Action_Taken (Yes = not recovered), Amount_Recovered and
    the label column; expects both profiled outside the model with the post-outcome reason,
    the label itself not profiled."""
    label = _label(3)
    design = pd.DataFrame({schema.AGE: np.random.default_rng(4).integers(18, 70, ROWS)})
    table = pd.DataFrame(
        {
            schema.LEGAL_ACTION_TAKEN: pd.Categorical(np.where(label == 1, "Yes", "No")),
            schema.AMOUNT_RECOVERED: np.where(label == 1, 10.0, 1000.0),
            schema.RECOVERY_STATUS: np.where(label == 1, "Written Off", "Fully Recovered"),
            "Lender_Notes": "n/a",
        },
        index=pd.RangeIndex(2, ROWS + 2),  # a validated table is indexed by line number
    )
    profile = profile_features(design, label, table=table)
    rows = profile.table
    assert list(rows.index) == [schema.AGE, schema.LEGAL_ACTION_TAKEN, schema.AMOUNT_RECOVERED]
    assert not rows.loc[schema.LEGAL_ACTION_TAKEN, "in_model"]
    assert rows.loc[schema.LEGAL_ACTION_TAKEN, "kind"] == "binary"
    assert rows.loc[schema.LEGAL_ACTION_TAKEN, "auc"] == pytest.approx(1.0)
    assert rows.loc[schema.AMOUNT_RECOVERED, "auc"] == pytest.approx(0.0)
    for column in (schema.LEGAL_ACTION_TAKEN, schema.AMOUNT_RECOVERED):
        (flag,) = (f for f in profile.flags if f.feature == column)
        assert flag.flag == FLAG_LEAKAGE
        assert flag.reason.startswith(POST_OUTCOME_REASON)


def test_post_outcome_column_inside_the_design_is_flagged() -> None:
    """Gives a design holding Legal_Action_Taken as 0/1 noise; expects leakage by name."""
    label = _label()
    codes = np.random.default_rng(8).integers(0, 2, ROWS).astype(float)
    profile = profile_features(pd.DataFrame({schema.LEGAL_ACTION_TAKEN: codes}), label)
    (flag,) = (f for f in profile.flags if f.feature == schema.LEGAL_ACTION_TAKEN)
    assert flag.flag == FLAG_LEAKAGE
    assert "in the design matrix" in flag.reason


def test_to_dict_is_json_ready_and_markdown_escapes() -> None:
    """Gives a constant column (AUC None) and a name with Markdown syntax; expects strict
    JSON with every per-feature key and an escaped Markdown table row."""
    label = _label()
    design = pd.DataFrame({"flat": np.zeros(ROWS), "a|b_c": np.arange(ROWS, dtype=float)})
    profile = profile_features(design, label, expected={})
    payload = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    assert payload["rows"] == ROWS
    assert payload["positives"] == int(label.sum())
    assert all(set(feature) == {"feature", *PROFILE_COLUMNS} for feature in payload["features"])
    flat = payload["features"][0]
    assert (flat["auc"], flat["observed_direction"], flat["flags"]) == (None, None, ["constant"])
    markdown = profile_markdown_section(profile)
    assert markdown.startswith("## Data profile\n")
    assert "a\\|b\\_c" in markdown
    assert "**constant**" in markdown


def test_label_must_be_binary_and_aligned() -> None:
    """Gives a label of the wrong length and one with a 2; expects TrainingDataError."""
    design = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(TrainingDataError, match="one 0 or 1 per design row"):
        profile_features(design, np.array([0, 1]))
    with pytest.raises(TrainingDataError):
        profile_features(design, np.array([0, 1, 2]))
