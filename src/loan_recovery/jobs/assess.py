"""Assess job: one loan (or a few) in, the plan row and everything that explains it out.

The dashboard's "Assess a borrower" page and the REST API call :func:`assess_loans` with
raw rows as a form or a request body gives them. The rows go through the same steps as
``loan-recovery plan`` (validate with :func:`validate_frame`, plan with
:func:`plan_loans`), so an assessed loan gets exactly the numbers the CLI gives the same
row. On top of the plan row come what a screen shows: the risk model's per-feature SHAP
contributions, the engineered ratios and asset class from :func:`score_loans`, the
segment's description, and which actions the guardrails left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loan_recovery import features
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import COLUMN, LINE, MESSAGE, ValidationResult, validate_frame
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.design import describe_feature, risk_design_matrix
from loan_recovery.models.scoring import model_contributions
from loan_recovery.strategy.plan import action_values, plan_loans
from loan_recovery.strategy.rules import RULE_SEPARATOR

#: Raw cell values a form or a JSON body may hold (``None``: blank).
RawValue = str | int | float | None


def _cell_text(value: RawValue) -> str:
    """A value as the text a CSV cell would hold: blank for None/NaN, floats round-trip."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):  # bool is an int: name it as the schema's Yes/No
        return schema.YES_NO[0] if value else schema.YES_NO[1]
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return str(value)


def raw_frame(records: Sequence[Mapping[str, RawValue]]) -> pd.DataFrame:
    """Rows of field values as :func:`~loan_recovery.data.io.read_raw_table` returns a file.

    Every value becomes text (blank for ``None``), columns keep the order they first
    appear in, and the index holds the line each row would have in a CSV file (the
    first record is line 2), so validation messages point at the same place.
    """
    columns: list[str] = []
    for record in records:
        columns.extend(name for name in record if name not in columns)
    data = {name: [_cell_text(record.get(name)) for record in records] for name in columns}
    lines = pd.RangeIndex(
        schema.FIRST_DATA_LINE, schema.FIRST_DATA_LINE + len(records), name=schema.SOURCE_LINE
    )
    return pd.DataFrame(data, index=pd.Index(lines, dtype=np.int64, name=schema.SOURCE_LINE))


@dataclass(frozen=True, eq=False)
class Assessment:
    """The validation of the rows and, for the accepted ones, the plan and its explanation.

    Every per-loan frame except ``worklist`` is indexed by ``Loan_ID``:

    - ``worklist``: :func:`plan_loans`' worklist of the accepted rows (priority order),
      identical to what ``loan-recovery plan`` writes for them;
    - ``scores``: :func:`score_loans` (as the plan scored them): risk, band, asset class, segment
      and every engineered feature;
    - ``contributions``: the risk model's SHAP contribution of each design column,
      columns named by :func:`describe_feature`; with ``bias`` they add up to the model's
      own output (``contribution_unit``: log-odds for XGBoost, probability for a forest);
    - ``allowed``: which actions the catalogue and guardrails leave per loan;
    - ``segment_descriptions``: the segmenter's one-line profile of each loan's segment.
    """

    validation: ValidationResult
    worklist: pd.DataFrame
    scores: pd.DataFrame
    contributions: pd.DataFrame
    bias: pd.Series
    contribution_unit: str
    allowed: pd.DataFrame
    segment_descriptions: pd.Series

    @property
    def accepted(self) -> int:
        """Rows that passed validation (and were planned)."""
        return self.validation.accepted

    def field_errors(self, line: int | None = None) -> dict[str, list[str]]:
        """Validation messages by column, in column order (only ``line``'s when given)."""
        issues = self.validation.issues
        if line is not None:
            issues = issues[issues[LINE] == line]
        errors: dict[str, list[str]] = {}
        for column, message in zip(issues[COLUMN], issues[MESSAGE], strict=True):
            errors.setdefault(str(column), []).append(str(message))
        return errors

    def scores_of(self, loan_id: str) -> pd.Series:
        """Score, band, asset class, segment and engineered features of one accepted loan."""
        return _one_row(self.scores, loan_id)

    def contributions_of(self, loan_id: str) -> pd.Series:
        """SHAP contribution per feature description of one accepted loan (bias excluded)."""
        return _one_row(self.contributions, loan_id)

    def allowed_of(self, loan_id: str) -> pd.Series:
        """Action -> whether catalogue and guardrails allow it, for one accepted loan."""
        return _one_row(self.allowed, loan_id)

    def plan_row(self, loan_id: str) -> pd.Series:
        """The worklist row of one accepted loan."""
        if schema.LOAN_ID not in self.worklist.columns:  # nothing was accepted
            raise KeyError(f"loan {loan_id!r} was not planned (rejected or unknown).")
        return _one_row(self.worklist.set_index(schema.LOAN_ID, drop=False), loan_id)


def _one_row(frame: pd.DataFrame, loan_id: str) -> pd.Series:
    """The row of ``loan_id`` (the last one if the loan repeats)."""
    if loan_id not in frame.index:
        raise KeyError(f"loan {loan_id!r} was not planned (rejected or unknown).")
    position = int(np.flatnonzero(frame.index == loan_id)[-1])
    return frame.iloc[position]


def _per_action(plan_row: pd.Series, column_of: Callable[[str], str]) -> pd.Series:
    actions = [action for action in schema.ACTION_NAMES if column_of(action) in plan_row.index]
    values = [float(plan_row[column_of(action)]) for action in actions]
    return pd.Series(values, index=pd.Index(actions), dtype=np.float64)


def action_net_values(plan_row: pd.Series) -> pd.Series:
    """Discounted expected net recovery of every catalogue action for one worklist row.

    Action -> the plan's ``value_<action>``; leaving the loan alone is worth
    ``value_if_left_alone`` (not listed: hold is not an action a screen offers).
    """
    return _per_action(plan_row, schema.value_column)


def action_uplift_values(plan_row: pd.Series) -> pd.Series:
    """What every catalogue action adds over leaving the loan alone, for one worklist row.

    Action -> the plan's ``uplift_<action>``: the number the plan decides on, so a screen
    can show why an action that recovers a lot may still not be worth its cost.
    """
    return _per_action(plan_row, schema.uplift_column)


def guardrail_sentences(plan_row: pd.Series) -> list[str]:
    """The guardrail explanations of one worklist row, one sentence per rule."""
    text = plan_row.get(schema.GUARDRAILS)
    if not isinstance(text, str) or not text:
        return []
    return [sentence for sentence in text.split(RULE_SEPARATOR) if sentence]


def reason_sentences(plan_row: pd.Series, top_k: int) -> list[str]:
    """The reason codes of one worklist row, rank 1 first, blanks dropped."""
    reasons = (plan_row.get(schema.reason_column(rank)) for rank in range(1, top_k + 1))
    return [reason for reason in reasons if isinstance(reason, str) and reason]


def _by_loan(frame: pd.DataFrame, loan_ids: pd.Index) -> pd.DataFrame:
    return frame.set_axis(loan_ids)


def assess_loans(raw: pd.DataFrame, bundle: ModelBundle, settings: Settings) -> Assessment:
    """Validate ``raw`` rows, plan the accepted ones with ``bundle`` and explain each.

    ``raw`` is shaped like :func:`~loan_recovery.data.io.read_raw_table` output (see
    :func:`raw_frame`). Bad rows never raise: they are in ``validation.issues`` (line,
    column, reason, message) and ``validation.quarantine``. Table-level problems (a
    missing required column, no rows) raise :class:`~loan_recovery.exceptions.SchemaError`
    or :class:`~loan_recovery.exceptions.DataFileError`, as :func:`validate_frame` does.
    """
    validation = validate_frame(raw, settings=settings)
    table = validation.table
    names = list(bundle.feature_names)
    descriptions = [describe_feature(name) for name in names]
    unit = bundle.risk_model.base_.contribution_unit
    loan_ids = pd.Index(table[schema.LOAN_ID].astype(str), name=schema.LOAN_ID)
    if table.empty:
        return Assessment(
            validation=validation,
            worklist=pd.DataFrame(),
            scores=pd.DataFrame(index=loan_ids),
            contributions=pd.DataFrame(columns=descriptions, index=loan_ids, dtype=np.float64),
            bias=pd.Series(index=loan_ids, dtype=np.float64),
            contribution_unit=unit,
            allowed=pd.DataFrame(index=loan_ids, dtype=bool),
            segment_descriptions=pd.Series(index=loan_ids, dtype="str"),
        )
    inputs = action_values(table, bundle, settings)  # scored once, planned from it
    plan = plan_loans(table, bundle, settings, inputs=inputs)
    scores = inputs.scores
    design = risk_design_matrix(table, settings.risk)
    shap = model_contributions(
        bundle.risk_model, design, approximate=settings.explain.method == "approximate"
    )
    guard = inputs.guard
    segment_lines = np.asarray(bundle.segmenter.describe(), dtype=object)
    segment_ids = scores[schema.SEGMENT_ID].to_numpy(dtype=np.int64)
    return Assessment(
        validation=validation,
        worklist=plan.worklist,
        scores=_by_loan(scores, loan_ids),
        contributions=pd.DataFrame(shap[:, :-1], index=loan_ids, columns=descriptions),
        bias=pd.Series(shap[:, -1], index=loan_ids, dtype=np.float64),
        contribution_unit=unit,
        allowed=_by_loan(guard.allowed, loan_ids),
        segment_descriptions=pd.Series(segment_lines[segment_ids], index=loan_ids, dtype="str"),
    )


def engineered_features(scores_row: pd.Series) -> pd.Series:
    """One scored loan's engineered features (ratios, flags, DPD bucket), by feature name."""
    present = [name for name in features.FEATURE_COLUMNS if name in scores_row.index]
    return scores_row[present]
