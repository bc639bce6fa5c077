"""Monthly instalment histories: the simulated borrowers, one instalment at a time.

A loan table is a snapshot; early warning needs the path that led to it. This module
simulates, for every loan of a :class:`~loan_recovery.simulation.portfolio.SimulatedPortfolio`,
one row per monthly instalment (``schema.PAYMENT_COLUMNS``: Loan_ID, Due_Date,
Amount_Due, Amount_Paid, Paid_Date) from the same latent traits, and agrees with the
snapshot it comes from:

* **Schedule.** One instalment of ``Monthly_EMI`` a month on the loan's due day (clamped
  to short months' last day), from its first instalment (its age is read back from the
  balance: the snapshot's outstanding inverts the reducing-balance formula) up to its
  tenure. A loan that is ``d`` days past due at the as-of date has its due day on
  ``as_of - d``, so the history's own days past due equals the snapshot's to the day
  (except for matured loans whose arrears outlive the schedule).
* **Default onset.** A loan more than 30 days past due defaulted at its oldest unpaid
  instalment: from then on nothing (or, at the onset instalment, a part) is paid. Of the
  loans 1-30 days past due, stressed ones (low capacity and willingness) are defaulting
  now; the rest forgot and pay that instalment late, after the as-of date. Loans current
  today default later with a monthly hazard that grows with stress and with time, so
  the history holds loans that are current today and reach 60+ days past due within
  ``future_months``.
* **Early signals.** In the months before an onset, a deterioration weight (1 the month
  before, fading by e^-1 every 1.3 months) raises the chance of paying late, partly or
  not at all; a quarter of defaults come without warning (a sudden shock). Any shortfall
  before the onset is caught up with the next full payment, so it shows as a partial or
  missed row followed by a larger one.
* **Everyday behaviour from the traits.** Forgetful borrowers pay late but in full;
  low capacity pays short; low willingness misses. The snapshot's cured lapses
  (``Num_Missed_Payments`` beyond the arrears) become missed instalments that the next
  payment makes good.

Payments are allocated oldest first, as lenders apply them: an instalment is paid once
the cumulative amount paid covers it and every earlier one. ``history`` is what a lender
knows on the as-of date (instalments due by then; payments made later are blank);
``full`` is ground truth, running ``future_months`` past the as-of date with every payment.
Same ``random_state``, same frames; vectorised over loans (the loop runs over months).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.simulation.portfolio import SimulatedPortfolio

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: dtype of date columns, as validation produces them.
DATE_DTYPE = "datetime64[us]"
#: Mixed into the seed so payment draws never repeat the portfolio's own streams.
_STREAM_TAG = 7_301
#: A loan more than this many days past due has defaulted (it is not merely forgetful).
_FORGETFUL_MAX_DPD = 30
#: Months over which the deterioration before an onset fades by e^-1.
_SIGNAL_DECAY_MONTHS = 1.3
#: Share of defaults that show early signals (the rest are sudden shocks).
_VISIBLE_SHARE = 0.75
#: Latest a pre-default payment arrives: before the next instalment falls due.
_MAX_DAYS_LATE = 28
#: Days between the oldest unpaid instalment's due date and the next one, roughly.
_MONTH_DAYS = 30
#: Penal charge per overdue instalment in the simulator's outstanding (share of the EMI).
_PENAL_RATE = 0.02


@dataclass(frozen=True, slots=True)
class SimulatedPayments:
    """Instalment rows: what the lender knows on the as-of date, and the whole truth."""

    history: pd.DataFrame
    full: pd.DataFrame
    as_of: date


@dataclass(frozen=True, slots=True)
class _Loans:
    """Per-loan inputs read from the portfolio (one entry per loan, loan table order)."""

    loan_id: pd.Series
    emi: FloatArray
    tenure: IntArray
    dpd: IntArray
    lapses: IntArray
    age: IntArray
    capacity: FloatArray
    willingness: FloatArray
    forgetfulness: FloatArray


# --- helpers ----------------------------------------------------------------------------
def _sigmoid(x: npt.ArrayLike) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _logit(p: npt.ArrayLike) -> FloatArray:
    clipped = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    result: FloatArray = np.log(clipped) - np.log1p(-clipped)
    return result


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer; got {value!r}.")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def _as_of(settings: Settings, as_of: date | str | None) -> date:
    text = as_of if as_of is not None else settings.simulator.as_of_date
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"as_of must be a real date as YYYY-MM-DD; got {text!r}.") from None


def _month_index(day: npt.NDArray[np.datetime64]) -> IntArray:
    """Months since January 1970 of each date (year * 12 + month - 1, shifted)."""
    return day.astype("datetime64[M]").astype(np.int64)


def _due_dates(first_month: IntArray, due_day: IntArray) -> npt.NDArray[np.datetime64]:
    """Due date in each month index: day ``due_day``, or the month's last day if shorter."""
    start = first_month.astype("datetime64[M]")
    days_in_month = (start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")
    day = np.minimum(due_day, days_in_month.astype(np.int64))
    dates: npt.NDArray[np.datetime64] = start.astype("datetime64[D]") + (day - 1)
    return dates


def _months_on_book(loans: pd.DataFrame) -> IntArray:
    """Instalments fallen due by the as-of date, read back from the snapshot's balance.

    The simulator's outstanding is the reducing balance after ``k`` paid instalments,
    grown by interest and a 2% penal charge over the overdue ones; solving that for ``k``
    and adding the overdue count gives the loan's age. Capped or floored balances fall
    back to the nearest feasible age.
    """
    amount = loans[schema.LOAN_AMOUNT].to_numpy(dtype=np.float64)
    rate = loans[schema.INTEREST_RATE].to_numpy(dtype=np.float64) / 1200.0
    tenure = loans[schema.LOAN_TENURE].to_numpy(dtype=np.int64)
    emi = loans[schema.MONTHLY_EMI].to_numpy(dtype=np.float64)
    outstanding = loans[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64)
    dpd = loans[schema.DAYS_PAST_DUE].to_numpy(dtype=np.int64)
    overdue = np.ceil(dpd / _MONTH_DAYS).astype(np.int64)
    growth = np.power(1.0 + rate, overdue)
    balance = (outstanding - _PENAL_RATE * emi * overdue) / growth
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(rate > 0, emi / np.where(rate > 0, rate, 1.0), np.inf)
        ratio = (annuity - balance) / (annuity - amount)
        paid_interest = np.log(ratio) / np.log1p(rate)
        paid_flat = (amount - balance) / np.where(emi > 0, emi, 1.0)
        paid = np.where(rate > 0, paid_interest, paid_flat)
    paid = np.nan_to_num(paid, nan=0.0, posinf=0.0, neginf=0.0)
    paid_count = np.clip(np.rint(paid), 0, np.maximum(tenure - 1, 0)).astype(np.int64)
    result: IntArray = paid_count + np.minimum(overdue, tenure - paid_count)
    return result


def _read_loans(portfolio: SimulatedPortfolio) -> _Loans:
    loans, truth = portfolio.loans, portfolio.truth
    needed = (
        schema.LOAN_ID,
        schema.LOAN_AMOUNT,
        schema.INTEREST_RATE,
        schema.LOAN_TENURE,
        schema.MONTHLY_EMI,
        schema.OUTSTANDING_LOAN_AMOUNT,
        schema.DAYS_PAST_DUE,
        schema.NUM_MISSED_PAYMENTS,
    )
    missing = tuple(column for column in needed if column not in loans.columns)
    traits = (schema.LOAN_ID, schema.CAPACITY, schema.WILLINGNESS, schema.FORGETFULNESS)
    missing += tuple(column for column in traits if column not in truth.columns)
    if missing:
        raise SchemaError(
            f"payment histories need portfolio columns {list(missing)}; simulate the "
            "portfolio with simulate_portfolio.",
            missing_columns=missing,
        )
    truth = truth.set_index(schema.LOAN_ID).reindex(pd.Index(loans[schema.LOAN_ID]))
    if truth[schema.CAPACITY].isna().any():
        raise SchemaError("the portfolio's truth frame lacks traits for some loans.")
    dpd = loans[schema.DAYS_PAST_DUE].to_numpy(dtype=np.int64)
    missed = loans[schema.NUM_MISSED_PAYMENTS].to_numpy(dtype=np.int64)
    return _Loans(
        loan_id=loans[schema.LOAN_ID].reset_index(drop=True),
        emi=np.round(loans[schema.MONTHLY_EMI].to_numpy(dtype=np.float64), 2),
        tenure=loans[schema.LOAN_TENURE].to_numpy(dtype=np.int64),
        dpd=dpd,
        lapses=np.maximum(missed - np.ceil(dpd / _MONTH_DAYS).astype(np.int64), 0),
        age=_months_on_book(loans),
        capacity=_logit(truth[schema.CAPACITY].to_numpy(dtype=np.float64)),
        willingness=_logit(truth[schema.WILLINGNESS].to_numpy(dtype=np.float64)),
        forgetfulness=_logit(truth[schema.FORGETFULNESS].to_numpy(dtype=np.float64)),
    )


# --- the simulation ---------------------------------------------------------------------
def simulate_payment_history(
    portfolio: SimulatedPortfolio,
    *,
    random_state: int,
    months: int | None = None,
    future_months: int | None = None,
    as_of: date | str | None = None,
    settings: Settings | None = None,
) -> SimulatedPayments:
    """Monthly instalment rows for every loan of ``portfolio`` (see the module docstring).

    ``months`` of history up to ``as_of`` (defaults: ``settings.early_warning.history_months``
    and ``settings.simulator.as_of_date``, the snapshot's date) and ``future_months`` after
    it in ``full`` only (default ``settings.early_warning.future_months``). Same
    ``random_state``, same frames, byte for byte.
    """
    settings = settings if settings is not None else load_settings()
    seed = _check_count("random_state", random_state, 0)
    n_months = _check_count(
        "months", settings.early_warning.history_months if months is None else months, 1
    )
    n_future = _check_count(
        "future_months",
        settings.early_warning.future_months if future_months is None else future_months,
        0,
    )
    today = _as_of(settings, as_of)
    loans = _read_loans(portfolio)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_TAG]))
    ks = np.arange(1 - n_months, n_future + 1, dtype=np.int64)
    frame = _simulate(loans, ks, np.datetime64(today, "D"), rng)
    history = payments_known_at(frame, pd.Timestamp(today))
    return SimulatedPayments(history=history, full=frame, as_of=today)


def _schedule(
    loans: _Loans, ks: IntArray, today: np.datetime64, rng: np.random.Generator
) -> tuple[npt.NDArray[np.datetime64], BoolArray, IntArray]:
    """Due dates (n, K), which instalments exist, and the oldest unpaid index at as-of.

    Index 0 is the last instalment due on or before the as-of date; a loan ``d`` days past
    due has its due day on ``as_of - d`` (index ``k_o`` <= 0); a current loan's oldest
    unpaid instalment is the next one (index 1).
    """
    n = len(loans.dpd)
    late = loans.dpd > 0
    onset_day = today - loans.dpd.astype("timedelta64[D]")
    day_of_onset = (onset_day - onset_day.astype("datetime64[M]").astype("datetime64[D]")).astype(
        np.int64
    ) + 1
    due_day = np.where(late, day_of_onset, rng.integers(1, 29, n))
    today_month = _month_index(np.array([today]))[0]
    this_month_due = _due_dates(np.full(n, today_month), due_day)
    k0_month = np.where(this_month_due <= today, today_month, today_month - 1)
    oldest_unpaid = np.where(late, _month_index(onset_day) - k0_month, 1)
    due = _due_dates(k0_month[:, None] + ks[None, :], due_day[:, None])
    first = 1 - loans.age
    last = loans.tenure - loans.age
    oldest_unpaid = np.clip(oldest_unpaid, first, np.maximum(last, first))
    exists = (ks[None, :] >= first[:, None]) & (ks[None, :] <= last[:, None])
    return due, exists, oldest_unpaid.astype(np.int64)


def _onsets(
    loans: _Loans, oldest_unpaid: IntArray, n_future: int, rng: np.random.Generator
) -> tuple[IntArray, BoolArray]:
    """Instalment index of each loan's default onset (a large number: none) and which
    1-30 DPD loans are merely forgetful (they pay the oldest unpaid one late).

    Over 30 DPD: the onset is the oldest unpaid instalment. 1-30 DPD: stressed loans
    default now, the others forgot. Current loans (and the forgetful) default later with
    a monthly hazard rising with stress and with each month that passes.
    """
    n = len(loans.dpd)
    stress = -0.8 * loans.capacity - 0.8 * loans.willingness + 0.2 * loans.forgetfulness
    noisy = stress + 0.6 * rng.standard_normal(n)
    never = np.iinfo(np.int64).max // 4
    onset = np.full(n, never, dtype=np.int64)
    defaulted = loans.dpd > _FORGETFUL_MAX_DPD
    short = (loans.dpd > 0) & ~defaulted
    defaulting_now = short & (rng.random(n) < _sigmoid(-1.4 + 1.4 * noisy))
    onset[defaulted | defaulting_now] = oldest_unpaid[defaulted | defaulting_now]
    forgetful = short & ~defaulting_now
    horizon = rng.random((n, max(n_future, 1)))
    start = np.where(forgetful, oldest_unpaid + 1, 1)
    for step in range(n_future):
        k = step + 1
        hazard = _sigmoid(-3.9 + 1.3 * noisy + 0.25 * k)
        hits = (onset == never) & (k >= start) & (horizon[:, step] < hazard)
        onset[hits] = k
    return onset, forgetful


def _lapse_months(
    loans: _Loans, oldest_unpaid: IntArray, ks: IntArray, rng: np.random.Generator
) -> BoolArray:
    """Cured lapses of the snapshot as missed instalments, spread over the loan's life.

    Each lapse falls on a uniform instalment between the first and two before the oldest
    unpaid one (the next payment makes it good); only those inside the window show.
    """
    n = len(loans.dpd)
    most = int(loans.lapses.max(initial=0))
    forced = np.zeros((n, len(ks)), dtype=bool)
    if most == 0:
        return forced
    first = 1 - loans.age
    last = oldest_unpaid - 2
    span = np.maximum(last - first + 1, 0)
    draws = rng.random((n, most))
    picked = first[:, None] + np.floor(draws * span[:, None]).astype(np.int64)
    valid = (np.arange(most)[None, :] < loans.lapses[:, None]) & (span[:, None] > 0)
    column = picked - ks[0]
    inside = valid & (column >= 0) & (column < len(ks))
    rows = np.broadcast_to(np.arange(n)[:, None], picked.shape)
    forced[rows[inside], column[inside]] = True
    return forced


def _simulate(
    loans: _Loans, ks: IntArray, today: np.datetime64, rng: np.random.Generator
) -> pd.DataFrame:
    n, n_cols = len(loans.dpd), len(ks)
    n_future = int(ks[-1])
    due, exists, oldest_unpaid = _schedule(loans, ks, today, rng)
    onset, forgetful = _onsets(loans, oldest_unpaid, n_future, rng)
    lapses = _lapse_months(loans, oldest_unpaid, ks, rng)
    visible = rng.random(n) < _VISIBLE_SHARE
    visibility = np.where(visible, rng.uniform(0.6, 1.2, n), 0.0)
    draws = rng.random((5, n, n_cols))
    late_noise = rng.standard_normal((n, n_cols))
    forget_days = rng.integers(1, 21, n)

    cap, will, forget = loans.capacity, loans.willingness, loans.forgetfulness
    amount_due = np.broadcast_to(loans.emi[:, None], (n, n_cols))
    paid = np.zeros((n, n_cols))
    days_late = np.zeros((n, n_cols), dtype=np.int64)
    arrears = np.zeros(n)
    days_to_today = (today - due).astype(np.int64)
    for column, k in enumerate(ks.tolist()):
        live = exists[:, column]
        before = live & (k < onset)
        at_onset = live & (k == onset)
        distance = np.where(onset > k, onset - k - 1, 0).astype(np.float64)
        weight = np.where(before, visibility * np.exp(-distance / _SIGNAL_DECAY_MONTHS), 0.0)
        p_miss = _sigmoid(-4.4 - 0.5 * will - 0.3 * cap + 0.2 * forget + 3.8 * weight)
        p_partial = _sigmoid(-3.9 - 0.8 * cap + 3.4 * weight)
        p_late = _sigmoid(-1.3 + 1.5 * forget - 0.3 * will + 2.5 * weight)
        must_pay = k == oldest_unpaid - 1
        missed = before & ~must_pay & ((draws[0, :, column] < p_miss) | lapses[:, column])
        partial = before & ~must_pay & ~missed & (draws[1, :, column] < p_partial)
        full = before & ~missed & ~partial
        share = 0.25 + 0.6 * draws[2, :, column]
        onset_part = at_onset & (draws[3, :, column] < 0.35)
        pay = np.where(full, loans.emi + arrears, 0.0)
        pay = np.where(partial, loans.emi * share, pay)
        pay = np.where(onset_part, loans.emi * 0.6 * share, pay)
        pay = np.round(pay, 2)
        median = 3.0 + 4.0 * _sigmoid(2.0 * forget) + 12.0 * weight
        late_by = np.ceil(median * np.exp(0.5 * late_noise[:, column])).astype(np.int64)
        late = np.where(draws[4, :, column] < p_late, np.minimum(late_by, _MAX_DAYS_LATE), 0)
        # The instalment before the oldest unpaid one is paid by the as-of date.
        room = days_to_today[:, column]
        late = np.where(must_pay & (room >= 0), np.minimum(late, np.maximum(room, 0)), late)
        # A forgetful 1-30 DPD loan pays its oldest unpaid instalment after the as-of date.
        owed_late = forgetful & (k == oldest_unpaid) & before
        late = np.where(owed_late, loans.dpd + forget_days, late)
        paid[:, column] = np.where(live, pay, 0.0)
        days_late[:, column] = late
        arrears = np.where(live, np.maximum(np.round(arrears + loans.emi - pay, 2), 0.0), arrears)

    rows = exists.ravel()
    paid_flat = paid.ravel()[rows]
    due_flat = due.ravel()[rows]
    paid_date = due_flat + days_late.ravel()[rows].astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            schema.LOAN_ID: np.repeat(loans.loan_id.to_numpy(dtype=object), n_cols)[rows],
            schema.DUE_DATE: due_flat.astype(DATE_DTYPE),
            schema.AMOUNT_DUE: amount_due.ravel()[rows],
            schema.AMOUNT_PAID: paid_flat,
            schema.PAID_DATE: np.where(paid_flat > 0, paid_date, np.datetime64("NaT", "D")).astype(
                DATE_DTYPE
            ),
        }
    )
    frame[schema.LOAN_ID] = frame[schema.LOAN_ID].astype("str")
    return frame


# --- views --------------------------------------------------------------------------------
def _timestamp(value: Any, name: str = "cutoff") -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a date; got {value!r}.") from None
    if pd.isna(stamp):
        raise ConfigError(f"{name} must be a date; got {value!r}.")
    return stamp.normalize()


def payments_known_at(payments: pd.DataFrame, cutoff: Any) -> pd.DataFrame:
    """The instalments a lender knows about at the end of ``cutoff``: due on or before it.

    Payments dated after the cut-off are not known yet: their ``Amount_Paid`` reads 0 and
    their ``Paid_Date`` is blank, as in a file exported that day. Rows keep their order.
    """
    stamp = _timestamp(cutoff)
    _require_payment_columns(payments)
    due = pd.to_datetime(payments[schema.DUE_DATE])
    known = payments.loc[(due <= stamp).to_numpy()].copy()
    paid_date = pd.to_datetime(known[schema.PAID_DATE])
    later = (paid_date > stamp).to_numpy()
    if later.any():
        known.loc[later, schema.AMOUNT_PAID] = 0.0
        known.loc[later, schema.PAID_DATE] = pd.NaT
    return known


def _require_payment_columns(payments: pd.DataFrame) -> None:
    missing = tuple(name for name in schema.PAYMENT_COLUMNS if name not in payments.columns)
    if missing:
        raise SchemaError(
            f"payment history needs columns {list(missing)}; validate the file first.",
            missing_columns=missing,
        )


def history_end(payments: pd.DataFrame) -> pd.Timestamp:
    """The latest date a payment history knows about: its last due or payment date."""
    _require_payment_columns(payments)
    latest = pd.concat(
        [pd.to_datetime(payments[schema.DUE_DATE]), pd.to_datetime(payments[schema.PAID_DATE])]
    ).max()
    if pd.isna(latest):
        raise SchemaError("the payment history has no dated rows.")
    return pd.Timestamp(latest).normalize()


def months_before(day: pd.Timestamp, months: int) -> pd.Timestamp:
    """``day`` moved back ``months`` calendar months (clamped to short months' end)."""
    return pd.Timestamp(day - pd.DateOffset(months=months))


def _by_loan(payments: pd.DataFrame) -> pd.DataFrame:
    """Loan, due date, amounts and paid date sorted by loan then due date (stable)."""
    frame = pd.DataFrame(
        {
            schema.LOAN_ID: payments[schema.LOAN_ID].to_numpy(dtype=object),
            schema.DUE_DATE: pd.to_datetime(payments[schema.DUE_DATE]).to_numpy(),
            schema.AMOUNT_DUE: pd.to_numeric(payments[schema.AMOUNT_DUE]).to_numpy(np.float64),
            schema.AMOUNT_PAID: pd.to_numeric(payments[schema.AMOUNT_PAID]).to_numpy(np.float64),
            schema.PAID_DATE: pd.to_datetime(payments[schema.PAID_DATE]).to_numpy(),
        }
    )
    return frame.sort_values([schema.LOAN_ID, schema.DUE_DATE], kind="stable").reset_index(
        drop=True
    )


def instalment_coverage(payments: pd.DataFrame, *, tolerance: float = 1.0) -> pd.DataFrame:
    """Instalments sorted by loan and due date, with the date each was paid in full.

    Payments go to the oldest instalment first, as lenders apply them: an instalment is
    paid (``Covered_Date``) on the first payment date by which the loan's cumulative
    payments reach its cumulative amount due through that instalment, less ``tolerance``;
    blank (NaT) when that has not happened in ``payments``. A missed instalment made good
    by a larger payment next month is thus paid on that later date.
    """
    _require_payment_columns(payments)
    rows = _by_loan(payments)
    if rows.empty:
        rows[schema.COVERED_DATE] = pd.Series(dtype=DATE_DTYPE)
        return rows
    loan = rows[schema.LOAN_ID]
    owed = rows.groupby(loan, sort=False)[schema.AMOUNT_DUE].cumsum() - tolerance
    paying = (rows[schema.AMOUNT_PAID] > 0).to_numpy()
    events = pd.DataFrame(
        {
            schema.LOAN_ID: loan.to_numpy()[paying],
            "_paid_on": rows[schema.PAID_DATE].to_numpy()[paying],
            "_amount": rows[schema.AMOUNT_PAID].to_numpy()[paying],
        }
    ).sort_values([schema.LOAN_ID, "_paid_on"], kind="stable")
    events["_cumulative"] = events.groupby(schema.LOAN_ID, sort=False)["_amount"].cumsum()
    left = pd.DataFrame(
        {schema.LOAN_ID: loan.to_numpy(), "_owed": owed.to_numpy(), "_row": np.arange(len(rows))}
    )
    matched = pd.merge_asof(
        left.sort_values("_owed", kind="stable"),
        events[[schema.LOAN_ID, "_cumulative", "_paid_on"]].sort_values(
            "_cumulative", kind="stable"
        ),
        left_on="_owed",
        right_on="_cumulative",
        by=schema.LOAN_ID,
        direction="forward",
    )
    covered = np.full(len(rows), np.datetime64("NaT"), dtype=DATE_DTYPE)
    covered[matched["_row"].to_numpy()] = matched["_paid_on"].to_numpy(dtype=DATE_DTYPE)
    rows[schema.COVERED_DATE] = covered
    return rows


def days_past_due_at(payments: pd.DataFrame, cutoff: Any, *, tolerance: float = 1.0) -> pd.Series:
    """Days past due at the end of ``cutoff`` per loan, from what is known by then.

    Cut-off minus the due date of the oldest instalment due before the cut-off and not
    paid in full by then (:func:`instalment_coverage`), 0 when there is none. Indexed by
    Loan_ID (sorted) for every loan with an instalment due on or before the cut-off.
    Arrears from before a history's first row are not known: a default older than the
    history counts from its first row.
    """
    stamp = _timestamp(cutoff)
    rows = instalment_coverage(payments_known_at(payments, stamp), tolerance=tolerance)
    unpaid = rows[schema.COVERED_DATE].isna() & (rows[schema.DUE_DATE] < stamp)
    days = np.where(unpaid.to_numpy(), (stamp - rows[schema.DUE_DATE]).dt.days.to_numpy(), 0)
    result = pd.Series(
        days.astype(np.int64), index=pd.Index(rows[schema.LOAN_ID], name=schema.LOAN_ID)
    )
    return result.groupby(level=0, sort=True).max().rename(schema.DPD_AT_CUTOFF)


def reached_days_past_due(
    payments: pd.DataFrame,
    start: Any,
    end: Any,
    *,
    days: int,
    tolerance: float = 1.0,
) -> pd.Series:
    """Whether each loan is ``days`` or more past due on some day after ``start`` up to ``end``.

    Reads only what is known at the end of ``end`` (later payments count as never made).
    An instalment is ``days`` past due from ``due + days`` until the day it is paid in
    full (:func:`instalment_coverage`). Indexed by Loan_ID (sorted) for every loan with an
    instalment due on or before ``end``.
    """
    first, last = _timestamp(start, "start"), _timestamp(end, "end")
    rows = instalment_coverage(payments_known_at(payments, last), tolerance=tolerance)
    trigger = np.maximum(
        (rows[schema.DUE_DATE] + pd.Timedelta(days=days)).to_numpy(),
        np.datetime64(first + pd.Timedelta(days=1)),
    )
    covered = rows[schema.COVERED_DATE].to_numpy()
    unpaid_then = np.isnat(covered) | (covered > trigger)
    reached = (trigger <= np.datetime64(last)) & unpaid_then
    result = pd.Series(reached, index=pd.Index(rows[schema.LOAN_ID], name=schema.LOAN_ID))
    return result.groupby(level=0, sort=True).any().rename(schema.REACHES_DEFAULT)
