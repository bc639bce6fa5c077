"""The canonical loan table: every column name, type, unit and allowed value.

This is the only module that spells a column name. Everything else imports the
constants below, so renaming a column (or supporting a lender's layout) happens in
one place. The layout follows the public "loan recovery" data set lenders already
export, so most files need no mapping at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from loan_recovery import actions as _catalogue


class ColumnKind(StrEnum):
    """How a raw text value is parsed and checked."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    CATEGORY = "category"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the canonical table.

    ``minimum``/``maximum`` are inclusive unless ``exclusive_minimum`` is set, which is how
    "must be > 0" amounts are declared. ``other_category`` names the bucket that unknown
    labels fall into for open-ended categories (``Loan_Type``); closed categories reject
    unknown labels instead.
    """

    name: str
    kind: ColumnKind
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    categories: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    other_category: str | None = None

    def domain_text(self) -> str:
        """Human wording of the allowed values, used in docs and error messages."""
        if self.kind is ColumnKind.CATEGORY:
            text = ", ".join(self.categories)
            if self.other_category:
                return f"{text}; unknown labels -> {self.other_category}"
            return text
        if self.minimum is None and self.maximum is None:
            return "any"
        low = (
            ""
            if self.minimum is None
            else f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        )
        high = "" if self.maximum is None else f"<= {self.maximum:g}"
        return " and ".join(part for part in (low, high) if part)


# --- canonical column names -------------------------------------------------------------
BORROWER_ID = "Borrower_ID"
AGE = "Age"
GENDER = "Gender"
EMPLOYMENT_TYPE = "Employment_Type"
MONTHLY_INCOME = "Monthly_Income"
NUM_DEPENDENTS = "Num_Dependents"
LOAN_ID = "Loan_ID"
LOAN_AMOUNT = "Loan_Amount"
LOAN_TENURE = "Loan_Tenure"
INTEREST_RATE = "Interest_Rate"
LOAN_TYPE = "Loan_Type"
COLLATERAL_VALUE = "Collateral_Value"
OUTSTANDING_LOAN_AMOUNT = "Outstanding_Loan_Amount"
MONTHLY_EMI = "Monthly_EMI"
PAYMENT_HISTORY = "Payment_History"
NUM_MISSED_PAYMENTS = "Num_Missed_Payments"
DAYS_PAST_DUE = "Days_Past_Due"
COLLECTION_ATTEMPTS = "Collection_Attempts"
COLLECTION_METHOD = "Collection_Method"
LEGAL_ACTION_TAKEN = "Legal_Action_Taken"
RECOVERY_STATUS = "Recovery_Status"

# optional columns used when present
AMOUNT_RECOVERED = "Amount_Recovered"
ACTION_PROPENSITY = "Action_Propensity"
ACTION_TAKEN = "Action_Taken"
AS_OF_DATE = "As_Of_Date"
BORROWER_NAME = "Borrower_Name"
PHONE = "Phone"
EMAIL = "Email"
PREFERRED_LANGUAGE = "Preferred_Language"
TIME_ZONE = "Time_Zone"
CONSENT_SMS = "Consent_SMS"
CONSENT_EMAIL = "Consent_Email"
DO_NOT_CONTACT = "Do_Not_Contact"

# --- category values ----------------------------------------------------------------------
GENDERS = ("Male", "Female", "Other")
EMPLOYMENT_TYPES = ("Salaried", "Self-Employed", "Business Owner", "Other")
LOAN_TYPES = ("Personal", "Home", "Auto", "Business", "Other")
PAYMENT_HISTORIES = ("On-Time", "Delayed", "Missed")
COLLECTION_METHODS = ("Calls", "Settlement Offer", "Legal Notice", "Debt Collectors")
#: The recovery-action catalogue's names; a Collection_Method may also carry one of these.
#: Recovery actions and every arm (hold first), from the one catalogue (``actions.py``).
ACTION_NAMES = _catalogue.ACTION_NAMES
HOLD = _catalogue.HOLD
ARM_NAMES = _catalogue.ARM_NAMES
YES_NO = ("Yes", "No")
RECOVERY_STATUSES = ("Fully Recovered", "Partially Recovered", "Written Off")
FULLY_RECOVERED, PARTIALLY_RECOVERED, WRITTEN_OFF = RECOVERY_STATUSES
#: Languages the reminder templates are written in; Preferred_Language may hold any BCP 47
#: tag, and a borrower whose language has no template is reminded in DEFAULT_LANGUAGE.
LANGUAGES = ("en", "hi")
DEFAULT_LANGUAGE = "en"

_YES_NO_ALIASES = {"y": "Yes", "true": "Yes", "1": "Yes", "n": "No", "false": "No", "0": "No"}

#: Largest amount of money any column takes (a quadrillion): far above any real loan, and
#: the models compute in float32, which fails on values near its 3.4e38 limit.
MAX_AMOUNT = 1e15
#: Longest tenure, in months (100 years): a longer one is a data error, and the derived
#: EMI of any tenure up to it stays finite at every allowed interest rate.
MAX_TENURE_MONTHS = 1_200
#: Caps on counts, each far above anything real, so a typo (an extra zero run) is caught.
MAX_DEPENDENTS = 50
MAX_DAYS_PAST_DUE = 36_500
MAX_COLLECTION_ATTEMPTS = 100_000

# --- the table ----------------------------------------------------------------------------
REQUIRED_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec(BORROWER_ID, ColumnKind.TEXT, "Borrower key"),
    ColumnSpec(AGE, ColumnKind.INTEGER, "Borrower age", "years", minimum=18, maximum=100),
    ColumnSpec(
        GENDER,
        ColumnKind.CATEGORY,
        "Borrower gender",
        categories=GENDERS,
        aliases={"m": "Male", "f": "Female"},
    ),
    ColumnSpec(
        EMPLOYMENT_TYPE,
        ColumnKind.CATEGORY,
        "Employment type",
        categories=EMPLOYMENT_TYPES,
        other_category="Other",
    ),
    ColumnSpec(
        MONTHLY_INCOME,
        ColumnKind.NUMBER,
        "Monthly income",
        "currency",
        minimum=0,
        exclusive_minimum=True,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        NUM_DEPENDENTS,
        ColumnKind.INTEGER,
        "Number of dependents",
        minimum=0,
        maximum=MAX_DEPENDENTS,
    ),
    ColumnSpec(LOAN_ID, ColumnKind.TEXT, "Loan key, unique per row"),
    ColumnSpec(
        LOAN_AMOUNT,
        ColumnKind.NUMBER,
        "Amount lent",
        "currency",
        minimum=0,
        exclusive_minimum=True,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        LOAN_TENURE,
        ColumnKind.INTEGER,
        "Loan tenure",
        "months",
        minimum=0,
        exclusive_minimum=True,
        maximum=MAX_TENURE_MONTHS,
    ),
    ColumnSpec(
        INTEREST_RATE,
        ColumnKind.NUMBER,
        "Annual interest rate",
        "percent",
        minimum=0,
        maximum=100,
    ),
    ColumnSpec(
        LOAN_TYPE,
        ColumnKind.CATEGORY,
        "Loan product",
        categories=LOAN_TYPES,
        other_category="Other",
    ),
    ColumnSpec(
        COLLATERAL_VALUE,
        ColumnKind.NUMBER,
        "Collateral value (0 = unsecured)",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        OUTSTANDING_LOAN_AMOUNT,
        ColumnKind.NUMBER,
        "Amount still owed",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        MONTHLY_EMI,
        ColumnKind.NUMBER,
        "Monthly instalment (derived when blank)",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        PAYMENT_HISTORY,
        ColumnKind.CATEGORY,
        "Payment behaviour so far",
        categories=PAYMENT_HISTORIES,
    ),
    ColumnSpec(
        NUM_MISSED_PAYMENTS,
        ColumnKind.INTEGER,
        "Instalments missed",
        minimum=0,
        maximum=MAX_TENURE_MONTHS,
    ),
    ColumnSpec(
        DAYS_PAST_DUE,
        ColumnKind.INTEGER,
        "Days past due (DPD)",
        "days",
        minimum=0,
        maximum=MAX_DAYS_PAST_DUE,
    ),
    ColumnSpec(
        COLLECTION_ATTEMPTS,
        ColumnKind.INTEGER,
        "Contacts made so far",
        minimum=0,
        maximum=MAX_COLLECTION_ATTEMPTS,
    ),
    ColumnSpec(
        COLLECTION_METHOD,
        ColumnKind.CATEGORY,
        "Last recovery action taken",
        categories=COLLECTION_METHODS + ARM_NAMES,
    ),
    ColumnSpec(
        LEGAL_ACTION_TAKEN,
        ColumnKind.CATEGORY,
        "Legal action taken before",
        categories=YES_NO,
        aliases=_YES_NO_ALIASES,
    ),
)

#: The training label: checked when present, required only when a job needs labels.
LABEL_SPEC = ColumnSpec(
    RECOVERY_STATUS,
    ColumnKind.CATEGORY,
    "Recovery outcome (training label)",
    categories=RECOVERY_STATUSES,
)

OPTIONAL_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        AMOUNT_RECOVERED,
        ColumnKind.NUMBER,
        "Amount recovered after the action",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        ACTION_PROPENSITY,
        ColumnKind.NUMBER,
        "Probability the logging policy gave the action it took",
        minimum=0,
        exclusive_minimum=True,
        maximum=1,
    ),
    ColumnSpec(
        ACTION_TAKEN,
        ColumnKind.CATEGORY,
        "Exact catalogue action taken (hold: none)",
        categories=ARM_NAMES,
    ),
    ColumnSpec(AS_OF_DATE, ColumnKind.DATE, "Snapshot date of the row", "ISO date"),
    ColumnSpec(BORROWER_NAME, ColumnKind.TEXT, "Borrower name (personal data)"),
    ColumnSpec(
        PHONE,
        ColumnKind.TEXT,
        "Mobile number, normalised to E.164 (region contacts.default_region); "
        "invalid: SMS off, a warning (personal data)",
    ),
    ColumnSpec(
        EMAIL,
        ColumnKind.TEXT,
        "Email address; invalid: email off, a warning (personal data)",
    ),
    ColumnSpec(
        PREFERRED_LANGUAGE,
        ColumnKind.CATEGORY,
        "Reminder language, a BCP 47 tag: any well-formed one is kept (ta, pt-BR) and "
        "reminded in its template if there is one, else en; malformed: en, a warning",
        categories=LANGUAGES,
        other_category=DEFAULT_LANGUAGE,
    ),
    ColumnSpec(TIME_ZONE, ColumnKind.TEXT, "Borrower IANA time zone"),
    ColumnSpec(
        CONSENT_SMS,
        ColumnKind.CATEGORY,
        "Consent to SMS reminders",
        categories=YES_NO,
        aliases=_YES_NO_ALIASES,
    ),
    ColumnSpec(
        CONSENT_EMAIL,
        ColumnKind.CATEGORY,
        "Consent to email reminders",
        categories=YES_NO,
        aliases=_YES_NO_ALIASES,
    ),
    ColumnSpec(
        DO_NOT_CONTACT,
        ColumnKind.CATEGORY,
        "Borrower must not be contacted (request or order)",
        categories=YES_NO,
        aliases=_YES_NO_ALIASES,
    ),
)

ALL_SPECS: tuple[ColumnSpec, ...] = (*REQUIRED_SPECS, LABEL_SPEC, *OPTIONAL_SPECS)
SPECS_BY_NAME: dict[str, ColumnSpec] = {spec.name: spec for spec in ALL_SPECS}

#: Columns a file must have. Monthly_EMI may be missing: it is derived from amount, rate, tenure.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    spec.name for spec in REQUIRED_SPECS if spec.name != MONTHLY_EMI
)
DERIVABLE_COLUMNS: tuple[str, ...] = (MONTHLY_EMI,)
CANONICAL_COLUMNS: tuple[str, ...] = (*(spec.name for spec in REQUIRED_SPECS), RECOVERY_STATUS)
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in OPTIONAL_SPECS)
PERSONAL_DATA_COLUMNS: tuple[str, ...] = (BORROWER_NAME, PHONE, EMAIL)

# --- monthly installment history (early warning) ---------------------------------------------
DUE_DATE = "Due_Date"
AMOUNT_DUE = "Amount_Due"
AMOUNT_PAID = "Amount_Paid"
PAID_DATE = "Paid_Date"

#: One row per loan and due date: what was due and what was paid when. Keyed by
#: (Loan_ID, Due_Date); a blank Paid_Date with Amount_Paid 0 is a missed installment.
PAYMENT_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec(LOAN_ID, ColumnKind.TEXT, "Loan key of the installment"),
    ColumnSpec(DUE_DATE, ColumnKind.DATE, "Installment due date", "ISO date"),
    ColumnSpec(
        AMOUNT_DUE,
        ColumnKind.NUMBER,
        "Installment amount due",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(
        AMOUNT_PAID,
        ColumnKind.NUMBER,
        "Amount paid against it",
        "currency",
        minimum=0,
        maximum=MAX_AMOUNT,
    ),
    ColumnSpec(PAID_DATE, ColumnKind.DATE, "Date paid (blank: not paid)", "ISO date"),
)
PAYMENT_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in PAYMENT_SPECS)
#: Payment columns a file must carry (Paid_Date may be blank but must be present).
REQUIRED_PAYMENT_COLUMNS: tuple[str, ...] = PAYMENT_COLUMNS

# --- early-warning behaviour features (models/early_warning.py) ------------------------------
#: Computed per loan from installments due on or before a cut-off date and payments made by
#: then; EMI burden and contacts come from the loan table.
DAYS_LATE_RECENT = "Days_Late_Recent"
DAYS_LATE_TREND = "Days_Late_Trend"
PARTIAL_PAYMENT_SHARE = "Partial_Payment_Share"
PAID_TO_DUE_RECENT = "Paid_To_Due_Recent"
MISSED_RECENT = "Missed_Recent"
DPD_AT_CUTOFF = "DPD_At_Cutoff"
INSTALLMENTS_OBSERVED = "Installments_Observed"
CONTACTS_AT_CUTOFF = "Collection_Contacts_At_Cutoff"
#: Date an instalment was paid in full, payments applied oldest first (blank: not yet).
COVERED_DATE = "Covered_Date"
#: Early-warning label and outputs (training rows, alerts).
CUTOFF_DATE = "Cutoff_Date"
REACHES_DEFAULT = "Reaches_Default"
EARLY_WARNING_SCORE = "early_warning_score"
ALERT_PATTERN = "alert_pattern"
SUGGESTED_ACTION = "suggested_action"
#: Alert patterns (behaviour seen before the cut-off) that map to a pre-emptive action.
ALERT_PATTERNS: tuple[str, ...] = ("missed", "partial", "late", "burden", "other")

# --- reminder targets (jobs/remind.py) ----------------------------------------------------------
#: Where a reminder target came from (plan file, stored scores, an early-warning alert, the
#: caller): shown beside every target of a dry run.
TARGET_SOURCE = "source"
TARGET_SOURCES: tuple[str, ...] = ("plan", "store", "alert", "extra")

#: Name of a raw frame's index: the 1-based line of each row in its source file (the
#: header is line 1, so the first data row is line 2). Never written out as a column.
SOURCE_LINE = "_source_line"
FIRST_DATA_LINE = 2

#: Amount columns: a negative value is reported as out of range.
AMOUNT_COLUMNS: tuple[str, ...] = (
    MONTHLY_INCOME,
    LOAN_AMOUNT,
    COLLATERAL_VALUE,
    OUTSTANDING_LOAN_AMOUNT,
    MONTHLY_EMI,
    AMOUNT_RECOVERED,
)

#: Columns of what was done and what came of it: never risk-model inputs.
ACTION_AND_OUTCOME_COLUMNS: tuple[str, ...] = (
    COLLECTION_METHOD,
    LEGAL_ACTION_TAKEN,
    AMOUNT_RECOVERED,
    RECOVERY_STATUS,
    ACTION_PROPENSITY,
    ACTION_TAKEN,
)

# --- engineered features (features.py) ---------------------------------------------------
EMI_TO_INCOME_RATIO = "EMI_to_Income_Ratio"
COLLATERAL_TO_OUTSTANDING = "Collateral_Coverage_Outstanding"
COLLATERAL_TO_LOAN = "Collateral_Coverage_Loan"
OUTSTANDING_RATIO = "Outstanding_Ratio"
ANY_MISSED = "Any_Missed_Payment"
THREE_PLUS_MISSED = "Three_Plus_Missed"
HISTORY_MISSED = "History_Missed"
DEFAULT_SEVERITY = "Default_Severity"
DPD_BUCKET = "DPD_Bucket"
ASSET_CLASS = "Asset_Class"
INCOME_PER_DEPENDENT = "Income_per_Dependent"
IS_SECURED = "Is_Secured"

DPD_BUCKETS = ("0", "1-30", "31-60", "61-90", "91-180", "180+")
ASSET_CLASSES = ("Standard", "SMA-0", "SMA-1", "SMA-2", "NPA")

# --- risk model inputs (models/design.py) -------------------------------------------------
PAYMENT_HISTORY_CODE = "Payment_History_Code"


def one_hot_column(column: str, value: str) -> str:
    """Name of the 0/1 indicator of ``column == value`` in model design matrices."""
    return f"{column}={value}"


# --- model outputs (score, plan) ----------------------------------------------------------
RISK_SCORE = "risk_score"
RISK_BAND = "risk_band"
SCORED_ASSET_CLASS = "asset_class"
SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"
NOT_RECOVERED = "Not_Recovered"

# recovery plan (strategy/policy.py, strategy/rules.py)
EXPECTED_RECOVERED = "expected_recovered"
EXPECTED_COST = "expected_cost"
RECOMMENDED_ACTION = "recommended_action"
EXPECTED_NET_RECOVERY = "expected_net_recovery"
NEXT_BEST_ACTION = "next_best_action"
UPLIFT_VS_NEXT_BEST = "uplift_vs_next_best"
BASELINE_ACTION = "baseline_action"
UPLIFT_VS_BASELINE = "uplift_vs_baseline"
PRIORITY = "priority"
GUARDRAILS = "guardrails"
#: Uplift of the recommended action over leaving the loan alone (hold), and hold's value.
EXPECTED_UPLIFT = "expected_uplift"
VALUE_IF_LEFT_ALONE = "value_if_left_alone"
#: A streamed plan's place of a worked loan in the whole book's worklist (1 = first);
#: blank for a held loan. The plan itself is written batch by batch, not sorted.
WORKLIST_RANK = "worklist_rank"


def value_column(action: str) -> str:
    """Plan column: discounted expected net recovery of ``action`` (hold included)."""
    return f"value_{action}"


def uplift_column(action: str) -> str:
    """Plan column: ``value_<action>`` minus the value of leaving the loan alone."""
    return f"uplift_{action}"


def reason_column(rank: int) -> str:
    """Output column of the ``rank``-th (1-based) reason code."""
    return f"reason_{rank}"


# --- portfolio report columns (portfolio.py) ---------------------------------------------
LOANS = "Loans"
BORROWERS = "Borrowers"
EXPOSURE = "Exposure"
EXPOSURE_SHARE = "Exposure_Share"
LOAN_SHARE = "Loan_Share"
MEAN_DAYS_PAST_DUE = "Mean_Days_Past_Due"
SECURED_SHARE = "Secured_Share"
NPA_EXPOSURE_SHARE = "NPA_Exposure_Share"
RECOVERED = "Recovered"
RECOVERY_RATE = "Recovery_Rate"
MEAN_RISK = "Mean_Risk"


def dpd_bucket_share_column(bucket: str) -> str:
    """Report column: share of a group's loans in DPD ``bucket`` (one of ``DPD_BUCKETS``)."""
    return f"DPD_{bucket}_Share"


# --- dashboard report columns (dashboard/insights.py) ------------------------------------
FROM_DPD_BUCKET = "From_DPD_Bucket"
TO_DPD_BUCKET = "To_DPD_Bucket"
RISK_BIN_LOW = "Risk_Bin_Low"
RISK_BIN_HIGH = "Risk_Bin_High"
#: Alerts page (dashboard/alerts_view.py): early-warning score bins, loans below the
#: threshold and loans alerted per bin.
SCORE_BIN_LOW = "Score_Bin_Low"
SCORE_BIN_HIGH = "Score_Bin_High"
NOT_ALERTED = "Not_Alerted"
ALERTED = "Alerted"
CANDIDATE = "Candidate"
SEGMENT_COUNT = "Segments"
SILHOUETTE = "Silhouette"
CHOSEN = "Chosen"
POLICY = "Policy"
NET_RECOVERY = "Net_Recovery"
COST = "Cost"
ORACLE_CAPTURE = "Oracle_Capture"
INCREMENTAL_NET = "Incremental_Net"
VS_BAU = "Vs_BAU"
DR_ESTIMATE = "DR_Estimate"
DR_LOW = "DR_Low_95"
DR_HIGH = "DR_High_95"
P_BEATS_BAU = "P_Beats_BAU"
ACTION = "Action"
FIXED_COST = "Fixed_Cost"
RECOVERY_SHARE = "Recovery_Share"


# --- simulator ground truth (never part of the canonical table) --------------------------
CAPACITY = "Capacity_To_Pay"
WILLINGNESS = "Willingness_To_Pay"
REACHABILITY = "Reachability"
FORGETFULNESS = "Forgetfulness"
ORACLE_ACTION = "Oracle_Action"
ORACLE_ACTION_UNCONSTRAINED = "Oracle_Action_Unconstrained"
LOGGED_ACTION = "Logged_Action"


def expected_fraction_column(action: str) -> str:
    """Ground-truth column: expected share of the outstanding recovered under ``action``."""
    return f"Expected_Recovery_Fraction_{action}"


def expected_net_column(action: str) -> str:
    """Ground-truth column: expected net recovery (recovered minus cost) under ``action``."""
    return f"Expected_Net_Recovery_{action}"


def realised_amount_column(action: str) -> str:
    """Ground-truth column: sampled amount that would be recovered under ``action``."""
    return f"Realised_Recovery_{action}"
