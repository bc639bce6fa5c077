"""The lender's current rule ("business as usual"), reconstructed from its logged history.

Every learned policy is judged against what the lender does today. When the lender can
state its rule, use it; when it cannot (the rule lives in collectors' habits), this module
recovers it from the history: a shallow decision tree of the logged action on the few
facts a collections desk actually looks at, days past due, EMI burden, collateral, prior
legal action and the amount owed. Shallow on purpose: the result must read like the
lender's own rulebook (:meth:`BauRule.rules_text`) so they can confirm or correct it, and
:attr:`BauRule.agreement` says how much of the history it explains.

The fitted rule is stored as plain arrays (split feature, threshold, children, leaf
action) and predicts from them, so it saves to JSON without pickle and a saved rule
predicts exactly as the tree that was fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from loan_recovery import features
from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError, SchemaError
from loan_recovery.money import MoneyFormat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

#: The rule's inputs, in column order of the tree, with readable names.
BAU_FEATURES: tuple[str, ...] = (
    "days_past_due",
    "emi_to_income",
    "secured",
    "prior_legal",
    "outstanding",
)
#: Features that are 0/1 flags: the rule text says "if secured" rather than "<= 0.5".
_FLAG_FEATURES = frozenset({"secured", "prior_legal"})
#: Canonical columns the features are derived from.
BAU_COLUMNS: tuple[str, ...] = (
    schema.DAYS_PAST_DUE,
    schema.MONTHLY_EMI,
    schema.MONTHLY_INCOME,
    schema.COLLATERAL_VALUE,
    schema.LEGAL_ACTION_TAKEN,
    schema.OUTSTANDING_LOAN_AMOUNT,
)
#: Tag of the JSON form; bump when its layout changes.
JSON_FORMAT = "loan_recovery.bau_rule/1"
_LEAF = -1


class BauRuleError(LoanRecoveryError, ValueError):
    """A BAU rule cannot be fitted or loaded: empty history, mismatched lengths, bad JSON."""


def _numeric(table: pd.DataFrame, column: str) -> FloatArray:
    """A column as float64; a missing or non-finite value reads as 0 (nothing known)."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64, na_value=0.0)
    finite: FloatArray = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return finite


def bau_features(table: pd.DataFrame) -> pd.DataFrame:
    """The rule's inputs per loan, named as in :data:`BAU_FEATURES`.

    Values are rounded to float32, the precision scikit-learn's trees split on, so the
    array form of a rule compares exactly the numbers the fitted tree compared.
    """
    missing = tuple(column for column in BAU_COLUMNS if column not in table.columns)
    if missing:
        raise SchemaError(
            f"the BAU rule needs columns {list(BAU_COLUMNS)}; missing {list(missing)}.",
            missing_columns=missing,
        )
    columns = {
        "days_past_due": _numeric(table, schema.DAYS_PAST_DUE),
        "emi_to_income": features.emi_to_income_ratio(table).to_numpy(dtype=np.float64),
        "secured": (_numeric(table, schema.COLLATERAL_VALUE) > 0).astype(np.float64),
        "prior_legal": features.category_equals(table[schema.LEGAL_ACTION_TAKEN], "Yes").astype(
            np.float64
        ),
        "outstanding": _numeric(table, schema.OUTSTANDING_LOAN_AMOUNT),
    }
    frame = pd.DataFrame(columns, index=table.index, columns=list(BAU_FEATURES))
    return frame.astype(np.float32)


def _format_threshold(value: float) -> str:
    """Round for reading: whole numbers grouped as the display groups them (en_IN) from
    100 up, else 2 decimals."""
    if abs(value) >= 100:
        return MoneyFormat().number(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class BauRule:
    """A fitted BAU rule as a binary tree in parallel arrays (node 0 is the root).

    For node ``j``: ``feature[j]`` indexes :data:`BAU_FEATURES` (``-1`` at a leaf), a loan
    goes to ``left[j]`` when its feature value is ``<= threshold[j]`` and to ``right[j]``
    otherwise; ``node_action[j]`` indexes ``actions`` and is the rule's choice at a leaf.
    ``agreement`` is the share of history rows where the rule chose the logged action.
    """

    actions: tuple[str, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    node_action: tuple[int, ...]
    agreement: float

    def __post_init__(self) -> None:
        _check_tree(self)

    @property
    def depth(self) -> int:
        """Longest root-to-leaf path, in splits."""
        depth = np.zeros(len(self.feature), dtype=np.int64)
        for node in range(len(self.feature)):  # children always follow their parent
            if self.left[node] != _LEAF:
                depth[self.left[node]] = depth[self.right[node]] = depth[node] + 1
        return int(depth.max())

    def predict_codes(self, table: pd.DataFrame) -> IntArray:
        """Index into :attr:`actions` of the rule's choice per loan."""
        values = bau_features(table).to_numpy(dtype=np.float64)
        feature = np.asarray(self.feature, dtype=np.int64)
        threshold = np.asarray(self.threshold, dtype=np.float64)
        left = np.asarray(self.left, dtype=np.int64)
        right = np.asarray(self.right, dtype=np.int64)
        node = np.zeros(len(values), dtype=np.int64)
        rows = np.arange(len(values))
        for _ in range(self.depth):  # one step down the tree for every loan at once
            internal = left[node] != _LEAF
            column = np.where(internal, feature[node], 0)
            goes_left = values[rows, column] <= threshold[node]
            node = np.where(internal, np.where(goes_left, left[node], right[node]), node)
        codes: IntArray = np.asarray(self.node_action, dtype=np.int64)[node]
        return codes

    def predict(self, table: pd.DataFrame) -> ObjectArray:
        """The rule's action name per loan."""
        names: ObjectArray = np.asarray(self.actions, dtype=object)[self.predict_codes(table)]
        return names

    def _single_action(self, node: int) -> int | None:
        """The action of every leaf under ``node`` if they all agree, else None."""
        if self.left[node] == _LEAF:
            return self.node_action[node]
        left = self._single_action(self.left[node])
        if left is None or left != self._single_action(self.right[node]):
            return None
        return left

    def _lines(self, node: int, indent: str) -> list[str]:
        """The rule below ``node`` as nested if/else lines (walks the nodes, not the loans)."""
        single = self._single_action(node)
        if single is not None:
            return [f"{indent}{self.actions[single]}"]
        name = BAU_FEATURES[self.feature[node]]
        if name in _FLAG_FEATURES:
            condition, note = f"not {name}", f"  # {name}"
        else:
            value = _format_threshold(self.threshold[node])
            condition, note = f"{name} <= {value}", f"  # {name} > {value}"
        lines: list[str] = []
        branches = ((f"if {condition}:", "", self.left[node]), ("else:", note, self.right[node]))
        for head, comment, child in branches:
            child_single = self._single_action(child)
            if child_single is not None:
                lines.append(f"{indent}{head} {self.actions[child_single]}{comment}")
            else:
                lines.append(f"{indent}{head}{comment}")
                lines.extend(self._lines(child, indent + "    "))
        return lines

    def rules_text(self) -> str:
        """The rule as readable nested if/else lines, e.g. ``if days_past_due <= 0.5: hold``.

        Thresholds are rounded for reading (the rule itself keeps them exact) and a split
        whose both sides choose the same action is shown as that action alone.
        """
        return "\n".join(self._lines(0, ""))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_json` turns back into an identical rule."""
        return {
            "format": JSON_FORMAT,
            "features": list(BAU_FEATURES),
            "actions": list(self.actions),
            "feature": list(self.feature),
            "threshold": list(self.threshold),
            "left": list(self.left),
            "right": list(self.right),
            "node_action": list(self.node_action),
            "agreement": self.agreement,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BauRule:
        """Rebuild a rule saved by :meth:`to_json`, checking it is a well-formed tree."""
        if data.get("format") != JSON_FORMAT:
            raise BauRuleError(
                f"expected a BAU rule with format {JSON_FORMAT!r}; got {data.get('format')!r}."
            )
        if list(data.get("features", [])) != list(BAU_FEATURES):
            raise BauRuleError(
                f"the saved rule uses features {data.get('features')}; "
                f"this code provides {list(BAU_FEATURES)}."
            )
        try:
            return cls(
                actions=tuple(str(name) for name in data["actions"]),
                feature=tuple(int(value) for value in data["feature"]),
                threshold=tuple(float(value) for value in data["threshold"]),
                left=tuple(int(value) for value in data["left"]),
                right=tuple(int(value) for value in data["right"]),
                node_action=tuple(int(value) for value in data["node_action"]),
                agreement=float(data["agreement"]),
            )
        except BauRuleError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise BauRuleError(
                f"the saved BAU rule is incomplete or malformed: {error!r}."
            ) from error


def _check_tree(rule: BauRule) -> None:
    """Refuse arrays that are not a tree this module can walk."""
    n_nodes = len(rule.feature)
    lengths = {
        len(rule.threshold),
        len(rule.left),
        len(rule.right),
        len(rule.node_action),
    }
    if n_nodes == 0 or lengths != {n_nodes}:
        raise BauRuleError(
            "the rule's node arrays must be non-empty and of one length; got lengths "
            f"{[n_nodes, *sorted(lengths)]}."
        )
    if not rule.actions:
        raise BauRuleError("the rule must name at least one action; got none.")
    for node in range(n_nodes):
        left, right = rule.left[node], rule.right[node]
        if (left == _LEAF) != (right == _LEAF):
            raise BauRuleError(f"node {node} has one child; expected two or none.")
        if left != _LEAF and not (node < left < n_nodes and node < right < n_nodes):
            raise BauRuleError(
                f"node {node} points to children {left}, {right}; "
                f"expected nodes after it and below {n_nodes}."
            )
        if left != _LEAF and not 0 <= rule.feature[node] < len(BAU_FEATURES):
            raise BauRuleError(
                f"node {node} splits on feature {rule.feature[node]}; "
                f"expected 0..{len(BAU_FEATURES) - 1}."
            )
        if not 0 <= rule.node_action[node] < len(rule.actions):
            raise BauRuleError(
                f"node {node} chooses action {rule.node_action[node]}; "
                f"expected 0..{len(rule.actions) - 1}."
            )


def fit_bau_rule(
    table: pd.DataFrame,
    logged_actions: npt.ArrayLike,
    *,
    max_depth: int = 3,
    min_samples_leaf: int = 50,
    random_state: int = 0,
) -> BauRule:
    """Learn the lender's rule: a shallow tree of the logged action on :data:`BAU_FEATURES`.

    ``table`` is the validated canonical history and ``logged_actions`` the action name
    taken on each of its rows. ``min_samples_leaf`` keeps the rule from carving out a
    branch for a handful of exceptions, which are more likely noise than policy.
    """
    if max_depth < 1 or min_samples_leaf < 1:
        raise BauRuleError(
            f"max_depth and min_samples_leaf must be >= 1; got {max_depth}, {min_samples_leaf}."
        )
    logged = pd.Series(np.asarray(logged_actions, dtype=object).ravel())
    if len(logged) == 0 or len(table) == 0:
        raise BauRuleError(
            f"the history must hold at least one row; got {len(table)} loans "
            f"and {len(logged)} logged actions."
        )
    if len(logged) != len(table):
        raise BauRuleError(
            f"one logged action per loan expected; got {len(logged)} actions "
            f"for {len(table)} loans."
        )
    if logged.isna().any():
        raise BauRuleError(
            f"logged actions must all be named; got {int(logged.isna().sum())} blank."
        )
    names = logged.astype(str).to_numpy(dtype=object)
    X = bau_features(table).to_numpy(dtype=np.float32)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=random_state
    ).fit(X, names)
    structure = tree.tree_
    leaf = structure.children_left == _LEAF
    rule = BauRule(
        actions=tuple(str(name) for name in tree.classes_),
        feature=tuple(int(value) for value in np.where(leaf, _LEAF, structure.feature)),
        threshold=tuple(float(value) for value in np.where(leaf, 0.0, structure.threshold)),
        left=tuple(int(value) for value in structure.children_left),
        right=tuple(int(value) for value in structure.children_right),
        node_action=tuple(int(value) for value in np.argmax(structure.value[:, 0, :], axis=1)),
        agreement=0.0,
    )
    return replace(rule, agreement=float(np.mean(rule.predict(table) == names)))
