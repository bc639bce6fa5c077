"""Request and response models of the REST API, derived from the canonical loan table.

The loan a client sends is not declared here field by field: :func:`loan_model` builds it
with :func:`pydantic.create_model` from the :class:`~loan_recovery.data.schema.ColumnSpec`
tables, so a column added to or renamed in ``data/schema.py`` reaches the API, its
OpenAPI document and its 422 messages without an edit here. The same goes for the scored
loan: its field names are the schema's output column constants.

Pydantic checks what one field can check (type, range, category, length); the rows then
go through :func:`~loan_recovery.data.validation.validate_frame` like a file's rows, which
adds the checks across fields (outstanding against the loan amount, repeated Loan_IDs)
and the derivations (a blank Monthly_EMI). Both kinds of problem come back as 422 with
the same ``loc``/``msg``/``type`` shape.

Amounts must be JSON numbers (``strict``: ``true`` or ``"12.5"`` is refused, where a CSV
cell would be text anyway); counts may be written ``30`` or ``30.0``, as in a file, but
not ``true``.

Contact details are checked as validation checks a file's (:mod:`loan_recovery.data.contacts`),
but strictly: where a file's unusable ``Email`` or ``Phone`` only turns that channel off
(a warning), a request holding one is refused with a 422 naming the field, and so is a
malformed ``Preferred_Language``. Accepted values are normalised: the address as
email-validator writes it, the number in E.164 (national numbers read in
``contacts.default_region``), the language as a BCP 47 tag.

Two API-only limits, both because JSON can carry what a CSV file in practice never does:

* every string field of every request model refuses control characters (C0, DEL and C1:
  U+0000-U+001F and U+007F-U+009F, so NUL, tab and newline too; :class:`RequestModel`,
  :data:`TEXT_PATTERN`): they are identifiers, labels, notes and contact details, and
  PostgreSQL cannot store a NUL byte;
* numbers outside the canonical table (an outcome's amount, a promise to pay) are capped
  at :data:`MAX_NUMBER`, the schema's largest amount; whole numbers without a declared
  maximum at :data:`MAX_INTEGER`, where validation stops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from loan_recovery.config import ContactSettings, ExplainSettings
from loan_recovery.data import schema
from loan_recovery.data.contacts import (
    InvalidContactError,
    normalize_email,
    normalize_language,
    normalize_phone,
)
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.store.apikeys import ApiKeyInfo
from loan_recovery.store.cases import ActionRecord, OutcomeRecord
from loan_recovery.store.models import (
    BORROWER_SPECS,
    CREATED_AT,
    LABEL_LENGTH,
    LOAN_SPECS,
    OPEN_STATUSES,
    TEXT_LENGTH,
    UPDATED_AT,
    ActionStatus,
    Role,
)
from loan_recovery.store.queries import ScoreRecord
from loan_recovery.strategy.actions import HOLD

#: Printable text only: no C0 control character (NUL, tab and newline included), no DEL and
#: no C1 control character. Stated in the OpenAPI document; :class:`RequestModel` checks it.
TEXT_PATTERN = r"^[^\x00-\x1F\x7F-\x9F]*$"
#: Largest number accepted where the schema declares no maximum (amounts).
MAX_NUMBER = schema.MAX_AMOUNT
#: Largest whole number accepted where the schema declares no maximum: validation refuses
#: integers a float64 cannot hold exactly, so the API says so in its schema.
MAX_INTEGER = 2**53
#: Longest free-text note on an action.
NOTES_LENGTH = 4_000
#: Everything a plan may recommend: the catalogue's actions, or nothing this cycle.
PLAN_ACTIONS: tuple[str, ...] = (*schema.ACTION_NAMES, HOLD)
#: Scored-loan fields holding one number per action (the plan's ``value_<action>`` and
#: ``uplift_<action>`` columns), keyed by action name.
VALUE_BY_ACTION = "value_by_action"
UPLIFT_BY_ACTION = "uplift_by_action"


def one_of(values: Iterable[str]) -> Any:
    """``Literal[...]`` of ``values``: an enum in the OpenAPI document, checked on input."""
    return cast(Any, Literal)[tuple(values)]


if TYPE_CHECKING:  # the enums below are built from the schema at runtime
    ActionName = str
    PlanAction = str
    OpenStatus = str
    AnyStatus = str
    RecoveryStatus = str
    RoleName = str
    AssetClass = str
    ReasonMethod = str
else:
    ActionName = one_of(schema.ACTION_NAMES)
    PlanAction = one_of(PLAN_ACTIONS)
    OpenStatus = one_of(status.value for status in OPEN_STATUSES)
    AnyStatus = one_of(status.value for status in ActionStatus)
    RecoveryStatus = one_of(schema.RECOVERY_STATUSES)
    RoleName = one_of(role.value for role in Role)
    AssetClass = one_of(schema.ASSET_CLASSES)
    ReasonMethod = one_of(get_args(ExplainSettings.model_fields["method"].annotation))


def _not_a_bool(value: Any) -> Any:
    """Refuse ``true``/``false`` where a count is expected (pydantic would read 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


#: A count: a JSON integer (``30`` or ``30.0``, as a file may write it), never a boolean.
WholeNumber = Annotated[int, BeforeValidator(_not_a_bool)]

_CONTROL = re.compile(r"[\x00-\x1F\x7F-\x9F]")


def refuse_control_characters(value: Any) -> Any:
    """``value``, unless it is a string holding a control character: then a 422 naming
    the character and its position (never echoing the text, which may be personal data)."""
    if isinstance(value, str) and (found := _CONTROL.search(value)) is not None:
        raise PydanticCustomError(
            "string_pattern_mismatch",
            "must not contain control characters (U+0000-U+001F, U+007F-U+009F); found "
            "{character} at position {position}",
            {"character": f"U+{ord(found.group()):04X}", "position": found.start()},
        )
    return value


class RequestModel(BaseModel):
    """Base of every request body: unknown fields refused, no control character anywhere.

    The check runs before each field's own (so it covers every string field a subclass
    declares, now or later, whatever its type); :func:`_text` also states the pattern in
    the OpenAPI document.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        return refuse_control_characters(value)


def _text(*, required: bool, max_length: int = TEXT_LENGTH) -> dict[str, Any]:
    return {
        "min_length": 1 if required else None,
        "max_length": max_length,
        "pattern": TEXT_PATTERN,
    }


# --- contact details --------------------------------------------------------------------------
def _contact_check(name: str, contacts: ContactSettings) -> Any:
    """The validator of a contact column: blank -> null, usable -> normalised, else 422."""
    normalizers = {
        schema.EMAIL: normalize_email,
        schema.PHONE: lambda value: normalize_phone(value, default_region=contacts.default_region),
        schema.PREFERRED_LANGUAGE: normalize_language,
    }
    normalize = normalizers[name]

    def check(value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalize(value)
        except InvalidContactError as error:
            raise ValueError(f"{info.field_name} is {error}") from None

    return AfterValidator(check)


#: Contact columns of the Loan model and what they are checked with.
CONTACT_FIELDS: tuple[str, ...] = (schema.EMAIL, schema.PHONE, schema.PREFERRED_LANGUAGE)


def _range(spec: ColumnSpec) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if spec.minimum is not None:
        bounds["gt" if spec.exclusive_minimum else "ge"] = (
            int(spec.minimum) if spec.kind is ColumnKind.INTEGER else spec.minimum
        )
    if spec.maximum is not None:
        bounds["le"] = int(spec.maximum) if spec.kind is ColumnKind.INTEGER else spec.maximum
    elif spec.kind is ColumnKind.INTEGER:
        bounds["le"] = MAX_INTEGER
    elif spec.kind is ColumnKind.NUMBER:
        bounds["le"] = MAX_NUMBER
    return bounds


def _description(spec: ColumnSpec) -> str:
    unit = f" ({spec.unit})" if spec.unit else ""
    return f"{spec.description}{unit}. Allowed: {spec.domain_text()}."


def _input_field(
    spec: ColumnSpec, *, required: bool, contacts: ContactSettings | None = None
) -> tuple[Any, Any]:
    """Type and constraints of one canonical column in a request."""
    constraints: dict[str, Any]
    annotation: Any
    if spec.name in CONTACT_FIELDS:  # checked and normalised like a file's (data/contacts.py)
        length = LABEL_LENGTH if spec.kind is ColumnKind.CATEGORY else TEXT_LENGTH
        limits = StringConstraints(**_text(required=required, max_length=length))
        check = _contact_check(spec.name, contacts or ContactSettings())
        annotation, constraints = Annotated[str, limits, check], {}
    elif spec.kind is ColumnKind.INTEGER:
        annotation, constraints = WholeNumber, _range(spec)
    elif spec.kind is ColumnKind.NUMBER:  # strict: a JSON number, not true or "12.5"
        annotation, constraints = float, {**_range(spec), "allow_inf_nan": False, "strict": True}
    elif spec.kind is ColumnKind.DATE:
        annotation, constraints = date, {}
    elif spec.kind is ColumnKind.CATEGORY and spec.other_category is None:
        annotation, constraints = one_of(spec.categories), {}
    elif spec.kind is ColumnKind.CATEGORY:  # open: unknown labels count as other_category
        annotation, constraints = str, _text(required=required, max_length=LABEL_LENGTH)
    else:
        annotation, constraints = str, _text(required=required)
    kept = {name: value for name, value in constraints.items() if value is not None}
    if required:
        return annotation, Field(..., description=_description(spec), **kept)
    return annotation | None, Field(default=None, description=_description(spec), **kept)


def _output_field(spec: ColumnSpec) -> tuple[Any, Any]:
    """Type of one stored canonical column in a response (always nullable, unconstrained)."""
    annotation: Any = {
        ColumnKind.INTEGER: int,
        ColumnKind.NUMBER: float,
        ColumnKind.DATE: date,
    }.get(spec.kind, str)
    return annotation | None, Field(default=None, description=_description(spec))


def loan_model(contacts: ContactSettings | None = None) -> type[BaseModel]:
    """The loan of a request: every canonical column, typed and bounded by its spec.

    Required: the columns a file must have (``Monthly_EMI`` may be left out: it is derived
    from amount, rate and tenure). Optional: the training label and every optional column,
    contact details included, checked and normalised with ``contacts`` (default: the
    default settings'; phone numbers without a country code are read in its region).
    Unknown fields are refused, so a misspelt column is a 422 instead of a silently
    blank value.
    """
    required = set(schema.REQUIRED_COLUMNS)
    fields: dict[str, Any] = {
        spec.name: _input_field(spec, required=spec.name in required, contacts=contacts)
        for spec in schema.ALL_SPECS
    }
    return create_model(
        "Loan",
        __base__=RequestModel,
        __doc__="One loan in the canonical layout (the columns of `loan-recovery validate`).",
        **fields,
    )


def batch_model(loan: type[BaseModel], max_batch: int) -> type[BaseModel]:
    """A request body holding 1 to ``max_batch`` loans."""
    return create_model(
        "LoanBatch",
        __base__=RequestModel,
        __doc__=f"Up to {max_batch:,} loans, each with a unique {schema.LOAN_ID}.",
        loans=(list[loan], Field(min_length=1, max_length=max_batch)),  # type: ignore[valid-type]
    )


def stored_loan_model() -> type[BaseModel]:
    """A loan as the store holds it: canonical columns plus its created/updated times."""
    fields: dict[str, Any] = {spec.name: _output_field(spec) for spec in LOAN_SPECS}
    fields[CREATED_AT] = (datetime | None, Field(default=None, description="First stored"))
    fields[UPDATED_AT] = (datetime | None, Field(default=None, description="Last changed"))
    return create_model("StoredLoan", __doc__="A stored loan (no personal data).", **fields)


def borrower_model() -> type[BaseModel]:
    """A borrower's contact details and consent; personal data masked for viewers."""
    fields: dict[str, Any] = {spec.name: _output_field(spec) for spec in BORROWER_SPECS}
    return create_model(
        "Borrower",
        __doc__="Contact details and consent of the loan's borrower. Name, phone and email "
        "read '***' unless the caller's role is agent or admin.",
        **fields,
    )


def scored_loan_model() -> type[BaseModel]:
    """One planned loan: risk, segment, reasons, every action's value and uplift, the choice.

    The plan decides on *uplift*: what an action adds over leaving the loan alone (hold),
    whose own value is the borrower's self-cure payments. A response therefore carries the
    value of holding, the recommended action's uplift and value, and each action's value
    and uplift, so a client can see both what a loan is worth and what working it adds.
    """
    fields: dict[str, Any] = {
        schema.LOAN_ID: (str, ...),
        schema.RISK_SCORE: (float, Field(ge=0, le=1, description="Calibrated P(not recovered)")),
        schema.RISK_BAND: (str, ...),
        schema.SCORED_ASSET_CLASS: (AssetClass, ...),
        schema.SEGMENT_ID: (int, ...),
        schema.SEGMENT_NAME: (str, ...),
        "reasons": (list[str], Field(description="Reason codes, strongest first")),
        schema.RECOMMENDED_ACTION: (PlanAction, ...),
        schema.PRIORITY: (float, Field(description="Worklist order: higher first; 0 for hold")),
        schema.EXPECTED_UPLIFT: (
            float,
            Field(
                description="Expected net recovery the recommended action adds over leaving "
                "the loan alone (0 for hold)"
            ),
        ),
        schema.VALUE_IF_LEFT_ALONE: (
            float,
            Field(
                description="Discounted expected net recovery if no action is taken (hold): "
                "the borrower's own payments"
            ),
        ),
        schema.EXPECTED_NET_RECOVERY: (
            float,
            Field(
                description="Discounted expected net recovery of the recommended action: "
                f"{schema.VALUE_IF_LEFT_ALONE} + {schema.EXPECTED_UPLIFT}"
            ),
        ),
        schema.EXPECTED_RECOVERED: (float, ...),
        schema.EXPECTED_COST: (float, ...),
        schema.BASELINE_ACTION: (PlanAction, ...),
        schema.UPLIFT_VS_BASELINE: (float, ...),
        schema.UPLIFT_VS_NEXT_BEST: (float | None, ...),
        VALUE_BY_ACTION: (
            dict[ActionName, float],
            Field(
                description="Discounted expected net recovery (recovered minus cost) of every "
                "action"
            ),
        ),
        UPLIFT_BY_ACTION: (
            dict[ActionName, float],
            Field(description=f"Each action's value minus {schema.VALUE_IF_LEFT_ALONE}"),
        ),
        "allowed_actions": (
            list[PlanAction],
            Field(description="Actions the catalogue and the guardrails leave"),
        ),
        schema.GUARDRAILS: (list[str], Field(description="Rules that removed actions")),
    }
    return create_model("ScoredLoan", **fields)


def loan_detail_model(stored_loan: type[BaseModel], borrower: type[BaseModel]) -> type[BaseModel]:
    """A stored loan with its borrower, score history, actions and outcomes (newest first)."""
    return create_model(
        "LoanDetail",
        loan=(stored_loan, ...),
        borrower=(borrower, ...),
        scores=(list[ScoreRecord], ...),
        actions=(list[ActionRecord], ...),
        outcomes=(list[OutcomeRecord], ...),
    )


# --- responses of the scoring routes ----------------------------------------------------------
def score_response_model(scored: type[BaseModel]) -> type[BaseModel]:
    """What ``POST /v1/score`` returns: the model version and one row per loan, in order."""
    return create_model(
        "ScoreResponse",
        model_version=(str, ...),
        policy=(str, ...),
        reason_method=(
            ReasonMethod,
            Field(description="How the reason codes were computed (api.approximate_reasons_above)"),
        ),
        loans=(list[scored], Field(description="In request order")),  # type: ignore[valid-type]
    )


class StoredCounts(BaseModel):
    """What ``POST /v1/plan`` wrote to the store."""

    run_id: str
    scores: int
    actions_created: int
    actions_kept: int
    actions_cancelled: int
    loans_inserted: int
    loans_updated: int
    loans_unchanged: int
    loans_outdated: int = Field(description="Older snapshots than the stored one: not written")


def plan_response_model(score_response: type[BaseModel]) -> type[BaseModel]:
    """What ``POST /v1/plan`` returns: the scores plus what was stored."""
    return create_model("PlanResponse", __base__=score_response, stored=(StoredCounts, ...))


# --- case work --------------------------------------------------------------------------------
def _loan_id_field() -> Any:
    return Field(description=f"The loan's {schema.LOAN_ID}", **_text(required=True))


def _amount(default: Any = ..., description: str | None = None) -> Any:
    """An amount of money: finite, >= 0, at most :data:`MAX_NUMBER`."""
    return Field(
        default, ge=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True, description=description
    )


class ActionCreate(RequestModel):
    """A recovery action an agent starts or plans on a stored loan."""

    loan_id: str = _loan_id_field()
    action: ActionName
    status: OpenStatus = ActionStatus.PLANNED.value
    assigned_agent: str | None = Field(default=None, **_text(required=False))
    cost: float | None = _amount(None)
    promise_amount: float | None = _amount(None, "Promise to pay")
    promise_date: date | None = None
    notes: str | None = Field(default=None, **_text(required=False, max_length=NOTES_LENGTH))


class ActionUpdate(RequestModel):
    """Fields to change on an action; fields left out stay as they are, null clears one.

    Status moves forward only: planned -> in-progress -> done, or to cancelled.
    """

    status: AnyStatus | None = None
    assigned_agent: str | None = Field(default=None, **_text(required=False))
    cost: float | None = _amount(None)
    promise_amount: float | None = _amount(None, "Promise to pay")
    promise_date: date | None = None
    notes: str | None = Field(default=None, **_text(required=False, max_length=NOTES_LENGTH))


class OutcomeCreate(RequestModel):
    """What a loan's recovery brought; an open action it names becomes done."""

    loan_id: str = _loan_id_field()
    amount_recovered: float = _amount()
    status: RecoveryStatus
    outcome_date: date
    action_id: WholeNumber | None = Field(default=None, ge=1, le=2**63 - 1)


# --- keys, models, health ---------------------------------------------------------------------
class ApiKeyCreate(RequestModel):
    """A new API key: who uses it (the audit log's actor) and what it may do."""

    name: str = Field(**_text(required=True))
    role: RoleName


class ApiKeyCreated(BaseModel):
    """A key just created: ``key`` is shown this once and never stored."""

    key: str = Field(description="Send as `Authorization: Bearer <key>` or `X-API-Key`")
    info: ApiKeyInfo


class ChampionInfo(BaseModel):
    """The model version serving this API and its cross-validated metrics."""

    version: str
    champion_family: str
    created_at: str
    calibration_method: str
    label_definition: str
    excluded_columns: list[str]
    metrics: dict[str, dict[str, float | None]] | None = Field(
        description="Candidate -> metric -> value (mean and std over folds); null when the "
        "version was trained without cross-validation"
    )


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Readiness: models loaded, database reachable and migrated."""

    status: Literal["ready", "not ready"]
    models: str
    database: str
    model_version: str | None = None
    early_warning: str = Field(
        default="not loaded",
        description="Early-warning model for /v1/alerts; optional, so it never makes the "
        "server not ready.",
    )
    early_warning_version: str | None = None


# --- the set an app is built with -------------------------------------------------------------
@dataclass(frozen=True)
class ApiSchemas:
    """The models built from the schema for one app (the batch limit comes from settings)."""

    loan: type[BaseModel]
    batch: type[BaseModel]
    scored_loan: type[BaseModel]
    score_response: type[BaseModel]
    plan_response: type[BaseModel]
    loan_detail: type[BaseModel]
    loans: TypeAdapter[list[Any]]


def build_schemas(max_batch: int, contacts: ContactSettings | None = None) -> ApiSchemas:
    """Every dynamic model of the API, built once when the app is created.

    ``contacts`` sets how contact details are read (the app passes ``settings.contacts``).
    """
    loan = loan_model(contacts)
    scored = scored_loan_model()
    score_response = score_response_model(scored)
    return ApiSchemas(
        loan=loan,
        batch=batch_model(loan, max_batch),
        scored_loan=scored,
        score_response=score_response,
        plan_response=plan_response_model(score_response),
        loan_detail=loan_detail_model(stored_loan_model(), borrower_model()),
        loans=TypeAdapter(list[loan]),  # type: ignore[valid-type]
    )
