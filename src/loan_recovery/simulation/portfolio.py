"""The synthetic portfolio: latent borrowers, observable loans, outcomes under every action.

Why a simulator: a real loan book shows only what happened under the action the lender
took. Here every loan also carries its *potential outcomes* under each recovery action,
so any policy can be scored against the best possible choice (the oracle), and the
logged history carries the propensities off-policy estimators need.

:func:`simulate_portfolio` returns two frames: ``loans``, the canonical table a lender
would export (plus the optional logged-action, contact and consent columns), and
``truth``, the ground truth that no model may read. The process runs one way:

**1. Latent borrower traits** (standard-normal scores, reported in ``truth`` mapped to
(0, 1) by the logistic function):

* capacity to pay: an underlying earning strength (which also lifts income and the
  credit score behind the interest rate) *minus* the current instalment burden, so a
  high EMI-to-income ratio strains capacity;
* willingness to pay: character, correlated 0.25 with earning strength and 0.35 with
  reachability; it drives delinquency, payment history and the price of credit;
* reachability: whether phone and digital contact get through; unreachable borrowers
  soak up more collection attempts;
* forgetfulness: late payers who can and will pay but forget; they show short delays
  (DPD 1-30, "Delayed" history) rather than deep delinquency.

**2. Observable marginals** (Indian lender scale, INR; shares measured on 200k loans):

* Age ~ Normal(37, 10) rounded and clipped to 21-70; Gender Male 66%, Female 32%, Other 2%
  (it drives nothing but first names); Employment Salaried 58%, Self-Employed 27%,
  Business Owner 15%. One borrower per loan.
* Monthly_Income lognormal: median 42k (salaried), 36k (self-employed), 65k (business
  owners), log-sd 0.5-0.6, rising with age and earning strength; rounded to 100 and
  clipped to 8k-1.5M. Overall median ~43k; ~94% lie between 15k and 250k a month.
* Num_Dependents ~ Poisson(0.4 + 0.05 x (age - 21)), at most 6.
* Loan_Type by employment (overall Personal 38%, Home 21%, Auto 20%, Business 21%;
  business owners mostly Business loans). Loan_Amount = income x a product multiple
  (Personal 5, Home 38, Auto 11, Business 12) x lognormal(0, 0.35) noise, rounded to
  1,000: medians ~2.1L personal, ~16L home, ~4.7L auto, ~5.5L business.
* Loan_Tenure from product menus: Personal 12-60, Home 120-300, Auto 36-84, Business
  12-84 months. Interest_Rate = product base (Personal 14%, Home 8.9%, Auto 9.9%,
  Business 15%) minus a spread times a noisy credit score, clipped per product.
* Collateral_Value today: Home 97% secured (property at 60-85% loan-to-value,
  appreciating 5% a year), Auto 92% secured (vehicle at 80-90% LTV, depreciating 15% a
  year), Business 45% secured (0.5-1.6x the amount), Personal always unsecured (0).
* Monthly_EMI from the reducing-balance formula (:func:`reducing_balance_emi`); about
  18% of loans have an EMI above 45% of income.
* Days_Past_Due: a stress score (low capacity, low willingness, noise) decides who is
  delinquent and how deeply (lognormal); current borrowers who forget show DPD 1-30.
  Buckets: 0 33%, 1-30 17%, 31-60 16%, 61-90 10%, 91-180 13%, over 180 11%; the tail
  saturates smoothly past 720 days towards a 1,080-day cap.
* Num_Missed_Payments = ceil(DPD / 30) (at most the instalments still to fall due) plus
  a few earlier, cured lapses for unwilling payers. Outstanding_Loan_Amount = the
  scheduled balance after the instalments actually paid, grown by interest on the
  missed ones and a 2% penal charge; never 0 and never above the validation limit
  (``max_outstanding_to_loan_ratio`` x amount).
* Payment_History from missed payments, willingness and forgetfulness with noise
  (On-Time ~37%, Delayed ~26%, Missed ~37%).
* Collection_Attempts ~ Poisson(3 sqrt(DPD / 30) x (0.6 + 1.2 x (1 - reachability))):
  grows with DPD and, at a given DPD, with how hard the borrower is to reach.
* Legal_Action_Taken is the *prior* legal flag, set before the logged action: ~3%
  overall, under 1% up to 90 DPD, ~12% at 181-360 and ~33% beyond a year. The logging
  policy conditions on it, so the logged action never changes it (a logged ``legal``
  shows in Collection_Method and Action_Taken, not here).
* Contact details: Indian names from small pools, +91 mobile numbers (E.164), emails,
  language en 60% / hi 40%, time zone Asia/Kolkata (2% Asia/Dubai, 1% Europe/London for
  NRIs), SMS consent 85%, email consent 70%, do-not-contact 3%. They carry no signal
  about outcomes.

**3. Potential outcomes** under every arm, hold included, and their discounted money:
:mod:`loan_recovery.simulation.outcomes`. The truth table holds, per arm, the expected
fraction, the expected net recovery on the plan's discounted basis
(``Expected_Net_Recovery_<arm>``) and a realised draw. ``Oracle_Action`` is the best arm
among those the catalogue and the regulatory guardrails allow (risk-free: the legal rule's
risk condition, which needs a model, is taken as met), hold included;
``Oracle_Action_Unconstrained`` the best of all arms.

**4. Logged history.** The lender's rule picks one arm from observable columns (current
loans are left alone); with probability ``epsilon`` it explores among the arms the
catalogue allows: :mod:`loan_recovery.simulation.logging_policy`. Collection_Method is
the canonical method of the taken arm (``settings.actions[a].collection_method``; hold
shows "hold"); Action_Taken names it exactly.

**5. Label.** Amount_Recovered is the realised amount under the logged action. With
fraction = Amount_Recovered / Outstanding_Loan_Amount (both as rounded in the table),
Recovery_Status is "Fully Recovered" when fraction >= ``fully_recovered_fraction``
(default 0.95), "Written Off" when fraction < ``written_off_fraction`` (default 0.10),
and "Partially Recovered" otherwise: about 52% / 29% / 19% with the defaults. A
gradient-boosted model on the observable columns (no action, outcome or Gender columns)
reaches a held-out ROC-AUC of ~0.84 for "not Fully Recovered": learnable, not trivial.

**6. Variants.** ``variant="default"`` is the world above. ``variant="nonmonotone"`` is a
recovery book where a loan's place in collections matters more than how far behind it
is, as some lenders' exports show: days past due and missed payments barely rank "not
Fully Recovered" (univariate ROC-AUC ~0.47) and collection attempts relate to it
non-monotonically. Every draw stays as in the default world (same seed: same observable
columns, same logged arms); only the drivers every arm reads change, as deterministic
functions of the observables (shifts in standard deviations of the latent scores):

* every loan was referred to recovery, so DPD 0 means "nothing overdue yet", not
  healthy: no stay-current bonus;
* arrears are rawest around 90 DPD: severity is a bump there (0.3 at its peak) that fades
  for older defaults, not a curve rising with DPD;
* engagement: about 3 collection attempts mean the collector reached a borrower who
  engages (willingness +0.6); none (never contacted) or very many (a hard case) take
  up to 3 off, along a bump in log(1 + attempts);
* resolution: past the NPA line (90 DPD) loans enter settlement plans and, when secured,
  collateral enforcement: capacity rises over 180 days by 3, plus 1.5 per unit of
  collateral cover (up to 2);
* missed payments beyond the arrears are lapses the borrower cured before: capacity
  +0.5 each, up to three.

Measured on 20k loans: not Fully Recovered by attempts 0 / 1-4 / 5-10 / 11+ is ~58% /
43% / 59% / 45%, by DPD 0 / 1-30 / 31-90 / 91-180 / 181+ ~57% / 38% / 68% / 52% / 31%;
~47% Fully Recovered. Gradient boosting held to the risk model's monotone directions
(``models.design.MONOTONE_DIRECTIONS``) loses ~0.07 cross-validated ROC-AUC to an
unconstrained one (0.06-0.08 at 2k and 20k loans; ~0.01 in the default world). The truth
table's traits stay the borrower's (they drove the observables and feed the instalment
histories); its per-arm outcomes, the logged amount and the label are the variant's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.finance import reducing_balance_emi
from loan_recovery.simulation import outcomes
from loan_recovery.simulation.logging_policy import (
    check_epsilon,
    logging_policy_probabilities,
)
from loan_recovery.simulation.outcomes import sigmoid as _sigmoid

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_ARMS: tuple[str, ...] = schema.ARM_NAMES
_YES, _NO = schema.YES_NO

# --- borrowers ---------------------------------------------------------------------------
_GENDER_SHARES = (0.66, 0.32, 0.02)  # schema.GENDERS order
_EMPLOYMENTS = ("Salaried", "Self-Employed", "Business Owner")
_EMPLOYMENT_SHARES = (0.58, 0.27, 0.15)
_INCOME_MEDIAN = (42_000.0, 36_000.0, 65_000.0)  # by employment
_INCOME_LOG_SD = (0.50, 0.60, 0.60)
_INCOME_BOUNDS = (8_000.0, 1_500_000.0)

# --- loans -------------------------------------------------------------------------------
_LOAN_TYPES = ("Personal", "Home", "Auto", "Business")
_PERSONAL, _HOME, _AUTO, _BUSINESS = range(4)
#: Loan-type shares by employment (rows: _EMPLOYMENTS, columns: _LOAN_TYPES).
_LOAN_TYPE_SHARES = (
    (0.45, 0.25, 0.22, 0.08),
    (0.35, 0.15, 0.18, 0.32),
    (0.20, 0.15, 0.15, 0.50),
)
_AMOUNT_INCOME_MULTIPLE = (5.0, 38.0, 11.0, 12.0)
_AMOUNT_BOUNDS = ((20_000.0, 4e6), (300_000.0, 5e7), (100_000.0, 1e7), (50_000.0, 2e7))
_TENURE_MENU: tuple[tuple[tuple[int, ...], tuple[float, ...]], ...] = (
    ((12, 24, 36, 48, 60), (0.10, 0.25, 0.30, 0.15, 0.20)),
    ((120, 180, 240, 300), (0.15, 0.30, 0.40, 0.15)),
    ((36, 48, 60, 72, 84), (0.15, 0.20, 0.35, 0.15, 0.15)),
    ((12, 24, 36, 48, 60, 84), (0.10, 0.20, 0.30, 0.15, 0.15, 0.10)),
)
_RATE_BASE = (14.0, 8.9, 9.9, 15.0)
_RATE_SPREAD = (3.0, 0.8, 1.5, 2.5)
_RATE_BOUNDS = ((10.5, 26.0), (8.0, 12.5), (8.5, 16.0), (11.0, 24.0))
_SECURED_SHARE = (0.0, 0.97, 0.92, 0.45)
#: DPD runs freely up to the knee and then saturates towards the cap (three years).
_DPD_KNEE = 720.0
_MAX_DPD = 1_080.0
#: Stress score above which a borrower is delinquent (sets the ~33% mass at DPD 0).
_CURRENT_STRESS_CUT = -0.55
#: Days past due beyond which a loan is a non-performing asset (RBI): enforcement opens.
_NPA_DPD = 90

# --- variants -------------------------------------------------------------------------------
DEFAULT_VARIANT = "default"
NONMONOTONE_VARIANT = "nonmonotone"
#: The recovery worlds :func:`simulate_portfolio` knows (module docstring, section 6).
VARIANTS: tuple[str, ...] = (DEFAULT_VARIANT, NONMONOTONE_VARIANT)
# The nonmonotone world (section 6): shifts of the latent scores, in standard deviations.
#: Arrears are rawest this many days past due: the severity bump peaks here.
_NM_STAGE_PEAK_DPD = 90.0
#: Height of that bump on the severity scale (the default world reaches 1.0 at 180 DPD).
_NM_STAGE_SEVERITY = 0.3
#: Contacts at which a borrower is most engaged, and the bump's width in log(1 + contacts).
_NM_ENGAGED_CONTACTS = 3.0
_NM_ENGAGEMENT_WIDTH = 0.7
#: Willingness shift at the engaged sweet spot, and for the never contacted or hard cases.
_NM_ENGAGED_LIFT = 0.6
_NM_UNENGAGED_DROP = 3.0
#: Resolution ramps up over this many days past the NPA line, to a capacity lift of
#: this much for an unsecured loan plus this much per unit of collateral cover (up to 2).
_NM_RESOLUTION_DAYS = 180.0
_NM_RESOLUTION_LIFT = 3.0
_NM_RESOLUTION_PER_COVER = 1.5
#: Capacity lift per cured lapse (missed payments beyond the arrears), up to three.
_NM_LAPSE_LIFT = 0.5
_NM_MAX_LAPSES = 3.0

# --- names and contact details (small pools, indexed vectorised) --------------------------
_MALE_NAMES = (
    "Aarav", "Vivaan", "Aditya", "Arjun", "Rohan", "Rahul", "Amit", "Suresh", "Rajesh",
    "Vikram", "Sanjay", "Manoj", "Karan", "Nikhil", "Imran", "Faisal", "Harpreet", "Gurdeep",
    "Venkat", "Srinivas", "Arun", "Prakash", "Deepak", "Anil", "Joseph", "Thomas",
)  # fmt: skip
_FEMALE_NAMES = (
    "Priya", "Ananya", "Diya", "Kavya", "Pooja", "Neha", "Sneha", "Anjali", "Sunita",
    "Lakshmi", "Meera", "Divya", "Aisha", "Fatima", "Simran", "Harleen", "Revathi",
    "Shalini", "Geeta", "Rekha", "Swati", "Nisha", "Mary", "Asha", "Kiran", "Ritu",
)  # fmt: skip
_SURNAMES = (
    "Sharma", "Verma", "Gupta", "Singh", "Kumar", "Patel", "Shah", "Reddy", "Rao", "Nair",
    "Menon", "Iyer", "Pillai", "Das", "Bose", "Banerjee", "Chatterjee", "Mukherjee",
    "Joshi", "Kulkarni", "Deshmukh", "Patil", "Khan", "Ahmed", "Qureshi", "Gill", "Sandhu",
    "Naidu", "Mehta", "Jain", "Agarwal", "Yadav", "Mishra", "Pandey", "Fernandes", "Dsouza",
)  # fmt: skip
_EMAIL_DOMAINS = ("gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com")
_EMAIL_DOMAIN_SHARES = (0.62, 0.14, 0.12, 0.07, 0.05)
_TIME_ZONES = ("Asia/Kolkata", "Asia/Dubai", "Europe/London")
_TIME_ZONE_SHARES = (0.97, 0.02, 0.01)
_HINDI_SHARE = 0.4
_SMS_CONSENT_SHARE = 0.85
_EMAIL_CONSENT_SHARE = 0.70
_DO_NOT_CONTACT_SHARE = 0.03  # borrowers who asked not to be contacted (or a court order)


class _Traits(NamedTuple):
    """Latent standard-normal scores, one entry per loan (one borrower per loan)."""

    earning: FloatArray  # underlying earning strength, before the instalment burden
    willingness: FloatArray
    reachability: FloatArray
    forgetfulness: FloatArray


class _Borrowers(NamedTuple):
    age: IntArray
    gender: IntArray  # index into schema.GENDERS
    employment: IntArray  # index into _EMPLOYMENTS
    income: FloatArray
    dependents: IntArray


class _Loans(NamedTuple):
    loan_type: IntArray  # index into _LOAN_TYPES
    amount: FloatArray
    tenure: IntArray
    rate: FloatArray
    emi: FloatArray


class _Delinquency(NamedTuple):
    dpd: IntArray
    missed: IntArray
    history: IntArray  # index into schema.PAYMENT_HISTORIES
    attempts: IntArray
    prior_legal: BoolArray
    outstanding: FloatArray
    collateral: FloatArray
    remaining: IntArray  # instalments left on the schedule (overdue ones included)


@dataclass(frozen=True, slots=True)
class SimulatedPortfolio:
    """A simulated loan book: what a lender sees (``loans``) and what only nature knows."""

    loans: pd.DataFrame
    truth: pd.DataFrame


# --- small numeric helpers ---------------------------------------------------------------
def _categorical(rng: np.random.Generator, shares: npt.ArrayLike) -> IntArray:
    """One category index per row of ``shares`` (rows of probabilities), vectorised.

    Inverse-CDF sampling with a single uniform per row; a row's last category absorbs
    floating-point slack so every draw is a valid index.
    """
    probabilities = np.atleast_2d(np.asarray(shares, dtype=np.float64))
    cumulative = np.cumsum(probabilities, axis=1)
    uniform = rng.random(len(probabilities))
    index: IntArray = (cumulative <= uniform[:, None]).sum(axis=1, dtype=np.int64)
    return np.minimum(index, int(probabilities.shape[1]) - 1)


def _draw_categories(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> IntArray:
    """``n`` independent draws from one categorical distribution."""
    return rng.choice(len(shares), size=n, p=np.asarray(shares) / np.sum(shares)).astype(np.int64)


# --- 1. latent traits --------------------------------------------------------------------
def _draw_traits(rng: np.random.Generator, n: int) -> _Traits:
    """Correlated latent scores: earning strength, willingness and reach go together a bit."""
    correlation = np.array(
        [
            [1.00, 0.25, 0.15, 0.00],
            [0.25, 1.00, 0.35, 0.00],
            [0.15, 0.35, 1.00, 0.00],
            [0.00, 0.00, 0.00, 1.00],
        ]
    )
    scores = rng.standard_normal((n, 4)) @ np.linalg.cholesky(correlation).T
    return _Traits(
        earning=np.ascontiguousarray(scores[:, 0]),
        willingness=np.ascontiguousarray(scores[:, 1]),
        reachability=np.ascontiguousarray(scores[:, 2]),
        forgetfulness=np.ascontiguousarray(scores[:, 3]),
    )


# --- 2. observables ----------------------------------------------------------------------
def _draw_borrowers(rng: np.random.Generator, traits: _Traits) -> _Borrowers:
    """Demographics and income; income carries a noisy trace of earning strength."""
    n = len(traits.earning)
    age = np.clip(np.rint(rng.normal(37.0, 10.0, n)), 21, 70).astype(np.int64)
    gender = _draw_categories(rng, n, _GENDER_SHARES)
    employment = _draw_categories(rng, n, _EMPLOYMENT_SHARES)
    log_income = (
        np.log(np.asarray(_INCOME_MEDIAN))[employment]
        + 0.012 * (age - 37)
        + 0.30 * traits.earning
        + np.asarray(_INCOME_LOG_SD)[employment] * rng.standard_normal(n)
    )
    income = np.clip(np.round(np.exp(log_income), -2), *_INCOME_BOUNDS)
    dependents = np.minimum(rng.poisson(0.4 + 0.05 * (age - 21)), 6).astype(np.int64)
    return _Borrowers(age, gender, employment, income, dependents)


def _draw_tenure(rng: np.random.Generator, loan_type: IntArray) -> IntArray:
    """Tenure from each product's menu of terms (a loop over four products, not rows)."""
    tenure = np.zeros(len(loan_type), dtype=np.int64)
    uniform = rng.random(len(loan_type))
    for product, (terms, shares) in enumerate(_TENURE_MENU):
        rows = loan_type == product
        cumulative = np.cumsum(shares) / np.sum(shares)
        pick = np.minimum(np.searchsorted(cumulative, uniform[rows], side="right"), len(terms) - 1)
        tenure[rows] = np.asarray(terms, dtype=np.int64)[pick]
    return tenure


def _draw_loans(rng: np.random.Generator, traits: _Traits, borrowers: _Borrowers) -> _Loans:
    """Product, amount, tenure, risk-priced rate and the reducing-balance EMI."""
    n = len(traits.earning)
    loan_type = _categorical(rng, np.asarray(_LOAN_TYPE_SHARES)[borrowers.employment])
    raw_amount = (
        borrowers.income
        * np.asarray(_AMOUNT_INCOME_MULTIPLE)[loan_type]
        * np.exp(0.35 * rng.standard_normal(n))
    )
    bounds = np.asarray(_AMOUNT_BOUNDS)[loan_type]
    amount = np.clip(np.round(raw_amount, -3), bounds[:, 0], bounds[:, 1])
    tenure = _draw_tenure(rng, loan_type)
    # The lender prices off a credit score: a noisy view of earning strength and willingness.
    credit_score = 0.45 * traits.earning + 0.55 * traits.willingness + 0.6 * rng.standard_normal(n)
    rate_bounds = np.asarray(_RATE_BOUNDS)[loan_type]
    rate = np.clip(
        np.asarray(_RATE_BASE)[loan_type] - np.asarray(_RATE_SPREAD)[loan_type] * credit_score,
        rate_bounds[:, 0],
        rate_bounds[:, 1],
    ).round(2)
    emi = np.round(reducing_balance_emi(amount, rate, tenure), 2)
    return _Loans(loan_type, amount, tenure, rate, emi)


def _instalment_burden(loans: _Loans, borrowers: _Borrowers) -> FloatArray:
    """EMI / income: the observable that strains capacity and calls for restructuring."""
    return loans.emi / borrowers.income


def _capacity_score(traits: _Traits, burden: FloatArray) -> FloatArray:
    """Capacity to pay today: earning strength minus the squeeze of the instalment."""
    burden_z = np.clip((burden - 0.35) / 0.15, -2.0, 4.0)
    return (traits.earning - 0.6 * burden_z) / math.sqrt(1.0 + 0.36)


def _draw_dpd(rng: np.random.Generator, traits: _Traits, capacity: FloatArray) -> IntArray:
    """Days past due: a mass at 0, a band of forgetful short delays, a lognormal tail.

    A stress score (low capacity, low willingness, noise) decides who is delinquent and
    how deeply; current borrowers who forget now and then show DPD 1-30 instead of 0.
    """
    n = len(capacity)
    stress = (
        -0.8 * capacity
        - 0.8 * traits.willingness
        + 0.2 * traits.forgetfulness
        + 0.6 * rng.standard_normal(n)
    )
    late = stress > _CURRENT_STRESS_CUT
    forgetful_late = ~late & (rng.random(n) < 0.35 * _sigmoid(1.5 * traits.forgetfulness - 0.5))
    deep = np.exp(
        np.log(25.0) + 0.8 * (stress - _CURRENT_STRESS_CUT) + 0.65 * rng.standard_normal(n)
    )
    short = rng.integers(1, 31, n)
    days = np.where(late, np.maximum(deep, 1.0), np.where(forgetful_late, short, 0.0))
    return np.rint(_soft_cap(days, _DPD_KNEE, _MAX_DPD)).astype(np.int64)


def _soft_cap(values: FloatArray, knee: float, cap: float) -> FloatArray:
    """Identity up to ``knee``, then an exponential approach to ``cap``: no spike at the cap."""
    room = cap - knee
    above = knee + room * (1.0 - np.exp(-(values - knee) / room))
    return np.where(values > knee, above, values)


def _payment_history(rng: np.random.Generator, traits: _Traits, missed: IntArray) -> IntArray:
    """Index into schema.PAYMENT_HISTORIES: missed instalments, character and forgetting."""
    score = (
        0.9 * np.log1p(missed)
        - 0.5 * traits.willingness
        + 0.4 * traits.forgetfulness
        + 0.5 * rng.standard_normal(len(missed))
    )
    return np.searchsorted(np.array([0.35, 1.3]), score).astype(np.int64)


def _collection_attempts(rng: np.random.Generator, traits: _Traits, dpd: IntArray) -> IntArray:
    """Contacts so far: grow with DPD (sub-linearly) and with how hard the borrower is to reach."""
    unreachable = 1.0 - _sigmoid(traits.reachability)
    rate = 3.0 * np.sqrt(dpd / 30.0) * (0.6 + 1.2 * unreachable) + 0.05
    return rng.poisson(rate).astype(np.int64)


def _prior_legal_action(rng: np.random.Generator, dpd: IntArray) -> BoolArray:
    """Legal action taken before the logged one: rare, and concentrated in old defaults."""
    probability = 0.004 + 0.35 * _sigmoid((dpd - 300.0) / 60.0)
    return rng.random(len(dpd)) < probability


def _draw_delinquency(
    rng: np.random.Generator,
    traits: _Traits,
    capacity: FloatArray,
    loans: _Loans,
    max_outstanding_multiple: float,
) -> _Delinquency:
    """DPD, missed payments, history, contacts, prior legal action, outstanding, collateral."""
    dpd = _draw_dpd(rng, traits, capacity)
    # Seasoning: instalments paid so far; the loan always has at least one to go.
    paid = np.floor(rng.beta(1.2, 2.0, len(dpd)) * (loans.tenure - 1)).astype(np.int64)
    # One instalment falls due every 30 days, until the schedule runs out.
    overdue = np.minimum(np.ceil(dpd / 30.0).astype(np.int64), loans.tenure - paid)
    cured_lapses = rng.poisson(0.5 * _sigmoid(-1.2 * traits.willingness - 1.0))
    missed = (overdue + cured_lapses).astype(np.int64)
    return _Delinquency(
        dpd=dpd,
        missed=missed,
        history=_payment_history(rng, traits, missed),
        attempts=_collection_attempts(rng, traits, dpd),
        prior_legal=_prior_legal_action(rng, dpd),
        outstanding=_outstanding(loans, paid, overdue, max_outstanding_multiple),
        collateral=_collateral(rng, loans, paid + overdue),
        remaining=(loans.tenure - paid).astype(np.int64),
    )


def _drivers(
    traits: _Traits,
    capacity: FloatArray,
    burden: FloatArray,
    delinquency: _Delinquency,
    loans: _Loans,
) -> outcomes.Drivers:
    """Collect the response drivers once, so each arm's shape is a one-line formula."""
    return outcomes.Drivers(
        capacity=capacity,
        willingness=traits.willingness,
        earning=traits.earning,
        forgetfulness=traits.forgetfulness,
        phone_reach=_sigmoid(0.8 + 1.5 * traits.reachability),
        digital_reach=_sigmoid(0.4 + 1.2 * traits.reachability),
        severity=np.sqrt(np.minimum(delinquency.dpd, 720) / 180.0),
        current=(delinquency.dpd == 0).astype(np.float64),
        coverage=delinquency.collateral / delinquency.outstanding,
        strain=_sigmoid((burden - 0.45) / 0.06),
        prior_legal=delinquency.prior_legal.astype(np.float64),
        enforceable=(delinquency.collateral > 0) & (delinquency.dpd > _NPA_DPD),
        rate=loans.rate,
        remaining_months=delinquency.remaining.astype(np.float64),
    )


def _nonmonotone_drivers(drivers: outcomes.Drivers, delinquency: _Delinquency) -> outcomes.Drivers:
    """The ``nonmonotone`` world's drivers: where a loan sits in collections shapes recovery.

    A deterministic function of the default drivers and the observables (no draws), read
    by every arm, so the potential outcomes, the logged amount and Recovery_Status stay
    one coherent truth (module docstring, section 6).
    """
    dpd = delinquency.dpd.astype(np.float64)
    contacts = np.log1p(delinquency.attempts.astype(np.float64))
    # Fresh arrears are the rawest: a bump peaking at _NM_STAGE_PEAK_DPD, fading beyond.
    stage = (dpd / _NM_STAGE_PEAK_DPD) * np.exp(1.0 - dpd / _NM_STAGE_PEAK_DPD)
    # A few contacts mean an engaged borrower; none or very many mean nobody engaged.
    closeness = (contacts - math.log1p(_NM_ENGAGED_CONTACTS)) / _NM_ENGAGEMENT_WIDTH
    engaged = np.exp(-0.5 * closeness**2)
    engagement = (_NM_ENGAGED_LIFT + _NM_UNENGAGED_DROP) * engaged - _NM_UNENGAGED_DROP
    # NPAs enter resolution (settlement plans; collateral for secured loans) over time.
    in_resolution = np.clip((dpd - _NPA_DPD) / _NM_RESOLUTION_DAYS, 0.0, 1.0)
    resolution = in_resolution * (
        _NM_RESOLUTION_LIFT + _NM_RESOLUTION_PER_COVER * np.minimum(drivers.coverage, 2.0)
    )
    # Missed payments beyond the arrears were cured before: a borrower who catches up.
    lapses = np.minimum(np.maximum(delinquency.missed - np.ceil(dpd / 30.0), 0.0), _NM_MAX_LAPSES)
    return drivers._replace(
        capacity=drivers.capacity + resolution + _NM_LAPSE_LIFT * lapses,
        willingness=drivers.willingness + engagement,
        severity=_NM_STAGE_SEVERITY * stage,
        current=np.zeros_like(drivers.current),
    )


def _outstanding(
    loans: _Loans, paid: IntArray, overdue: IntArray, max_multiple: float
) -> FloatArray:
    """Scheduled balance after the instalments paid, grown by interest and penal charges.

    Balance after k instalments: P (1+r)^k - EMI ((1+r)^k - 1) / r (rates are never 0
    here); missed instalments accrue interest and a 2% penal charge. Capped at the
    validation limit (``max_outstanding_to_loan_ratio`` x the amount) so every simulated
    row is accepted, and floored at one rupee so no loan has nothing outstanding.
    """
    monthly = loans.rate / 1200.0
    growth = np.power(1.0 + monthly, paid)
    balance = loans.amount * growth - loans.emi * (growth - 1.0) / monthly
    owed = balance * np.power(1.0 + monthly, overdue) + 0.02 * loans.emi * overdue
    return np.clip(np.round(owed, 2), 1.0, np.floor(max_multiple * loans.amount))


def _collateral(rng: np.random.Generator, loans: _Loans, age_months: IntArray) -> FloatArray:
    """Today's collateral value: property appreciates, vehicles depreciate, personal is 0."""
    n = len(loans.amount)
    years = age_months / 12.0
    secured = rng.random(n) < np.asarray(_SECURED_SHARE)[loans.loan_type]
    home_value = loans.amount / rng.uniform(0.60, 0.85, n) * np.power(1.05, years)
    auto_value = loans.amount / rng.uniform(0.80, 0.90, n) * np.power(0.85, years)
    business_value = loans.amount * rng.uniform(0.5, 1.6, n)
    value = np.select(
        [loans.loan_type == _HOME, loans.loan_type == _AUTO, loans.loan_type == _BUSINESS],
        [home_value, auto_value, business_value],
        0.0,
    )
    return np.where(secured, np.round(value, -2), 0.0)


# --- 5. assembling the tables ------------------------------------------------------------
def identifiers(prefix: str, n: int, *, first: int = 1, book_size: int | None = None) -> pd.Series:
    """Zero-padded keys (LN0000001, ...), built by string ops on whole columns.

    ``first`` and ``book_size`` number a part of a larger book (a streamed simulation) as
    the whole book would be numbered.
    """
    width = max(7, len(str(book_size if book_size is not None else n)))
    numbers = pd.Series(np.arange(first, first + n, dtype=np.int64) + 10**width).astype("str")
    return prefix + numbers.str.slice(1)


def _pick(pool: tuple[str, ...], index: IntArray) -> pd.Series:
    """Strings from a small pool by integer index: vectorised, no per-row Python."""
    return pd.Series(np.asarray(pool, dtype=object)[index], dtype="str")


def _contact_details(rng: np.random.Generator, gender: IntArray) -> dict[str, pd.Series]:
    """Names, E.164 phones, emails, language, time zone and consent; no outcome signal."""
    n = len(gender)
    female = (gender == 1) | ((gender == 2) & (rng.random(n) < 0.5))
    male_first = rng.integers(0, len(_MALE_NAMES), n)
    female_first = rng.integers(0, len(_FEMALE_NAMES), n)
    first_pool = _MALE_NAMES + _FEMALE_NAMES
    first = _pick(first_pool, np.where(female, len(_MALE_NAMES) + female_first, male_first))
    last = _pick(_SURNAMES, rng.integers(0, len(_SURNAMES), n))
    phone_number = rng.integers(6_000_000_000, 10_000_000_000, n)
    email_suffix = pd.Series(rng.integers(1, 1_000, n)).astype("str")
    domain = _pick(_EMAIL_DOMAINS, _draw_categories(rng, n, _EMAIL_DOMAIN_SHARES))
    consent = rng.random((n, 2)) < (_SMS_CONSENT_SHARE, _EMAIL_CONSENT_SHARE)
    yes_no = np.where(consent, 0, 1)  # index into (_YES, _NO)
    return {
        schema.BORROWER_NAME: first + " " + last,
        schema.PHONE: "+91" + pd.Series(phone_number).astype("str"),
        schema.EMAIL: first.str.lower() + "." + last.str.lower() + email_suffix + "@" + domain,
        schema.PREFERRED_LANGUAGE: _pick(
            schema.LANGUAGES, (rng.random(n) < _HINDI_SHARE).astype(np.int64)
        ),
        schema.TIME_ZONE: _pick(_TIME_ZONES, _draw_categories(rng, n, _TIME_ZONE_SHARES)),
        schema.CONSENT_SMS: _pick((_YES, _NO), yes_no[:, 0]),
        schema.CONSENT_EMAIL: _pick((_YES, _NO), yes_no[:, 1]),
        schema.DO_NOT_CONTACT: _pick(
            (_YES, _NO), (rng.random(n) >= _DO_NOT_CONTACT_SHARE).astype(np.int64)
        ),
    }


def _recovery_status(
    amount: FloatArray, outstanding: FloatArray, fully: float, written_off: float
) -> IntArray:
    """Index into schema.RECOVERY_STATUSES from the recovered share of the outstanding."""
    fraction = amount / outstanding
    return np.select([fraction >= fully, fraction < written_off], [0, 2], 1).astype(np.int64)


def _check_arguments(n_loans: int, random_state: int) -> None:
    """Fail early with the value that came, before any work is done."""
    if isinstance(n_loans, bool) or not isinstance(n_loans, int | np.integer):
        raise ConfigError(f"n_loans must be an integer; got {n_loans!r}.")
    if n_loans < 1:
        raise ConfigError(f"n_loans must be >= 1; got {n_loans}.")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ConfigError(f"random_state must be an integer; got {random_state!r}.")
    if random_state < 0:
        raise ConfigError(f"random_state must be >= 0; got {random_state}.")


def _check_variant(variant: str) -> None:
    """Fail early on a variant the simulator does not know, listing the ones it does."""
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ConfigError(f"variant must be one of {list(VARIANTS)}; got {variant!r}.")


def _as_of_date(settings: Settings) -> str:
    """The snapshot date as an ISO string, checked to be a real calendar date."""
    text = settings.simulator.as_of_date
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"simulator.as_of_date must be a real date; got {text!r}.") from None


def simulate_portfolio(
    n_loans: int,
    random_state: int,
    *,
    settings: Settings | None = None,
    epsilon: float | None = None,
    variant: str = DEFAULT_VARIANT,
) -> SimulatedPortfolio:
    """Simulate ``n_loans`` loans, their potential outcomes and a logged recovery history.

    Same ``random_state``, same frames, byte for byte. ``epsilon`` (exploration share of
    the logging policy) defaults to ``settings.simulator.epsilon``. ``variant`` picks the
    recovery world (:data:`VARIANTS`): ``"default"``, or ``"nonmonotone"``, where days past
    due, missed payments and collection attempts relate to recovery non-monotonically
    (section 6 of the module docstring). Raises :class:`ConfigError` for a bad argument,
    naming the value that came.
    """
    _check_arguments(n_loans, random_state)
    _check_variant(variant)
    settings = settings if settings is not None else load_settings()
    eps = check_epsilon(settings.simulator.epsilon if epsilon is None else epsilon)
    as_of = _as_of_date(settings)
    n = int(n_loans)

    # One independent stream per stage: a change to one stage leaves the others' draws be.
    streams = np.random.default_rng(int(random_state)).spawn(7)
    traits = _draw_traits(streams[0], n)
    borrowers = _draw_borrowers(streams[1], traits)
    loans = _draw_loans(streams[2], traits, borrowers)
    burden = _instalment_burden(loans, borrowers)
    capacity = _capacity_score(traits, burden)
    delinquency = _draw_delinquency(
        streams[3], traits, capacity, loans, settings.validation.max_outstanding_to_loan_ratio
    )

    drivers = _drivers(traits, capacity, burden, delinquency, loans)
    if variant == NONMONOTONE_VARIANT:
        drivers = _nonmonotone_drivers(drivers, delinquency)
    responses = outcomes.over_horizon(
        outcomes.responses(drivers, settings), settings.simulator.horizon_days
    )
    expected = outcomes.expected_fraction(responses)
    outstanding = delinquency.outstanding
    expected_net = outcomes.expected_net(expected, outstanding, settings)
    realised = np.round(outcomes.realised_fraction(streams[4], responses) * outstanding[:, None], 2)
    realised = np.minimum(realised, outstanding[:, None])

    table = _observable_table(n, borrowers, loans, delinquency)
    probabilities = logging_policy_probabilities(
        table, eps, settings.simulator.logging_rule, settings.actions
    ).to_numpy()
    taken = _categorical(streams[5], probabilities)
    propensity = probabilities[np.arange(n), taken]
    recovered = realised[np.arange(n), taken]
    status = _recovery_status(
        recovered,
        outstanding,
        settings.simulator.fully_recovered_fraction,
        settings.simulator.written_off_fraction,
    )
    methods = (schema.HOLD, *(settings.actions[a].collection_method for a in _ARMS[1:]))
    logged = pd.DataFrame(
        {
            schema.COLLECTION_METHOD: _pick(methods, taken),
            schema.RECOVERY_STATUS: _pick(schema.RECOVERY_STATUSES, status),
            schema.AMOUNT_RECOVERED: recovered,
            schema.ACTION_PROPENSITY: propensity,
            schema.ACTION_TAKEN: _pick(_ARMS, taken),
            schema.AS_OF_DATE: _pick((as_of,), np.zeros(n, dtype=np.int64)),
            **_contact_details(streams[6], borrowers.gender),
        }
    )
    # The policy conditioned on the observable table; the logged columns join it once.
    loans_frame = pd.concat([table, logged], axis=1)[
        [*schema.CANONICAL_COLUMNS, *schema.OPTIONAL_COLUMNS]
    ]
    allowed = _regulatory_allowed(loans_frame, expected, settings)
    truth = _truth_table(
        table[schema.LOAN_ID], traits, capacity, expected, expected_net, realised, taken, allowed
    )
    return SimulatedPortfolio(loans=loans_frame, truth=truth)


def _regulatory_allowed(
    loans: pd.DataFrame, expected: FloatArray, settings: Settings
) -> npt.NDArray[np.bool_]:
    """n x arms: what the catalogue and the guardrails allow, hold always.

    The guardrails run as the plan runs them, on the true fractions, with the legal
    rule's risk condition taken as met (risk needs a model; the truth has none).
    """
    # Imported here: the strategy imports the simulator's rule for its baselines.
    from loan_recovery.strategy.actions import ActionCatalogue
    from loan_recovery.strategy.rules import apply_guardrails

    catalogue = ActionCatalogue.from_settings(settings)
    fractions = pd.DataFrame(
        {arm: expected[:, column] for column, arm in enumerate(_ARMS) if arm in catalogue.names},
        index=loans.index,
    )
    outcome = apply_guardrails(loans, np.ones(len(loans)), fractions, catalogue, settings.strategy)
    allowed = np.ones((len(loans), len(_ARMS)), dtype=np.bool_)
    for column, arm in enumerate(_ARMS[1:], start=1):
        if arm in catalogue.names:
            allowed[:, column] = outcome.allowed[arm].to_numpy(dtype=np.bool_)
        else:
            allowed[:, column] = False
    return allowed


def _observable_table(
    n: int, borrowers: _Borrowers, loans: _Loans, delinquency: _Delinquency
) -> pd.DataFrame:
    """The observable columns the logging policy and a lender's models can see."""
    return pd.DataFrame(
        {
            schema.BORROWER_ID: identifiers("BRW", n),
            schema.AGE: borrowers.age,
            schema.GENDER: _pick(schema.GENDERS, borrowers.gender),
            schema.EMPLOYMENT_TYPE: _pick(_EMPLOYMENTS, borrowers.employment),
            schema.MONTHLY_INCOME: borrowers.income,
            schema.NUM_DEPENDENTS: borrowers.dependents,
            schema.LOAN_ID: identifiers("LN", n),
            schema.LOAN_AMOUNT: loans.amount,
            schema.LOAN_TENURE: loans.tenure,
            schema.INTEREST_RATE: loans.rate,
            schema.LOAN_TYPE: _pick(_LOAN_TYPES, loans.loan_type),
            schema.COLLATERAL_VALUE: delinquency.collateral,
            schema.OUTSTANDING_LOAN_AMOUNT: delinquency.outstanding,
            schema.MONTHLY_EMI: loans.emi,
            schema.PAYMENT_HISTORY: _pick(schema.PAYMENT_HISTORIES, delinquency.history),
            schema.NUM_MISSED_PAYMENTS: delinquency.missed,
            schema.DAYS_PAST_DUE: delinquency.dpd,
            schema.COLLECTION_ATTEMPTS: delinquency.attempts,
            schema.LEGAL_ACTION_TAKEN: _pick((_YES, _NO), np.where(delinquency.prior_legal, 0, 1)),
        }
    )


def _truth_table(
    loan_id: pd.Series,
    traits: _Traits,
    capacity: FloatArray,
    expected: FloatArray,
    expected_net: FloatArray,
    realised: FloatArray,
    taken: IntArray,
    allowed: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """Ground truth keyed by Loan_ID: traits, per-arm outcomes, oracles and logged arm."""
    columns: dict[str, object] = {
        schema.LOAN_ID: loan_id,
        schema.CAPACITY: _sigmoid(capacity),
        schema.WILLINGNESS: _sigmoid(traits.willingness),
        schema.REACHABILITY: _sigmoid(traits.reachability),
        schema.FORGETFULNESS: _sigmoid(traits.forgetfulness),
    }
    for column, arm in enumerate(_ARMS):
        columns[schema.expected_fraction_column(arm)] = expected[:, column]
    for column, arm in enumerate(_ARMS):
        columns[schema.expected_net_column(arm)] = expected_net[:, column]
    for column, arm in enumerate(_ARMS):
        columns[schema.realised_amount_column(arm)] = realised[:, column]
    feasible = np.where(allowed, expected_net, -np.inf)
    columns[schema.ORACLE_ACTION] = _pick(_ARMS, np.argmax(feasible, axis=1))
    columns[schema.ORACLE_ACTION_UNCONSTRAINED] = _pick(_ARMS, np.argmax(expected_net, axis=1))
    columns[schema.LOGGED_ACTION] = _pick(_ARMS, taken)
    return pd.DataFrame(columns)


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Annual interest rate (percent) and tenure (months) of a loan product."""

    interest_rate: float
    tenure_months: int


def typical_loan_terms() -> dict[str, LoanTerms]:
    """Per simulated loan type: the rate a borrower of average credit gets, the usual tenure.

    The rate is the product's base rate (credit score 0, inside its bounds), the tenure the
    most common term of its menu. Forms (the dashboard's borrower assessment) pre-fill
    these, so no other module repeats the simulator's product terms.
    """
    terms: dict[str, LoanTerms] = {}
    for name, base, bounds, (menu, shares) in zip(
        _LOAN_TYPES, _RATE_BASE, _RATE_BOUNDS, _TENURE_MENU, strict=True
    ):
        rate = float(np.clip(base, *bounds))
        terms[name] = LoanTerms(interest_rate=rate, tenure_months=int(menu[int(np.argmax(shares))]))
    return terms
