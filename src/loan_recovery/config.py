"""Settings: paths, costs, thresholds and rules, in one typed place.

Values come, in rising order of precedence, from the defaults below, a TOML file
(``--config`` or ``LOAN_RECOVERY_CONFIG``), ``LOAN_RECOVERY_*`` environment variables
(nested with ``__``, e.g. ``LOAN_RECOVERY_SIMULATOR__EPSILON=0.1``) and keyword
arguments. No other module holds a threshold, a cost or a rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loan_recovery import actions as catalogue
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError

CONFIG_FILE_ENV = "LOAN_RECOVERY_CONFIG"

CollectionMethod = Literal["Calls", "Settlement Offer", "Legal Notice", "Debt Collectors"]


class ActionConfig(BaseModel):
    """Cost and routing of one recovery action.

    Net recovery of the action = recovered * (1 - ``recovery_share``) - ``fixed_cost``:
    ``recovery_share`` is what the action gives away of the money it brings in (an
    agency's commission, a lawyer's success fee).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fixed_cost: float = Field(ge=0, description="Cost per loan worked, currency units")
    recovery_share: float = Field(default=0.0, ge=0, lt=1)
    days_to_money: int = Field(
        default=30, ge=0, le=3_650, description="Days from the action to the money arriving"
    )
    channel: str
    collection_method: CollectionMethod
    description: str = ""
    min_days_past_due: int = Field(default=0, ge=0, description="Eligible from this DPD on")
    max_days_past_due: int | None = Field(default=None, ge=0, description="Eligible up to")
    requires_collateral: bool = Field(default=False, description="Only for secured loans")

    @model_validator(mode="after")
    def _dpd_window(self) -> ActionConfig:
        if self.max_days_past_due is not None and self.max_days_past_due < self.min_days_past_due:
            raise ValueError(
                f"max_days_past_due must be >= min_days_past_due; got {self.max_days_past_due} "
                f"< {self.min_days_past_due}."
            )
        return self


def _default_actions() -> dict[str, ActionConfig]:
    """The catalogue's defaults (``loan_recovery.actions``), as editable settings."""
    return {
        spec.name: ActionConfig(
            fixed_cost=spec.fixed_cost,
            recovery_share=spec.recovery_share,
            days_to_money=spec.days_to_money,
            channel=spec.channel,
            collection_method=cast(CollectionMethod, spec.collection_method),
            description=spec.description,
            min_days_past_due=spec.min_days_past_due,
            max_days_past_due=spec.max_days_past_due,
            requires_collateral=spec.requires_collateral,
        )
        for spec in catalogue.ACTIONS
    }


class EconomicsSettings(BaseModel):
    """Time value of money and the terms of a restructure (see ``finance``).

    Every action's expected recoveries are discounted by ``(1 + cost_of_funds) **
    (-days_to_money / 365)``: a legal case paying in 18 months is worth less than a
    reminder paying next fortnight. 9% is a typical cost of funds of an Indian NBFC
    (bank MCLRs run 8-9%, NBFC borrowing 8.5-10%).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_of_funds: float = Field(
        default=0.09, ge=0, lt=1, description="The lender's annual cost of funds (0.09 = 9%)"
    )
    hold_days_to_money: int = Field(
        default=catalogue.HOLD_SPEC.days_to_money,
        ge=0,
        description="Days until a loan left alone pays what it pays on its own",
    )
    restructure_rate_concession: float = Field(
        default=2.0, ge=0, le=100, description="Interest-rate cut of a restructure, % points"
    )
    restructure_extension_months: int = Field(
        default=12, ge=0, le=360, description="Months a restructure adds to the schedule"
    )
    restructure_redefault_chance: float = Field(
        default=0.30,
        ge=0,
        le=1,
        description="Average chance a restructured loan defaults again (RBI data on "
        "restructured retail books: roughly a quarter to a third)",
    )
    restructure_redefault_recovery: float = Field(
        default=0.35, ge=0, le=1, description="Share of the balance still recovered after one"
    )


class ValidationSettings(BaseModel):
    """Limits that decide whether a loan row is believable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_outstanding_to_loan_ratio: float = Field(
        default=3.0,
        gt=0,
        description="Outstanding above this multiple of the loan amount is rejected "
        "(interest and penalties rarely triple a loan).",
    )


class ContactSettings(BaseModel):
    """How contact details are read, at validation and in the API (``data/contacts.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_region: str = Field(
        default="IN",
        description="Region (ISO 3166-1 alpha-2) of phone numbers written without "
        "+<country code>; every number is stored in E.164.",
    )
    default_language: str = Field(
        default="en",
        description="BCP 47 tag a malformed Preferred_Language becomes (with a warning).",
    )

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers  # only when a region is configured: a heavy import

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"must be a region code such as IN, US or GB; got {value!r}.")
        return region

    @field_validator("default_language")
    @classmethod
    def _well_formed_language(cls, value: str) -> str:
        from loan_recovery.data.contacts import normalize_language

        return normalize_language(value)


class LoggingRuleSettings(BaseModel):
    """The simulated lender's rule of thumb that logs the history (DPD bands, burden cut)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hold_max_dpd: int = Field(
        default=0, ge=0, description="DPD <= this: left alone (current loans are not worked)"
    )
    reminder_max_dpd: int = Field(default=30, ge=0, description="DPD <= this: reminder")
    call_max_dpd: int = Field(default=60, ge=0, description="DPD <= this: call")
    offer_max_dpd: int = Field(
        default=90, ge=0, description="DPD <= this: restructure or settlement; above: legal/agency"
    )
    restructure_min_emi_to_income: float = Field(
        default=0.45, ge=0, description="In the offer band, EMI/income above this: restructure"
    )

    @model_validator(mode="after")
    def _bands_ascend(self) -> LoggingRuleSettings:
        bands = (self.hold_max_dpd, self.reminder_max_dpd, self.call_max_dpd, self.offer_max_dpd)
        if not bands[0] < bands[1] < bands[2] < bands[3]:
            raise ValueError(
                "DPD bands must ascend: hold_max_dpd < reminder_max_dpd < call_max_dpd < "
                f"offer_max_dpd; got {bands}."
            )
        return self


class SimulatorSettings(BaseModel):
    """Knobs of the synthetic portfolio and its logging policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon: float = Field(default=0.2, ge=0, le=1, description="Exploration share")
    horizon_days: int = Field(default=180, gt=0)
    fully_recovered_fraction: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Recovered share of the outstanding at or above which a loan is "
        "Fully Recovered.",
    )
    written_off_fraction: float = Field(
        default=0.10,
        ge=0,
        lt=1,
        description="Recovered share below which a loan is Written Off.",
    )
    as_of_date: str = Field(default="2026-06-30", pattern=r"^\d{4}-\d{2}-\d{2}$")
    logging_rule: LoggingRuleSettings = LoggingRuleSettings()

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> SimulatorSettings:
        if self.written_off_fraction >= self.fully_recovered_fraction:
            raise ValueError(
                "written_off_fraction must be below fully_recovered_fraction; got "
                f"{self.written_off_fraction} >= {self.fully_recovered_fraction}."
            )
        return self


class XGBoostSettings(BaseModel):
    """Defaults of the gradient-boosted risk model; already good without tuning."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_estimators: int = Field(default=600, gt=0, description="Upper bound; early stopping cuts")
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_depth: int = Field(default=4, gt=0)
    min_child_weight: float = Field(default=5.0, ge=0)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(default=50, gt=0)
    validation_fraction: float = Field(default=0.15, gt=0, lt=0.5)


class RandomForestSettings(BaseModel):
    """Defaults of the Random Forest risk model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_estimators: int = Field(default=300, gt=0)
    max_depth: int | None = Field(
        default=10,
        gt=0,
        description="Bounds tree size: exact SHAP cost grows with leaves x depth^2",
    )
    min_samples_leaf: int = Field(default=20, gt=0)
    max_features: float = Field(default=0.4, gt=0, le=1)
    max_samples: int | None = Field(
        default=20_000,
        gt=0,
        description="Bootstrap rows per tree, capped at the training rows (None: all rows). "
        "Bounds training time on large books: 300 trees on 1M loans take ~35 s on 2 cores "
        "at 20k, at a cost of ~0.002 ROC-AUC against 100k.",
    )


class SmallDataSettings(BaseModel):
    """Hyperparameters picked by nested CV when a lender's export is small.

    Below ``rows_below`` labelled rows the defaults (tuned on large simulated books) can
    over- or under-fit; a small grid of depth, learning rate and minimum child weight is
    searched by an inner CV inside every training fold, so the reported CV still describes
    the procedure. The defaults stay a grid point, so the search cannot pick worse on the
    inner CV; so do ``extra_points`` (depth, learning rate, min child weight), by default
    XGBoost's own (6, 0.3, 1), the reference a lender's data scientist would try first.
    ``budget_seconds`` caps the search: past it, the grid is cut (largest configurations
    first; the defaults and extra points are searched first, so they are kept) and the
    train output says so.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows_below: int = Field(default=5_000, ge=0, description="Search below this many rows")
    max_depth: tuple[int, ...] = (2, 3, 4)
    learning_rate: tuple[float, ...] = (0.05, 0.1)
    min_child_weight: tuple[float, ...] = (1.0, 5.0)
    extra_points: tuple[tuple[PositiveInt, PositiveFloat, NonNegativeFloat], ...] = Field(
        default=((6, 0.3, 1.0),),
        max_length=10,
        description="(max_depth, learning_rate, min_child_weight) searched besides the grid",
    )
    inner_folds: int = Field(default=3, ge=2)
    budget_seconds: float = Field(default=60.0, gt=0)


class RiskSettings(BaseModel):
    """What "risk" means and how the risk models are trained, calibrated and banded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    not_recovered_statuses: tuple[str, ...] = Field(
        default=(schema.PARTIALLY_RECOVERED, schema.WRITTEN_OFF),
        description="Recovery_Status values that count as the positive class (not recovered).",
    )
    excluded_columns: tuple[str, ...] = Field(
        default=(schema.GENDER,),
        description="Columns lenders must not price on; excluded from the risk model.",
    )
    band_edges: tuple[float, ...] = Field(
        default=(0.25, 0.5, 0.75), description="Risk-score cut points between bands."
    )
    band_names: tuple[str, ...] = ("Low", "Medium", "High", "Very High")
    cv_folds: int = Field(default=5, ge=2)
    monotone: Literal["required", "auto", "off"] = Field(
        default="auto",
        description="Domain monotone constraints: 'required' always (a governance choice), "
        "'off' never, 'auto' unless the constrained model loses more than "
        "monotone_tolerance CV ROC-AUC to the unconstrained one on this data.",
    )
    monotone_tolerance: float = Field(
        default=0.02,
        ge=0,
        le=0.5,
        description="CV ROC-AUC the constraints may cost before 'auto' drops them. Chosen on "
        "tuning seeds 101-103: on the default simulator they cost -0.002 to 0.012 (500 to "
        "20,000 loans; a real break at 91 DPD, where legal action starts), where the data "
        "contradicts them (simulate --variant nonmonotone) 0.043 to 0.084.",
    )
    scorecard: bool = Field(
        default=True,
        description="Cross-validate a WoE + logistic scorecard challenger beside the tree "
        "families; it is served only if it wins.",
    )
    small_data: SmallDataSettings = SmallDataSettings()
    decision_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Score at which the confusion matrix is drawn."
    )
    tune_budget_seconds: float = Field(default=120.0, gt=0)
    xgboost: XGBoostSettings = XGBoostSettings()
    random_forest: RandomForestSettings = RandomForestSettings()

    @model_validator(mode="after")
    def _consistent(self) -> RiskSettings:
        unknown = sorted(set(self.not_recovered_statuses) - set(schema.RECOVERY_STATUSES))
        if unknown or not self.not_recovered_statuses:
            raise ValueError(
                f"not_recovered_statuses must be a non-empty subset of {schema.RECOVERY_STATUSES}; "
                f"got {list(self.not_recovered_statuses)}."
            )
        if list(self.band_edges) != sorted(self.band_edges) or not all(
            0 < edge < 1 for edge in self.band_edges
        ):
            raise ValueError(f"band_edges must ascend within (0, 1); got {list(self.band_edges)}.")
        if len(self.band_names) != len(self.band_edges) + 1:
            raise ValueError(
                f"band_names needs {len(self.band_edges) + 1} names for {len(self.band_edges)} "
                f"edges; got {len(self.band_names)}."
            )
        return self


class SegmentSettings(BaseModel):
    """Borrower segmentation: which columns describe a borrower, and how many segments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] = Field(
        default=(
            schema.MONTHLY_INCOME,
            schema.EMI_TO_INCOME_RATIO,
            schema.COLLATERAL_TO_OUTSTANDING,
            schema.OUTSTANDING_LOAN_AMOUNT,
            schema.DAYS_PAST_DUE,
            schema.NUM_MISSED_PAYMENTS,
            schema.AGE,
        ),
        description="Columns of the table or engineered features the segments are built on.",
    )
    n_segments: int | None = Field(default=None, ge=2, le=20, description="None: by silhouette")
    min_segments: int = Field(
        default=4, ge=2, description="Fewer segments than this are too coarse to plan with."
    )
    max_segments: int = Field(default=8, ge=2)
    silhouette_sample: int = Field(default=5_000, gt=100)

    @model_validator(mode="after")
    def _range(self) -> SegmentSettings:
        if self.min_segments > self.max_segments:
            raise ValueError(
                f"min_segments must be <= max_segments; got {self.min_segments} > "
                f"{self.max_segments}."
            )
        return self


class ExplainSettings(BaseModel):
    """Reason codes shown per loan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_k: int = Field(default=3, ge=1, le=10)
    method: Literal["exact", "approximate"] = Field(
        default="exact",
        description="exact: TreeSHAP; approximate: Saabas path attributions, about 7x a "
        "prediction's cost instead of ~200x, for very large books.",
    )
    scope: Literal["worked", "all"] = Field(
        default="worked",
        description="Which loans of a plan get reasons. worked: those an agent will read "
        "(the first worked_loans loans of the worklist that are worked, within capacity), "
        "and every loan of a plan of at most all_below loans; all: every loan.",
    )
    worked_loans: int = Field(
        default=10_000,
        ge=0,
        description="With scope=worked: at most this many worked loans, by priority, get "
        "reasons (a day's or a week's worklist, not the whole book).",
    )
    all_below: int = Field(
        default=1_000,
        ge=0,
        description="A plan of at most this many loans (one borrower, an API request, a "
        "small file) gets reasons for every loan, whatever the scope.",
    )

    def every_loan(self, loans: int) -> bool:
        """Whether a plan of ``loans`` loans explains every one of them."""
        return self.scope == "all" or loans <= self.all_below


class GuardrailSettings(BaseModel):
    """Business and legal rules that remove actions before the best one is chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_min_risk: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Legal only when risk is high: at or above the High band's lower edge "
        "(risk.band_edges[1] = 0.5). Set for its meaning, never tuned to a result.",
    )
    legal_min_outstanding: float = Field(
        default=50_000, ge=0, description="Legal only when this much is outstanding"
    )
    settlement_min_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="No settlement expected to bring less than this share of the outstanding "
        "(the maximum discount a lender accepts).",
    )
    max_collection_attempts: int = Field(
        default=15, ge=1, description="No further calls once this many contacts were made"
    )
    asset_class_excluded_actions: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {"NPA": cast(tuple[str, ...], ("reminder",))},
        description="Actions never recommended alone for a regulatory asset class.",
    )

    @model_validator(mode="after")
    def _known_names(self) -> GuardrailSettings:
        unknown_classes = sorted(set(self.asset_class_excluded_actions) - set(schema.ASSET_CLASSES))
        unknown_actions = sorted(
            {a for actions in self.asset_class_excluded_actions.values() for a in actions}
            - set(schema.ACTION_NAMES)
        )
        if unknown_classes or unknown_actions:
            raise ValueError(
                f"asset_class_excluded_actions names unknown asset classes {unknown_classes} "
                f"or actions {unknown_actions}."
            )
        return self


class ThresholdRulesSettings(BaseModel):
    """The original Smart Loan Recovery System's risk tiers, kept as a named baseline.

    Critical (risk > ``legal_risk``): legal when secured, never taken to court before and at
    least ``legal_min_days_past_due`` late, else agency. High (risk > ``offer_risk``): a
    pre-litigation call with a restructure offer. Medium (risk > ``call_risk``): a call.
    Low: a reminder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_risk: float = Field(default=0.72, ge=0, le=1, description="Critical tier above")
    legal_min_days_past_due: int = Field(default=91, ge=0)
    offer_risk: float = Field(default=0.65, ge=0, le=1, description="High tier above")
    call_risk: float = Field(default=0.32, ge=0, le=1, description="Medium tier above")


class SafePolicySettings(BaseModel):
    """When the learned policy may leave the lender's rule (safe policy improvement).

    The learned policy keeps BAU's action unless, in the loan's support cell (DPD bucket x
    secured x high burden), the history logged the proposed action at least
    ``min_support`` times, the policy proposes it on at least as many history rows, *and*
    the departure passes ``test`` at ``confidence``:

    * ``policy``: a random half of the history selects candidate sets of departures
      (those whose gain t-statistic there beats each of ``thresholds``); the other half
      tests each set as a whole, and the set with the highest positive lower bound of
      its doubly robust gain over BAU is approved (Bonferroni over the sets);
    * ``pairs``: each (cell, action) departure is tested alone, Bonferroni over all.

    The history is scored, and its departures proposed, by out-of-fold models
    (``cross_fit_folds``), so no row is judged by a model that learned its outcome.
    Defaults chosen on tuning seeds 101-103 (``benchmarks/tune_safety.py``; reported seeds
    are others): the only setting never below BAU there, with or without capacity.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Off: the learned policy as modelled")
    test: Literal["policy", "pairs"] = Field(
        default="policy",
        description="policy: select departures on half the history, test them together on "
        "the other half; pairs: test each (cell, action) departure alone",
    )
    min_support: int = Field(
        default=10,
        ge=1,
        description="Logged rows of the action, and history rows proposing it, per cell",
    )
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="One-sided level of the test, shared by the sets or pairs tested (Bonferroni)",
    )
    thresholds: tuple[FiniteFloat, ...] = Field(
        default=(0.0, 1.0, 2.0),
        min_length=1,
        max_length=10,
        description="policy test: selection t-statistics of the candidate sets",
    )
    max_weight: float = Field(default=50.0, gt=1, description="Inverse propensities clip here")
    cross_fit_folds: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Folds of the out-of-fold models that propose and score departures on "
        "the history (0 or 1: the final model in-sample, which flatters departures)",
    )


class OutcomeSettings(BaseModel):
    """How the per-action recovery models learn from a logged, non-random history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learner: Literal["t-pooled", "t-ipw", "s-ipw", "t-naive"] = Field(
        default="t-pooled",
        description="t-pooled: per action, boosted from a model pooled over all actions (best "
        "on the simulator); t-ipw: per action, inverse-propensity weighted; s-ipw: one model "
        "with the action as a feature; t-naive: per action, unweighted.",
    )
    min_effective_sample_size: float = Field(
        default=200, gt=0, description="Below this support an action falls back to its prior"
    )
    max_inverse_propensity: float = Field(
        default=50, gt=1, description="Weights are clipped here to bound variance"
    )
    status_fractions: dict[str, float] = Field(
        default_factory=lambda: {
            schema.FULLY_RECOVERED: 1.0,
            schema.PARTIALLY_RECOVERED: 0.5,
            schema.WRITTEN_OFF: 0.05,
        },
        description="Recovered share assumed per Recovery_Status when Amount_Recovered is absent",
    )
    n_estimators: int = Field(default=400, gt=0)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_depth: int = Field(default=4, gt=0)
    min_child_weight: float = Field(default=10, ge=0)
    subsample: float = Field(default=0.8, gt=0, le=1)
    early_stopping_rounds: int = Field(default=40, gt=0)
    validation_fraction: float = Field(default=0.15, gt=0, lt=0.5)


class StrategySettings(BaseModel):
    """Choosing actions: guardrails, baselines, outcome learning, capacity and budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    guardrails: GuardrailSettings = GuardrailSettings()
    threshold_rules: ThresholdRulesSettings = ThresholdRulesSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    baseline_policy: str = Field(
        default="bau", description="Policy the plan's gain is measured against"
    )
    min_uplift: float = Field(
        default=0.0,
        ge=0,
        description="Hold unless an allowed action adds more than this over leaving the loan "
        "alone (currency units)",
    )
    safe: SafePolicySettings = SafePolicySettings()
    bau_source: Literal["rule", "history"] = Field(
        default="rule",
        description="rule: the lender's documented rule (simulator.logging_rule); history: "
        "a shallow tree of the logged action, reconstructed and printed as rules",
    )
    bau_tree_depth: int = Field(default=4, ge=1, le=8, description="Depth of that tree")
    capacity: dict[str, int] = Field(
        default_factory=dict, description="Loans each action can take per cycle (none: no cap)"
    )
    budget: float | None = Field(default=None, ge=0, description="Total cost cap per cycle")

    @model_validator(mode="after")
    def _capacity_names(self) -> StrategySettings:
        unknown = sorted(set(self.capacity) - set(schema.ACTION_NAMES))
        negative = sorted(name for name, slots in self.capacity.items() if slots < 0)
        if unknown or negative:
            raise ValueError(
                f"capacity names unknown actions {unknown} or negative slots for {negative}."
            )
        return self


class EarlyWarningSettings(BaseModel):
    """Pre-default early warning: the label, the time split, alerts and the simulated history.

    A loan is scored when its days past due at the cut-off is at most ``eligible_max_dpd``;
    the label is whether it reaches ``default_dpd`` days past due within ``horizon_months``
    after the cut-off. ``alert_actions`` maps each alert pattern (``schema.ALERT_PATTERNS``:
    missed, partial, late, burden, other) to the pre-emptive action suggested for it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    history_months: int = Field(
        default=18, ge=1, le=120, description="Months of instalments the simulator writes."
    )
    future_months: int = Field(
        default=3,
        ge=0,
        le=24,
        description="Months the simulator continues past the as-of date (ground truth only).",
    )
    horizon_months: int = Field(
        default=3, ge=1, le=12, description="Months after the cut-off the label looks ahead."
    )
    default_dpd: int = Field(default=60, ge=1, description="Days past due that count as default.")
    eligible_max_dpd: int = Field(
        default=30, ge=0, description="Only loans at most this many days past due are scored."
    )
    train_cutoffs: int = Field(
        default=6,
        ge=1,
        le=60,
        description="Monthly cut-offs, before the test cut-off, the model trains on.",
    )
    top_fraction: float = Field(
        default=0.05, gt=0, lt=1, description="Share of loans for precision and lift at the top."
    )
    threshold: float = Field(
        default=0.3, gt=0, lt=1, description="Alert when the probability is at least this."
    )
    coverage_tolerance: float = Field(
        default=1.0,
        ge=0,
        description="Shortfall (currency units) below which an instalment counts as paid.",
    )
    max_days_paid_before_due: int = Field(
        default=62,
        ge=0,
        description="A payment dated further before its due date is rejected as a data error.",
    )
    late_days: float = Field(
        default=5.0, ge=0, description="Mean days late at or above this: the 'late' pattern."
    )
    burden_emi_to_income: float = Field(
        default=0.45, ge=0, description="EMI-to-income at or above this: the 'burden' pattern."
    )
    alert_actions: dict[str, str] = Field(
        default_factory=lambda: {
            "missed": "call",
            "partial": "reminder",
            "late": "reminder",
            "burden": "restructure",
            "other": "call",
        },
        description="Suggested pre-emptive action per alert pattern.",
    )
    registry_folder: str = Field(
        default="early_warning",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Sub-folder of the model registry holding early-warning versions.",
    )
    xgboost: XGBoostSettings = XGBoostSettings()

    @model_validator(mode="after")
    def _consistent(self) -> EarlyWarningSettings:
        if self.eligible_max_dpd >= self.default_dpd:
            raise ValueError(
                f"eligible_max_dpd must be below default_dpd; got {self.eligible_max_dpd} >= "
                f"{self.default_dpd}."
            )
        unknown = sorted(set(self.alert_actions) - set(schema.ALERT_PATTERNS))
        missing = sorted(set(schema.ALERT_PATTERNS) - set(self.alert_actions))
        actions = sorted(set(self.alert_actions.values()) - set(schema.ACTION_NAMES))
        if unknown or missing or actions:
            raise ValueError(
                f"alert_actions must map every pattern of {list(schema.ALERT_PATTERNS)} to an "
                f"action of {list(schema.ACTION_NAMES)}; unknown patterns {unknown}, missing "
                f"patterns {missing}, unknown actions {actions}."
            )
        return self


class DemoSettings(BaseModel):
    """The seeded demo portfolio that ``make run`` builds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loans: int = Field(default=20_000, gt=0)
    seed: int = 42


class StoreSettings(BaseModel):
    """The case store's write behaviour (the database itself is ``database_url``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(
        default=5_000,
        gt=0,
        le=100_000,
        description="Loans written per transaction by an import: a killed import leaves "
        "only whole batches, and a re-run treats them as unchanged.",
    )


class HttpLimitsSettings(BaseModel):
    """What one connection or request may cost the server before it is refused or closed.

    Heads (request line and headers) and bodies are capped, and clients that send slowly
    are cut off, so neither a huge header nor a slow-loris client can hold memory or a
    connection for long. ``docs/http-limits.md`` says what a client sees for each.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1_024,
        le=1024 * 1024,
        description="Largest request head (request line and headers) buffered; more: 431 "
        "and the connection is closed (only this much is ever held, however much is sent).",
    )
    max_headers: int = Field(
        default=100, ge=10, le=1_000, description="Header fields one request may carry (more: 431)."
    )
    max_record_body_bytes: int = Field(
        default=64 * 1024,
        ge=1_024,
        description="Largest body of the routes that take one record (actions, outcomes, "
        "opt-outs, API keys; more: 413); /v1/score and /v1/plan take api.max_body_bytes.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a whole request head, from connecting or "
        "from its first byte; then 408 and the connection is closed (slow-loris clients).",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3_600,
        description="Seconds a request body may take to arrive once the server reads it "
        "(then 408 and the connection is closed).",
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, le=300, description="Seconds an idle keep-alive connection stays open."
    )
    max_concurrency: int | None = Field(
        default=100,
        ge=1,
        description="Connections and requests one worker holds at once; a request beyond "
        "them gets 503 at once instead of queueing (bodies of up to api.max_body_bytes each "
        "are held while read). None: no limit.",
    )


class ApiSettings(BaseModel):
    """The REST API: where ``loan-recovery serve`` listens and how much one request may carry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address to listen on (loopback).")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes; each loads the models once (memory grows with workers).",
    )
    max_batch: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Loans one /v1/score or /v1/plan request may hold (more: 422).",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1_024,
        description="Largest request body accepted (more: 413 before anything is parsed); "
        "1,000 loans with every optional column take about 1 MiB of JSON.",
    )
    limits: HttpLimitsSettings = HttpLimitsSettings()
    model_threads: int | None = Field(
        default=1,
        ge=1,
        description="Threads the risk model's XGBoost predictions use per request. One suits a "
        "server: concurrent requests and workers already share the cores, and a request "
        "split over busy cores waits for the slowest. None: every core (library default).",
    )
    approximate_reasons_above: int | None = Field(
        default=100,
        ge=1,
        description="Requests with more loans than this explain with approximate reason "
        "codes (path attributions, a fraction of exact TreeSHAP's cost) whatever "
        "explain.method says, so a 1,000-loan request stays fast; smaller requests use "
        "explain.method. None: always explain.method.",
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=1,
        le=30 * 24 * 3600,
        description="How long the first answer to a creating POST sent with an "
        "Idempotency-Key is kept: a retry with that key within this time gets the answer "
        "back and creates nothing; after it, the key is free again and purged.",
    )
    require_idempotency_key: bool = Field(
        default=False,
        description="Refuse creating POSTs (actions, outcomes, plan, API keys, opt-outs) "
        "sent without an Idempotency-Key header with 428. Off: such requests work as "
        "before, and a client that retries one may create it twice.",
    )


#: The two ways amounts are written: every digit grouped, or large ones in crores and lakhs.
MoneyUnits = Literal["grouped", "crore_lakh"]


class DisplaySettings(BaseModel):
    """How amounts read wherever a person sees them: dashboard, command-line tables, Excel
    downloads and reminders, all through :mod:`loan_recovery.money`.

    ``en_IN`` is the default because an Indian lender reads ₹12,45,35,69,501 (thousands,
    then lakhs and crores in pairs of digits) at a glance, where 12,453,569,501 has to be
    counted out. Any CLDR locale and ISO 4217 currency works (``en_US`` with ``USD``,
    ``de_DE`` with ``EUR``); the symbol and its place come from the locale.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    locale: str = Field(
        default="en_IN",
        description="CLDR locale of digits, separators and grouping: en_IN, hi_IN, en_US, de_DE.",
    )
    currency: str = Field(
        default="INR",
        description="ISO 4217 code of every amount; its symbol comes from the locale.",
    )
    units: MoneyUnits = Field(
        default="grouped",
        description="grouped: ₹12,45,35,69,501. crore_lakh: ₹1,245.36 crore and ₹12.45 lakh on "
        "screens and command-line tables (below a lakh stays grouped); reminders and Excel "
        "cells always carry the exact amount.",
    )

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError  # only when a locale is configured

        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValueError(
                f"must be a CLDR locale such as en_IN, en_US or de_DE; got {value!r}."
            ) from None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        from babel.numbers import list_currencies

        code = value.strip().upper()
        if code not in list_currencies():
            raise ValueError(
                f"must be an ISO 4217 currency code such as INR or USD; got {value!r}."
            )
        return code


def _currency_symbol_moved(data: Any) -> Any:
    """A settings file from before ``[display]`` fails with where the setting went."""
    if isinstance(data, Mapping) and "currency_symbol" in data:
        raise ValueError(
            "currency_symbol moved to [display]: set display.currency to an ISO 4217 code "
            "(INR, USD); the symbol and its place come from display.locale."
        )
    return data


class DashboardSettings(BaseModel):
    """The Streamlit dashboard: where it listens and what it shows first (amounts read as
    ``[display]`` says)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address to listen on (loopback).")
    port: int = Field(default=8501, ge=1, le=65535)
    data_file: Path | None = Field(
        default=None, description="Portfolio shown first; default the demo portfolio."
    )
    payments_file: Path | None = Field(
        default=None,
        description="Payment history the Alerts page scores with the portfolio; default the "
        "demo's (only when data_file is unset too, so loans and history always match).",
    )
    band_colours: dict[str, str] = Field(
        default_factory=lambda: {
            "Low": "#2e7d32",
            "Medium": "#f9a825",
            "High": "#ef6c00",
            "Very High": "#c62828",
        },
        description="One colour per risk band name, used on every chart.",
    )
    worklist_rows: int = Field(default=1_000, gt=0, description="Rows shown on screen.")
    strategy_lab_loans: int = Field(
        default=5_000, ge=500, description="History and fresh loans the strategy lab simulates."
    )
    strategy_lab_seed: int = 7

    @model_validator(mode="before")
    @classmethod
    def _no_currency_symbol(cls, data: Any) -> Any:
        return _currency_symbol_moved(data)


class SmtpSettings(BaseModel):
    """The mail server reminders are sent through (real SMTP)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="localhost", description="SMTP server host name.")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(default=False, description="Implicit TLS from the start (SMTPS, 465).")
    username: str | None = Field(default=None, description="Login user; none: no login.")
    password: SecretStr | None = Field(default=None, description="Login password.")
    sender: str = Field(
        default="reminders@example.com", description="From address of every reminder."
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds per SMTP operation.")

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.ssl and self.starttls:
            raise ValueError("choose ssl (implicit TLS) or starttls, not both.")
        return self


class SmsGatewaySettings(BaseModel):
    """The HTTP gateway SMS reminders are posted to (JSON POST)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(default=None, description="Gateway endpoint; none: SMS disabled.")
    api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    sender_id: str = Field(default="LNRCVR", max_length=16, description="SMS sender id.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries after a 5xx or a timeout (none after 4xx)."
    )
    backoff_seconds: float = Field(
        default=0.5, ge=0, description="First retry delay; doubles every retry."
    )
    backoff_max_seconds: float = Field(default=8.0, ge=0, description="Longest retry delay.")
    idempotent: bool = Field(
        default=True,
        description="The gateway drops a repeated Idempotency-Key: an SMS whose delivery is "
        "unconfirmed after a crash is sent again; otherwise it is held for review.",
    )


#: Allowed contact hours (local time of the borrower, start inclusive, end exclusive).
CONTACT_PROFILES: dict[str, tuple[time, time]] = {
    "rbi": (time(8, 0), time(19, 0)),  # RBI fair practices code: 08:00 to 19:00
    "us": (time(8, 0), time(21, 0)),  # FDCPA / Reg F: not before 8 a.m. or after 9 p.m.
}


class NotifySettings(BaseModel):
    """Reminders: contact policy, channels, templates, outbox behaviour, senders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_profile: Literal["rbi", "us"] = Field(
        default="rbi", description="Allowed hours: rbi 08:00-19:00, us 08:00-21:00."
    )
    contact_hours: tuple[time, time] | None = Field(
        default=None, description="[start, end) local hours overriding the profile's."
    )
    max_attempts: int = Field(
        default=7, ge=1, description="Contact attempts per loan in any rolling window."
    )
    attempt_window_days: int = Field(default=7, ge=1, description="The rolling window, days.")
    holiday_country: str | None = Field(
        default="IN",
        description="ISO 3166-1 country whose public holidays (the `holidays` package, every "
        "year) are no-contact days, by the borrower's local date; blank: only `holidays`.",
    )
    holiday_subdivisions: tuple[str, ...] = Field(
        default=(),
        description="States or territories of holiday_country whose own holidays are "
        "no-contact days too (India: MH, KA, TN, DL, ...); a date of any of them is skipped.",
    )
    holidays: tuple[date, ...] = Field(
        default=(),
        description="Extra no-contact dates the lender adds (borrower's local calendar), on "
        "top of the public holidays.",
    )
    default_time_zone: str = Field(
        default="Asia/Kolkata",
        description="Time zone of borrowers without one, and of a run's campaign date.",
    )
    channels: tuple[Literal["sms", "email"], ...] = Field(
        default=("sms", "email"),
        min_length=1,
        description="Channel preference: a reminder goes by the first one the borrower allows.",
    )
    campaign: str = Field(default="reminder", min_length=1, max_length=32)
    alert_campaign: str = Field(
        default="early-warning",
        min_length=1,
        max_length=32,
        description="Campaign of the reminders `remind` sends for early-warning alerts whose "
        "suggested action is reminder (its own outbox key and audit trail).",
    )
    lender_name: str = Field(default="Your lender", description="Signature of every reminder.")
    pay_within_days: int = Field(
        default=7,
        ge=0,
        description="Due date shown for a loan without an unpaid installment in the store.",
    )
    template_dir: Path | None = Field(
        default=None, description="Folder whose templates replace the packaged ones."
    )
    claim_lease_seconds: int = Field(
        default=300,
        ge=1,
        description="A message claimed longer ago than this by a sender that never finished "
        "is treated as abandoned (the sender died).",
    )
    max_send_attempts: int = Field(
        default=5, ge=1, description="Transient failures before a message is marked failed."
    )
    retry_delay_seconds: int = Field(
        default=900, ge=0, description="Wait after a transient failure before the next try."
    )
    dispatch_limit: int = Field(default=10_000, ge=1, description="Messages one run sends at most.")
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsGatewaySettings = SmsGatewaySettings()

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"must be an IANA time zone such as Asia/Kolkata; got {value!r}."
            ) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_currency_symbol(cls, data: Any) -> Any:
        return _currency_symbol_moved(data)

    @field_validator("holiday_country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        """Blank means none: a TOML file has no null, so ``holiday_country = ""`` turns
        public holidays off."""
        return (value.strip().upper() or None) if value is not None else None

    @field_validator("holiday_subdivisions")
    @classmethod
    def _subdivision_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(code.strip().upper() for code in value))

    @model_validator(mode="after")
    def _known_holiday_calendar(self) -> NotifySettings:
        if self.holiday_country is None:
            if self.holiday_subdivisions:
                raise ValueError("holiday_subdivisions need a holiday_country.")
            return self
        import holidays  # only when public holidays are configured

        supported = holidays.list_supported_countries()
        if self.holiday_country not in supported:
            raise ValueError(
                f"holiday_country must be a country the holidays package knows (IN, US, GB, "
                f"...); got {self.holiday_country!r}."
            )
        unknown = sorted(set(self.holiday_subdivisions) - set(supported[self.holiday_country]))
        if unknown:
            raise ValueError(
                f"holiday_subdivisions {unknown} are not subdivisions of {self.holiday_country}; "
                f"known: {', '.join(supported[self.holiday_country])}."
            )
        return self

    @model_validator(mode="after")
    def _hours_in_order(self) -> NotifySettings:
        start, end = self.allowed_hours
        if not start < end:
            raise ValueError(f"contact_hours must start before they end; got {start}-{end}.")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels repeat a channel: {list(self.channels)}.")
        return self

    @model_validator(mode="after")
    def _campaigns_differ(self) -> NotifySettings:
        if self.alert_campaign == self.campaign:
            raise ValueError(
                f"alert_campaign must differ from campaign (both {self.campaign!r}): the "
                "campaign tells an alert's reminder from the plan's."
            )
        return self

    @property
    def allowed_hours(self) -> tuple[time, time]:
        """Local [start, end) contact hours: the override, else the profile's."""
        if self.contact_hours is not None:
            return self.contact_hours
        return CONTACT_PROFILES[self.contact_profile]


class ComputeSettings(BaseModel):
    """How large books are processed: whole in memory, or streamed in record batches.

    A book streams when its input is a folder of Parquet files or is larger than
    ``stream_above_mb``, or when a command is given ``--stream``. ``batch_rows`` bounds
    memory: with 250,000-loan batches a 20-million-loan plan peaked at 2.7 GB (bench_stream).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_rows: int = Field(
        default=250_000, ge=1, description="Loans per record batch when a book streams."
    )
    stream_above_mb: float = Field(
        default=1024.0,
        gt=0,
        description="Input files larger than this stream without --stream (MiB on disk).",
    )
    engine: Literal["local", "dask"] = Field(
        default="local",
        description=(
            "Where a streamed book's batches run: this process, or the Dask cluster at "
            "`scheduler` (Parquet input; the registry, input and output on paths every "
            "worker sees)."
        ),
    )
    scheduler: str | None = Field(
        default=None,
        description=(
            "Dask scheduler address (tcp://host:8786) for engine 'dask'; unset starts a "
            "local cluster of one worker process per core."
        ),
    )


class Settings(BaseSettings):
    """Every setting of the system; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="LOAN_RECOVERY_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    var_dir: Path = Path("var")
    models_dir: Path | None = Field(
        default=None, description="Model registry folder; default var_dir / 'models'."
    )
    actions: dict[str, ActionConfig] = Field(default_factory=_default_actions)
    validation: ValidationSettings = ValidationSettings()
    contacts: ContactSettings = ContactSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    demo: DemoSettings = DemoSettings()
    risk: RiskSettings = RiskSettings()
    segments: SegmentSettings = SegmentSettings()
    explain: ExplainSettings = ExplainSettings()
    strategy: StrategySettings = StrategySettings()
    economics: EconomicsSettings = EconomicsSettings()
    early_warning: EarlyWarningSettings = EarlyWarningSettings()
    display: DisplaySettings = DisplaySettings()
    dashboard: DashboardSettings = DashboardSettings()
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the case store (LOAN_RECOVERY_DATABASE_URL); "
        "postgresql://... uses psycopg 3. Default: a SQLite file var_dir/loan_recovery.db.",
    )
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    notify: NotifySettings = NotifySettings()
    compute: ComputeSettings = ComputeSettings()

    @model_validator(mode="after")
    def _known_actions(self) -> Settings:
        unknown = sorted(set(self.actions) - set(schema.ACTION_NAMES))
        if unknown:
            raise ValueError(
                f"unknown action(s) {unknown}; the catalogue knows {list(schema.ACTION_NAMES)}."
            )
        missing = sorted(set(self.risk.band_names) - set(self.dashboard.band_colours))
        if missing:
            raise ValueError(f"dashboard.band_colours has no colour for risk band(s) {missing}.")
        return self

    @field_validator("actions", mode="before")
    @classmethod
    def _merge_onto_default_catalogue(cls, value: Any) -> Any:
        """A file overrides only the actions and fields it names; the rest keep defaults."""
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {
            name: action.model_dump() for name, action in _default_actions().items()
        }
        for name, override in value.items():
            if isinstance(override, ActionConfig):
                override = override.model_dump()
            base = merged.get(name, {})
            merged[name] = {**base, **override} if isinstance(override, Mapping) else override
        return merged

    @property
    def registry_dir(self) -> Path:
        """Where model versions live unless a command names another folder."""
        return self.models_dir if self.models_dir is not None else self.var_dir / "models"

    def with_explain(self, **changes: Any) -> Settings:
        """These settings with ``explain`` fields replaced (a command's --reasons, the
        dashboard explaining every loan, the API's approximate reasons for big requests)."""
        explain = ExplainSettings.model_validate(self.explain.model_dump() | changes)
        return self.model_copy(update={"explain": explain})

    @property
    def database_url_or_default(self) -> str:
        """The store's URL: ``database_url`` when set, else a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'loan_recovery.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments beat the environment, which beats the TOML file."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    Raises :class:`ConfigError` with every invalid field named, never a pydantic traceback.
    """
    path_text = config_file if config_file is not None else os.environ.get(CONFIG_FILE_ENV)
    settings_cls: type[Settings] = Settings
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found.")

        class FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=path)

        settings_cls = FileSettings
    try:
        return settings_cls(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    except ValueError as error:  # malformed TOML
        raise ConfigError(f"cannot read config file {path_text}: {error}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings for long-lived services (API, dashboard); cached once."""
    return load_settings()
