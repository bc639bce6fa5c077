"""The contact policy: may this borrower be reminded now, by which channel, and if not, when?

Rules, checked before every send (and when a reminder is queued, to schedule it):

1. **Hold** (never sent; the reason is recorded): the borrower is marked do-not-contact,
   has opted out (of every channel, or of the only channels they allow), has not
   consented to any usable channel, has no address for it, or has a time zone that is
   not an IANA name. A borrower without a time zone gets ``notify.default_time_zone``.
2. **Defer** (scheduled for the next allowed slot, never dropped):

   * *attempt-cap*: at most ``max_attempts`` contact attempts per loan in any rolling
     ``attempt_window_days`` (7 in 7, Reg F style). An attempt at ``t`` is allowed only if
     fewer than ``max_attempts`` attempts lie in ``(t - window, t]``, so the next slot is
     the moment the oldest of the last ``max_attempts`` attempts leaves the window;
   * *holiday*: no contact on a public holiday of ``notify.holiday_country`` (and of its
     ``notify.holiday_subdivisions``) or a date of ``notify.holidays``, by the borrower's
     local date (:mod:`loan_recovery.notify.holiday_calendar`);
   * *quiet-hours*: only inside ``[start, end)`` of the borrower's local time
     (default 08:00-19:00, the RBI fair-practice window; ``us`` profile 08:00-21:00).

   The next slot is the earliest instant at or after the cap frees up that is inside the
   hours of a non-holiday local day: computed for a whole frame at once, one time zone at
   a time, with pandas (no per-row Python).
3. Otherwise **send**, by the first channel of ``notify.channels`` the borrower allows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import NotifySettings
from loan_recovery.data import schema
from loan_recovery.notify.holiday_calendar import HolidayCalendar
from loan_recovery.store.models import Channel

logger = logging.getLogger(__name__)

#: Columns of the recipients frame besides the canonical contact columns.
OPTED_OUT_ALL = "opted_out_all"
CAP_FREE_AT = "cap_free_at"
ATTEMPTS_IN_WINDOW = "attempts_in_window"


def opted_out_column(channel: str) -> str:
    """Recipients column: the borrower opted out of ``channel``."""
    return f"opted_out_{channel}"


#: Columns of :func:`decide`'s result.
DECISION = "decision"
REASON = "reason"
CHANNEL = "channel"
SCHEDULED_FOR = "scheduled_for"
ZONE = "zone"

_YES = "Yes"
_CONSENT: dict[str, str] = {Channel.SMS: schema.CONSENT_SMS, Channel.EMAIL: schema.CONSENT_EMAIL}
_ADDRESS: dict[str, str] = {Channel.SMS: schema.PHONE, Channel.EMAIL: schema.EMAIL}


def address_column(channel: str) -> str:
    """The canonical column holding a borrower's address on ``channel``."""
    return _ADDRESS[channel]


class Decision(StrEnum):
    """What the policy says about one reminder."""

    SEND = "send"
    DEFER = "defer"
    HOLD = "hold"


class Reason(StrEnum):
    """Why: recorded on the outbox row and logged with the loan id (never personal data)."""

    ALLOWED = "allowed"
    QUIET_HOURS = "quiet-hours"
    HOLIDAY = "holiday"
    ATTEMPT_CAP = "attempt-cap"
    SEND_ERROR = "send-error"
    DO_NOT_CONTACT = "do-not-contact"
    OPTED_OUT = "opted-out"
    NO_CONSENT = "no-consent"
    NO_ADDRESS = "no-address"
    UNKNOWN_TIME_ZONE = "unknown-time-zone"
    UNKNOWN_LOAN = "unknown-loan"
    UNCONFIRMED = "unconfirmed"
    ALREADY_QUEUED = "already-queued"


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """The contact rules as one immutable value (see the module docstring)."""

    start: time
    end: time
    max_attempts: int
    window: timedelta
    holidays: HolidayCalendar
    default_time_zone: str
    channels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(
                f"contact hours must start before they end; got {self.start}-{self.end}."
            )
        if self.max_attempts < 1 or self.window <= timedelta(0):
            raise ValueError(
                f"max_attempts must be >= 1 and the window positive; got {self.max_attempts} "
                f"in {self.window}."
            )
        unknown = sorted(set(self.channels) - set(Channel))
        if unknown or not self.channels:
            raise ValueError(
                f"channels must be some of {list(Channel)}; got {list(self.channels)}."
            )
        if zone_or_none(self.default_time_zone) is None:
            raise ValueError(f"default_time_zone is not an IANA zone: {self.default_time_zone!r}.")

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> ContactPolicy:
        """The policy the ``notify`` settings describe."""
        start, end = settings.allowed_hours
        return cls(
            start=start,
            end=end,
            max_attempts=settings.max_attempts,
            window=timedelta(days=settings.attempt_window_days),
            holidays=HolidayCalendar.from_settings(settings),
            default_time_zone=settings.default_time_zone,
            channels=tuple(settings.channels),
        )

    def local_time_allowed(self, local: datetime) -> bool:
        """Whether a local wall-clock time is inside the hours of a non-holiday day."""
        return local.date() not in self.holidays and self.start <= local.time() < self.end


@lru_cache(maxsize=512)
def zone_or_none(name: str) -> ZoneInfo | None:
    """The zone called ``name``, or None when it is not an IANA time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def resolve_zones(values: Iterable[object], default: str) -> npt.NDArray[np.object_]:
    """Each borrower's zone name (blank: ``default``); None where the name is not a zone."""
    names = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        name = text or default
        names.append(name if zone_or_none(name) is not None else None)
    return np.array(names, dtype=object)


def cap_free_times(
    attempts: pd.DataFrame, now: datetime, policy: ContactPolicy
) -> tuple[pd.Series, pd.Series]:
    """Per loan: attempts in the window before ``now``, and when the cap next allows one.

    ``attempts`` has ``Loan_ID`` and ``at`` (UTC) columns. The second series is NaT for
    loans below the cap; otherwise the instant the oldest of their last ``max_attempts``
    attempts leaves the rolling window.
    """
    recent = attempts[attempts["at"] > pd.Timestamp(now - policy.window)]
    counts = recent.groupby(schema.LOAN_ID, sort=False).size()
    ranked = recent.sort_values("at", ascending=False, kind="stable")
    rank = ranked.groupby(schema.LOAN_ID, sort=False).cumcount()
    limiting = ranked[rank == policy.max_attempts - 1]
    free_at = (limiting.set_index(schema.LOAN_ID)["at"] + policy.window).rename(CAP_FREE_AT)
    return counts.rename(ATTEMPTS_IN_WINDOW), free_at


def next_allowed_slot(
    earliest: pd.Series, zones: npt.NDArray[np.object_], policy: ContactPolicy
) -> tuple[pd.Series, npt.NDArray[np.object_]]:
    """The first allowed instant at or after each ``earliest`` (UTC), and why it moved.

    ``zones`` holds each row's IANA zone name. The reason is ``""`` for an instant that is
    already allowed, else :attr:`Reason.HOLIDAY` or :attr:`Reason.QUIET_HOURS`. Works one
    zone at a time on whole columns; a run of consecutive holidays costs one pass each.
    """
    utc = pd.to_datetime(earliest, utc=True)
    result = utc.copy()
    why = np.full(len(utc), "", dtype=object)
    start = _as_offset(policy.start)
    end = _as_offset(policy.end)
    one_day = pd.Timedelta(days=1)
    holidays = _holiday_index(utc, policy.holidays)
    names = np.asarray(zones, dtype=object)
    for zone in pd.unique(names):
        where = np.flatnonzero(names == zone)
        local = utc.iloc[where].dt.tz_convert(str(zone)).dt.tz_localize(None)
        day = local.dt.floor("D")
        offset = local - day
        early = (offset < start).to_numpy()
        late = (offset >= end).to_numpy()
        slot = local.where(~early, day + start).where(~late, day + one_day + start)
        moved = early | late
        reasons = np.where(moved, Reason.QUIET_HOURS.value, "").astype(object)
        for _ in range(len(holidays) + 1):
            on_holiday = slot.dt.floor("D").isin(holidays).to_numpy()
            if not on_holiday.any():
                break
            slot = slot.where(~on_holiday, slot.dt.floor("D") + one_day + start)
            reasons[on_holiday] = Reason.HOLIDAY.value
            moved |= on_holiday
        if moved.any():
            shifted = slot[moved].dt.tz_localize(
                str(zone), nonexistent="shift_forward", ambiguous=np.zeros(int(moved.sum()), bool)
            )
            values = result.to_numpy(copy=True)
            values[where[moved]] = shifted.dt.tz_convert("UTC").to_numpy()
            result = pd.Series(values, index=result.index, dtype=result.dtype)
        why[where] = reasons
    return result, why


def _holiday_index(utc: pd.Series, calendar: HolidayCalendar) -> pd.DatetimeIndex:
    """No-contact dates from the year before the earliest instant to the year after the
    latest: local dates differ from UTC by a day at most, and a deferral can cross New Year.
    """
    known = utc.dropna()
    if known.empty:
        return pd.DatetimeIndex([])
    years = range(known.min().year - 1, known.max().year + 2)
    return pd.DatetimeIndex(sorted(pd.Timestamp(day) for day in calendar.dates(years)))


def _as_offset(moment: time) -> pd.Timedelta:
    return pd.Timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


def choose_channels(
    recipients: pd.DataFrame, policy: ContactPolicy
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Each row's channel (first preferred one allowed) and hold reason (``""``: none).

    A held row keeps its first preferred channel, so the outbox says what was withheld.
    Its reason is opted-out (of everything), do-not-contact, or else the first preferred
    channel's problem: opted-out, no-consent or no-address.
    """
    n = len(recipients)
    channel = np.full(n, policy.channels[0], dtype=object)
    reason = np.full(n, "", dtype=object)
    chosen = np.zeros(n, dtype=bool)
    first_problem = np.full(n, "", dtype=object)
    for position, name in enumerate(policy.channels):
        consent = _text(recipients, _CONSENT[name]) == _YES
        address = _text(recipients, _ADDRESS[name]) != ""
        opted_out = _flag(recipients, opted_out_column(name))
        problem = np.where(
            opted_out,
            Reason.OPTED_OUT.value,
            np.where(
                ~consent, Reason.NO_CONSENT.value, np.where(~address, Reason.NO_ADDRESS.value, "")
            ),
        ).astype(object)
        if position == 0:
            first_problem = problem
        usable = (problem == "") & ~chosen
        channel[usable] = name
        chosen |= usable
    reason[~chosen] = first_problem[~chosen]
    do_not_contact = _text(recipients, schema.DO_NOT_CONTACT) == _YES
    reason[do_not_contact] = Reason.DO_NOT_CONTACT.value
    opted_out_all = _flag(recipients, OPTED_OUT_ALL)  # a STOP also sets do-not-contact
    reason[opted_out_all] = Reason.OPTED_OUT.value
    channel[opted_out_all | do_not_contact] = policy.channels[0]
    return channel, reason


def _text(frame: pd.DataFrame, column: str) -> npt.NDArray[np.object_]:
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = ""
    return np.array([str(value).strip() for value in values], dtype=object)


def _flag(frame: pd.DataFrame, column: str) -> npt.NDArray[np.bool_]:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].fillna(False).astype(bool).to_numpy()


def decide(recipients: pd.DataFrame, now: datetime, policy: ContactPolicy) -> pd.DataFrame:
    """The policy's decision on a reminder for every row of ``recipients``.

    ``recipients`` holds the contact columns of :mod:`loan_recovery.data.schema` (phone,
    email, consents, do-not-contact, time zone), the opt-out flags
    (:data:`OPTED_OUT_ALL`, :func:`opted_out_column`) and :data:`CAP_FREE_AT` (NaT: below
    the cap). Returns, on the same index: decision, reason, channel, scheduled_for (UTC;
    ``now`` for a send) and zone.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware; got {now!r}.")
    channel, hold = choose_channels(recipients, policy)
    zones = resolve_zones(_text(recipients, schema.TIME_ZONE), policy.default_time_zone)
    bad_zone = np.array([zone is None for zone in zones], dtype=bool)
    hold = np.where((hold == "") & bad_zone, Reason.UNKNOWN_TIME_ZONE.value, hold).astype(object)
    zones[bad_zone] = policy.default_time_zone
    moment = pd.Timestamp(now).tz_convert("UTC")
    free_at = (
        pd.to_datetime(recipients[CAP_FREE_AT], utc=True)
        if CAP_FREE_AT in recipients.columns
        else pd.Series(pd.NaT, index=recipients.index, dtype="datetime64[ns, UTC]")
    )
    capped = (free_at > moment).fillna(False).to_numpy(dtype=bool)
    earliest = free_at.where(capped, moment)
    slot, moved_because = next_allowed_slot(earliest.reset_index(drop=True), zones, policy)
    slot.index = recipients.index
    held = hold != ""
    deferred = ~held & (capped | (moved_because != ""))
    reason = np.where(
        held,
        hold,
        np.where(
            capped,
            Reason.ATTEMPT_CAP.value,
            np.where(deferred, moved_because, Reason.ALLOWED.value),
        ),
    )
    decision = np.where(
        held, Decision.HOLD.value, np.where(deferred, Decision.DEFER.value, Decision.SEND.value)
    )
    scheduled = slot.where(deferred, moment)
    return pd.DataFrame(
        {
            DECISION: decision,
            REASON: reason,
            CHANNEL: channel,
            SCHEDULED_FOR: scheduled,
            ZONE: zones,
        },
        index=recipients.index,
    )


def log_decisions(
    loan_ids: Iterable[object], decisions: pd.DataFrame, *, campaign: str, stage: str
) -> None:
    """One log line per decision: loan id, campaign, decision, reason, channel, time.

    Never a name, phone number or email address.
    """
    for loan_id, decision, reason, channel, scheduled in zip(
        loan_ids,
        decisions[DECISION],
        decisions[REASON],
        decisions[CHANNEL],
        decisions[SCHEDULED_FOR],
        strict=True,
    ):
        logger.info(
            "%s loan=%s campaign=%s decision=%s reason=%s channel=%s scheduled_for=%s",
            stage,
            loan_id,
            campaign,
            decision,
            reason,
            channel,
            pd.Timestamp(scheduled).isoformat(),
        )
