"""Guardrails: business and legal rules that take actions off the table, with reasons.

The learned policy picks the action with the highest expected net recovery, but only among
actions a lender may lawfully and sensibly take. Each rule here is a small pure function of
a :class:`RuleContext` that returns which (loan, action) pairs it removes and, per loan, a
sentence saying why, so a collections officer can read the reason next to the plan.
Rules are registered, in order, in :data:`GUARDRAILS`; :func:`apply_guardrails` runs them
all on top of the catalogue's eligibility.

Everything is vectorised over loans: masks are numpy comparisons (categories by their
integer codes), and sentences are numpy object arrays of ``str`` assembled with masked
concatenation on the rows a clause holds on only; numbers are formatted once per distinct
value on the rows a rule fires on.

Rules and their data:

- ``legal-escalation``: legal needs risk >= ``legal_min_risk``, no legal action taken
  before (``Legal_Action_Taken == "No"``; a blank is not "No") and outstanding >=
  ``legal_min_outstanding``; every failing condition is named.
- ``settlement-floor``: no settlement expected to bring in less than
  ``settlement_min_fraction`` of the outstanding (the deepest discount a lender accepts).
- ``do-not-contact``: ``Do_Not_Contact == "Yes"`` removes reminder and call. Inactive when
  the column is absent; a blank value is no request.
- ``reminder-consent``: both ``Consent_SMS`` and ``Consent_Email`` not "Yes" removes the
  reminder (a blank is no consent: consent must be given, not assumed), and so does
  consent only on channels without an address (``Phone`` for SMS, ``Email`` for email;
  validation blanks an unusable one). Inactive unless both consent columns are present: a
  file without them says nothing about consent; a missing address column says nothing
  about that channel's address.
- ``attempt-limit``: ``Collection_Attempts >= max_collection_attempts`` removes call.
- ``asset-class-floor``: actions in ``asset_class_excluded_actions[class]`` are removed for
  loans of that RBI asset class (by default an NPA never gets only a reminder).

A loan whose actions are all removed is kept, with the plan label
:data:`~loan_recovery.strategy.actions.HOLD` and a sentence saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import GuardrailSettings, StrategySettings
from loan_recovery.data import schema
from loan_recovery.exceptions import SchemaError
from loan_recovery.features import asset_class, category_equals
from loan_recovery.strategy.actions import ELIGIBILITY_COLUMNS, HOLD, ActionCatalogue

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]
ObjectArray = npt.NDArray[np.object_]
IntArray = npt.NDArray[np.intp]

_YES, _NO = schema.YES_NO

#: Columns the guardrails need on every table (optional contact columns are used if present).
GUARDRAIL_COLUMNS: tuple[str, ...] = (
    *ELIGIBILITY_COLUMNS,
    schema.OUTSTANDING_LOAN_AMOUNT,
    schema.LEGAL_ACTION_TAKEN,
    schema.COLLECTION_ATTEMPTS,
)

#: Separator between the clauses of one rule's sentence, and between rules' sentences.
CLAUSE_SEPARATOR = ", "
RULE_SEPARATOR = "; "
#: Sentence of a loan that has no action left.
HOLD_SENTENCE = f"{HOLD}: no action left after eligibility and guardrails"


@dataclass(frozen=True, slots=True, eq=False)
class RuleContext:
    """What a rule may look at, aligned row by row with ``table``.

    ``fractions`` is the n x actions matrix of expected recovered fractions in catalogue
    order; ``asset_classes`` the RBI class of each loan, computed once for all rules.
    """

    table: pd.DataFrame
    risk_score: FloatArray
    fractions: FloatArray
    catalogue: ActionCatalogue
    settings: GuardrailSettings
    asset_classes: StrArray

    @property
    def n_loans(self) -> int:
        return len(self.table)

    def numeric(self, column: str) -> FloatArray:
        """A numeric column as float64; blanks become NaN, which fail every comparison."""
        values: FloatArray = pd.to_numeric(self.table[column], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        return values

    def equals(self, column: str, value: str) -> BoolArray:
        """``column == value`` per loan; blanks are never equal to anything."""
        return category_equals(self.table[column], value)

    def removal(self, actions: Sequence[str], rows: BoolArray) -> BoolArray:
        """n x actions mask removing ``actions`` on ``rows``; actions not catalogued are skipped."""
        columns = np.isin(np.asarray(self.catalogue.names), np.asarray(actions, dtype=np.str_))
        removed: BoolArray = rows[:, np.newaxis] & columns[np.newaxis, :]
        return removed


@dataclass(frozen=True, slots=True, eq=False)
class RuleResult:
    """A rule's verdict: the (loan, action) pairs it removes and, per loan, why.

    ``removed`` is n x actions in catalogue order; ``sentences`` a Series of ``str`` (object
    dtype) on the table's index, "" where the rule removed nothing.
    """

    removed: BoolArray
    sentences: pd.Series


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A named rule, so plans, logs and tests can say which rule removed what."""

    name: str
    description: str
    check: Callable[[RuleContext], RuleResult]


class _RuleFrames(Mapping[str, pd.DataFrame]):
    """Rule name -> its removal mask as a loans x actions frame, built when first read
    (the plan reads only ``allowed``; building a frame per rule on every call cost more
    than the rules themselves on a one-loan request)."""

    def __init__(self, masks: Mapping[str, BoolArray], index: pd.Index, columns: list[str]):
        self._masks = masks
        self._index = index
        self._columns = columns
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            frame = pd.DataFrame(self._masks[name], index=self._index, columns=self._columns)
            self._frames[name] = frame
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)


@dataclass(frozen=True, slots=True, eq=False)
class GuardrailOutcome:
    """What the guardrails leave: the allowed actions per loan and the reasons.

    ``eligible``: catalogue eligibility (DPD window, collateral). ``allowed``: eligible and
    not removed by any rule. ``removed_by``: rule name -> what that rule forbids, whether or
    not the action was eligible anyway. ``explanations`` (named ``schema.GUARDRAILS``):
    "; "-joined sentences of the rules that took away an otherwise eligible action, plus
    :data:`HOLD_SENTENCE` where nothing is left; "" where no rule changed anything. A rule
    forbidding an action the catalogue already excluded is not explained, so that the text
    names only what actually narrowed the choice.
    """

    eligible: pd.DataFrame
    allowed: pd.DataFrame
    explanations: pd.Series
    removed_by: Mapping[str, pd.DataFrame]

    @property
    def held(self) -> pd.Series:
        """Loans with no allowed action: the plan holds them."""
        return ~self.allowed.any(axis=1)


# --- sentence building (vectorised) -------------------------------------------------------
# Sentences are numpy object arrays of str, one per loan, "" where there is nothing to say.
# Each step touches only the rows a clause holds on (most loans have no sentence at all),
# and pandas' Arrow strings are built once, for the final explanations column.
Text = ObjectArray


#: Below this, value * 10**decimals is within 2**-22 of the exact product (see _format_rows).
_EXACT_SCALED = 2.0**31


def _blank(n_loans: int) -> Text:
    return np.full(n_loans, "", dtype=object)


def _series(texts: Text, index: pd.Index) -> pd.Series:
    """A rule's sentences as a Series on the table's index (no copy)."""
    return pd.Series(texts, index=index, dtype=object, copy=False)


def _format_rows(template: str, values: FloatArray, rows: BoolArray, decimals: int) -> Text:
    """``template % value`` on ``rows`` only (numbers are formatted nowhere else), "" elsewhere.

    ``template`` formats one number as ``%.<decimals>f``. Values that print alike are
    formatted once: a value whose scaled form ``value * 10**decimals`` lies clearly inside
    the rounding interval of an integer (more than 1e-6 from either edge, far more than the
    scaling's float error) prints exactly as every other such value with that integer and
    sign, so one representative per (integer, sign) is formatted. Values near an edge,
    huge or not finite are formatted one distinct value (by bits) at a time.
    """
    texts = _blank(len(rows))
    picked = np.ascontiguousarray(values[rows], dtype=np.float64)
    if not picked.size:
        return texts
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = picked * 10.0**decimals
        nearest = np.rint(scaled)
        clear = (np.abs(scaled) < _EXACT_SCALED) & (np.abs(scaled - nearest) < 0.5 - 1e-6)
    keys = 2 * np.where(clear, nearest, 0.0).astype(np.int64) + np.signbit(picked)
    words = np.empty(len(picked), dtype=object)
    for group, key in ((clear, keys), (~clear, picked.view(np.int64))):
        if group.any():
            _, first, inverse = np.unique(key[group], return_index=True, return_inverse=True)
            samples = picked[group][first].tolist()
            formatted = np.empty(len(samples), dtype=object)
            formatted[:] = [template % value for value in samples]
            words[group] = formatted[inverse.reshape(-1)]
    texts[rows] = words
    return texts


def _joined_rows(
    clauses: Sequence[tuple[BoolArray, str | Text]], separator: str, n_loans: int
) -> tuple[IntArray, Text]:
    """The rows any clause holds on, and on each the texts of its clauses joined by
    ``separator`` (work is done on those rows only)."""
    hit = np.zeros(n_loans, dtype=np.bool_)
    for rows, _ in clauses:
        hit |= rows
    where: IntArray = np.flatnonzero(hit)
    joined = _blank(len(where))
    started = np.zeros(len(where), dtype=np.bool_)
    for rows, text in clauses:
        holds = rows[where]
        if not holds.any():
            continue
        first, later = holds & ~started, holds & started
        if isinstance(text, str):
            joined[first] = text
            if later.any():
                joined[later] = joined[later] + (separator + text)
        else:
            joined[first] = text[where[first]]
            if later.any():
                joined[later] = joined[later] + separator + text[where[later]]
        started |= holds
    return where, joined


def _join(clauses: Sequence[tuple[BoolArray, str | Text]], separator: str, n_loans: int) -> Text:
    """Per row, the texts of the clauses true on that row, joined by ``separator``."""
    where, joined = _joined_rows(clauses, separator, n_loans)
    texts = _blank(n_loans)
    texts[where] = joined
    return texts


def _sentence(head: str, clauses: Sequence[tuple[BoolArray, str | Text]], n_loans: int) -> Text:
    """``"<head>: clause, clause"`` on rows where any clause holds, else ""."""
    where, body = _joined_rows(clauses, CLAUSE_SEPARATOR, n_loans)
    said = body != ""
    sentences = _blank(n_loans)
    sentences[where[said]] = f"{head}: " + body[said]
    return sentences


def _percent(value: float) -> str:
    """A share as a percent, escaped for use inside a ``%``-format template."""
    return f"{100 * value:.0f}%%"


# --- the rules ----------------------------------------------------------------------------
def legal_escalation_rule(context: RuleContext) -> RuleResult:
    """Legal only for high risk, first legal action, and an amount worth a court's cost."""
    guard = context.settings
    risk = context.risk_score
    outstanding = context.numeric(schema.OUTSTANDING_LOAN_AMOUNT)
    low_risk = ~(risk >= guard.legal_min_risk)
    already_taken = context.equals(schema.LEGAL_ACTION_TAKEN, _YES)
    unrecorded = ~already_taken & ~context.equals(schema.LEGAL_ACTION_TAKEN, _NO)
    small = ~(outstanding >= guard.legal_min_outstanding)
    clauses: list[tuple[BoolArray, str | Text]] = [
        (
            low_risk,
            _format_rows(
                f"risk %.2f below the legal threshold {guard.legal_min_risk:.2f}",
                risk,
                low_risk,
                decimals=2,
            ),
        ),
        (already_taken, "legal action already taken"),
        (unrecorded, "no record that legal action was never taken"),
        (
            small,
            _format_rows(
                f"outstanding %.0f below the legal minimum {guard.legal_min_outstanding:.0f}",
                outstanding,
                small,
                decimals=0,
            ),
        ),
    ]
    rows = low_risk | already_taken | unrecorded | small
    sentences = _sentence("legal removed", clauses, context.n_loans)
    return RuleResult(context.removal(["legal"], rows), _series(sentences, context.table.index))


def settlement_floor_rule(context: RuleContext) -> RuleResult:
    """No settlement at a deeper discount than the lender accepts."""
    floor = context.settings.settlement_min_fraction
    if "settlement" not in context.catalogue.names:
        nothing = np.zeros(context.n_loans, dtype=np.bool_)
        return RuleResult(
            context.removal([], nothing), _series(_blank(context.n_loans), context.table.index)
        )
    fraction = context.fractions[:, context.catalogue.index_of("settlement")]
    rows = fraction < floor
    text = _format_rows(
        f"expected recovery %.0f%% of outstanding, below the {_percent(floor)} floor "
        "(maximum discount)",
        100.0 * fraction,
        rows,
        decimals=0,
    )
    sentences = _sentence("settlement removed", [(rows, text)], context.n_loans)
    return RuleResult(
        context.removal(["settlement"], rows), _series(sentences, context.table.index)
    )


def do_not_contact_rule(context: RuleContext) -> RuleResult:
    """A borrower who asked (or a court ordered) not to be contacted gets no reminder or call."""
    if schema.DO_NOT_CONTACT not in context.table.columns:
        rows = np.zeros(context.n_loans, dtype=np.bool_)
    else:
        rows = context.equals(schema.DO_NOT_CONTACT, _YES)
    sentences = _sentence(
        "reminder and call removed", [(rows, "borrower must not be contacted")], context.n_loans
    )
    return RuleResult(
        context.removal(["reminder", "call"], rows), _series(sentences, context.table.index)
    )


def _has_address(context: RuleContext, column: str) -> BoolArray:
    """A non-blank ``column`` per loan; all true when the file has no such column (it
    says nothing about addresses). Validation blanks an unusable email or phone."""
    if column not in context.table.columns:
        return np.ones(context.n_loans, dtype=np.bool_)
    present: BoolArray = context.table[column].notna().to_numpy(dtype=np.bool_)
    return present


def reminder_consent_rule(context: RuleContext) -> RuleResult:
    """A reminder needs a channel it can go out on: SMS or email consent, with a usable
    phone or email on that channel (a reminder planned for an unreachable borrower is a
    slot wasted and an action never taken)."""
    columns = (schema.CONSENT_SMS, schema.CONSENT_EMAIL)
    if not all(column in context.table.columns for column in columns):
        no_consent = np.zeros(context.n_loans, dtype=np.bool_)
        no_address = no_consent
    else:
        sms = context.equals(schema.CONSENT_SMS, _YES)
        email = context.equals(schema.CONSENT_EMAIL, _YES)
        no_consent = ~(sms | email)
        reachable = (sms & _has_address(context, schema.PHONE)) | (
            email & _has_address(context, schema.EMAIL)
        )
        no_address = ~no_consent & ~reachable
    clauses = [
        (no_consent, "no SMS or email consent"),
        (no_address, "no usable phone or email on a consented channel"),
    ]
    sentences = _sentence("reminder removed", clauses, context.n_loans)
    rows = no_consent | no_address
    return RuleResult(context.removal(["reminder"], rows), _series(sentences, context.table.index))


def attempt_limit_rule(context: RuleContext) -> RuleResult:
    """No more calls once the contact limit is reached (harassment rules, wasted effort)."""
    limit = context.settings.max_collection_attempts
    attempts = context.numeric(schema.COLLECTION_ATTEMPTS)
    rows = attempts >= limit
    text = _format_rows(f"%.0f contact attempts made, limit {limit}", attempts, rows, decimals=0)
    sentences = _sentence("call removed", [(rows, text)], context.n_loans)
    return RuleResult(context.removal(["call"], rows), _series(sentences, context.table.index))


def asset_class_floor_rule(context: RuleContext) -> RuleResult:
    """Actions too weak for a loan's regulatory asset class (an NPA needs more than a nudge)."""
    removed = np.zeros((context.n_loans, len(context.catalogue)), dtype=np.bool_)
    sentences = _blank(context.n_loans)
    for loan_class, actions in context.settings.asset_class_excluded_actions.items():
        rows = context.asset_classes == loan_class
        class_removed = context.removal(actions, rows)
        if not class_removed.any():
            continue
        removed |= class_removed
        named = [name for name in context.catalogue.names if name in actions]
        text = (
            f"{' and '.join(named)} removed: not enough on its own for a loan classed {loan_class}"
        )
        # Each loan has one class, so at most one class's sentence lands on a row.
        sentences[rows] = text
    return RuleResult(removed, _series(sentences, context.table.index))


#: Every guardrail, in the order their sentences appear.
GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "legal-escalation",
        "Legal only at high risk, with no legal action before, on a large enough balance",
        legal_escalation_rule,
    ),
    Guardrail(
        "settlement-floor",
        "No settlement below the maximum discount the lender accepts",
        settlement_floor_rule,
    ),
    Guardrail("do-not-contact", "No reminder or call when contact is barred", do_not_contact_rule),
    Guardrail(
        "reminder-consent",
        "No reminder without a consented channel that has a usable address",
        reminder_consent_rule,
    ),
    Guardrail(
        "attempt-limit", "No call once the contact-attempt limit is reached", attempt_limit_rule
    ),
    Guardrail(
        "asset-class-floor",
        "Actions too weak for a regulatory asset class are removed",
        asset_class_floor_rule,
    ),
)
GUARDRAIL_NAMES: tuple[str, ...] = tuple(rule.name for rule in GUARDRAILS)


# --- applying them ------------------------------------------------------------------------
def _risk_vector(
    risk_score: pd.Series | FloatArray | Sequence[float], index: pd.Index
) -> FloatArray:
    """Risk scores as floats aligned with the table; a Series must carry the table's index."""
    if isinstance(risk_score, pd.Series):
        if not risk_score.index.equals(index):
            raise SchemaError(
                f"risk scores must have the table's index ({len(index)} loans); got a "
                f"different index of {len(risk_score)} loans."
            )
        risk = risk_score.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        risk = np.asarray(risk_score, dtype=np.float64).reshape(-1)
    if len(risk) != len(index):
        raise SchemaError(f"need one risk score per loan ({len(index)}); got {len(risk)}.")
    bad = ~np.isfinite(risk) | (risk < 0) | (risk > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"risk scores must be probabilities in [0, 1]; {int(bad.sum())} are not, first at "
            f"row {index[first]!r}: {risk[first]!r}."
        )
    return risk


def _category_text(series: pd.Series) -> StrArray:
    """A categorical's values as a numpy str array ("" for a blank), via its codes."""
    labels = np.asarray(series.cat.categories.astype(str), dtype=np.str_)
    text: StrArray = np.append(labels, "")[series.cat.codes.to_numpy()]
    return text


def _sentence_array(sentences: pd.Series, index: pd.Index) -> Text:
    """A rule's sentences as an object array of str, without a copy for the built-in rules'
    object Series; any other dtype (say a custom rule's ``str``) reads a blank as ""."""
    if not sentences.index.equals(index):
        raise SchemaError(
            f"a guardrail's sentences must have the table's index ({len(index)} loans)."
        )
    if sentences.dtype == object:
        texts: Text = sentences.to_numpy()
        return texts
    converted: Text = sentences.to_numpy(dtype=object, na_value="")
    return converted


def apply_guardrails(
    table: pd.DataFrame,
    risk_score: pd.Series | FloatArray | Sequence[float],
    fractions: pd.DataFrame,
    catalogue: ActionCatalogue,
    settings: StrategySettings,
    *,
    rules: Sequence[Guardrail] = GUARDRAILS,
) -> GuardrailOutcome:
    """Eligibility AND every rule: which actions each loan may get, and why others may not.

    ``fractions`` are the outcome model's expected recovered fractions (one column per
    action, rows as ``table``); only the settlement floor reads them.
    """
    missing = [column for column in GUARDRAIL_COLUMNS if column not in table.columns]
    if missing:
        raise SchemaError(
            f"the guardrails need columns {missing}; got {list(table.columns)}.",
            missing_columns=tuple(missing),
        )
    if not fractions.index.equals(table.index):
        raise SchemaError(
            f"expected recovered fractions must have the table's index ({len(table)} loans); "
            f"got a different index of {len(fractions)} loans."
        )
    context = RuleContext(
        table=table,
        risk_score=_risk_vector(risk_score, table.index),
        fractions=catalogue.fraction_matrix(fractions),
        catalogue=catalogue,
        settings=settings.guardrails,
        asset_classes=_category_text(asset_class(table)),
    )
    eligible = catalogue.eligibility(table).to_numpy(dtype=np.bool_)
    allowed = eligible.copy()
    columns = list(catalogue.names)
    removed: dict[str, BoolArray] = {}
    clauses: list[tuple[BoolArray, str | Text]] = []
    for rule in rules:
        result = rule.check(context)
        allowed &= ~result.removed
        removed[rule.name] = result.removed
        narrowed = (result.removed & eligible).any(axis=1)
        sentences = _sentence_array(result.sentences, table.index)
        explained = narrowed.copy()
        explained[narrowed] = sentences[narrowed] != ""
        clauses.append((explained, sentences))
    held: BoolArray = ~np.any(allowed, axis=1)
    clauses.append((held, HOLD_SENTENCE))
    explanations = pd.Series(
        _join(clauses, RULE_SEPARATOR, len(table)),
        index=table.index,
        dtype="str",
        name=schema.GUARDRAILS,
    )
    return GuardrailOutcome(
        eligible=pd.DataFrame(eligible, index=table.index, columns=columns),
        allowed=pd.DataFrame(allowed, index=table.index, columns=columns),
        explanations=explanations,
        removed_by=_RuleFrames(removed, table.index, columns),
    )
