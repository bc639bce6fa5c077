"""Contact policy: hours in the borrower's zone, holidays, the rolling cap, consent flags."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.notify.policy import (
    CAP_FREE_AT,
    CHANNEL,
    DECISION,
    OPTED_OUT_ALL,
    REASON,
    SCHEDULED_FOR,
    ContactPolicy,
    cap_free_times,
    decide,
    next_allowed_slot,
    opted_out_column,
)

KOLKATA = "Asia/Kolkata"
NEW_YORK = "America/New_York"


def _policy(**notify: object) -> ContactPolicy:
    return ContactPolicy.from_settings(load_settings(notify=notify).notify)


def _slots(
    policy: ContactPolicy, times: list[str], zones: list[str]
) -> tuple[list[str], list[str]]:
    earliest = pd.Series(pd.to_datetime(times, utc=True))
    slot, why = next_allowed_slot(earliest, np.array(zones, dtype=object), policy)
    local = [
        moment.tz_convert(zone).strftime("%Y-%m-%d %H:%M")
        for moment, zone in zip(slot, zones, strict=True)
    ]
    return local, list(why)


def test_rbi_window_in_kolkata_and_new_york() -> None:
    """Gives instants before, inside and after 08:00-19:00 local; expects the next 08:00."""
    local, why = _slots(
        _policy(),
        [
            "2026-03-02T01:00Z",  # 06:30 IST: too early
            "2026-03-02T05:00Z",  # 10:30 IST: fine
            "2026-03-02T13:30Z",  # 19:00 IST: the end is exclusive
            "2026-03-02T12:59Z",  # 07:59 EST: too early
            "2026-03-02T23:59Z",  # 18:59 EST: fine
            "2026-03-03T00:00Z",  # 19:00 EST: too late
        ],
        [KOLKATA, KOLKATA, KOLKATA, NEW_YORK, NEW_YORK, NEW_YORK],
    )
    assert local == [
        "2026-03-02 08:00",
        "2026-03-02 10:30",
        "2026-03-03 08:00",
        "2026-03-02 08:00",
        "2026-03-02 18:59",
        "2026-03-03 08:00",
    ]
    assert why == ["quiet-hours", "", "quiet-hours", "quiet-hours", "", "quiet-hours"]


def test_us_profile_allows_until_nine_pm() -> None:
    """Expects 20:30 New York time allowed under the us profile, not under rbi."""
    instant = ["2026-03-03T01:30Z"]  # 20:30 EST
    assert _slots(_policy(contact_profile="us"), instant, [NEW_YORK])[1] == [""]
    assert _slots(_policy(), instant, [NEW_YORK])[1] == ["quiet-hours"]


def test_next_slot_follows_daylight_saving_time() -> None:
    """US clocks go forward on 2026-03-08: 08:00 local is 13:00 UTC before, 12:00 after."""
    policy = _policy()
    earliest = pd.Series(pd.to_datetime(["2026-03-07T01:00Z", "2026-03-09T01:00Z"], utc=True))
    slot, _ = next_allowed_slot(earliest, np.array([NEW_YORK, NEW_YORK], dtype=object), policy)
    assert [moment.strftime("%m-%d %H:%M") for moment in slot] == ["03-07 13:00", "03-09 12:00"]


def test_holidays_move_to_the_next_working_day_in_local_time() -> None:
    """Gives two consecutive holidays; expects 08:00 on the day after, per borrower's date."""
    policy = _policy(holidays=["2026-03-03", "2026-03-04"])
    local, why = _slots(
        policy,
        ["2026-03-03T05:00Z", "2026-03-02T20:00Z", "2026-03-03T15:00Z"],
        [KOLKATA, KOLKATA, NEW_YORK],
    )
    assert local == ["2026-03-05 08:00", "2026-03-05 08:00", "2026-03-05 08:00"]
    assert why == ["holiday", "holiday", "holiday"]


def test_public_holidays_of_india_come_from_the_holidays_package() -> None:
    """Gives the defaults (holiday_country IN, no extra dates); expects Holi (4 March 2026)
    and Diwali (8 November 2026) skipped, an ordinary day allowed."""
    local, why = _slots(
        _policy(),
        ["2026-03-04T05:00Z", "2026-11-08T05:00Z", "2026-03-05T05:00Z"],
        [KOLKATA, KOLKATA, KOLKATA],
    )
    assert local == ["2026-03-05 08:00", "2026-11-09 08:00", "2026-03-05 10:30"]
    assert why == ["holiday", "holiday", ""]


def test_state_holidays_count_only_for_the_chosen_subdivisions() -> None:
    """Gives Gudi Padwa (19 March 2026, Maharashtra only); expects it skipped with MH chosen
    and allowed without, the national holidays kept either way."""
    instant = ["2026-03-19T05:00Z"]
    assert _slots(_policy(), instant, [KOLKATA])[1] == [""]
    maharashtra = _policy(holiday_subdivisions=["mh", "KA"])
    assert _slots(maharashtra, instant, [KOLKATA]) == (["2026-03-20 08:00"], ["holiday"])
    assert date(2026, 3, 4) in maharashtra.holidays
    assert datetime(2026, 3, 19, 12, 0) in maharashtra.holidays


def test_public_holidays_can_be_turned_off_keeping_the_lenders_dates() -> None:
    """Gives holiday_country blank and one extra date; expects Holi allowed, the extra date
    still skipped."""
    policy = _policy(holiday_country="", holidays=["2026-03-05"])
    local, why = _slots(policy, ["2026-03-04T05:00Z", "2026-03-05T05:00Z"], [KOLKATA, KOLKATA])
    assert local == ["2026-03-04 10:30", "2026-03-06 08:00"]
    assert why == ["", "holiday"]


def test_a_deferral_over_new_year_sees_next_years_holidays() -> None:
    """Gives 20:00 on 31 December 2026 in New York with US holidays; expects New Year's Day
    2027 (a year the run never started in) skipped: 08:00 on 2 January."""
    policy = _policy(holiday_country="US")
    local, why = _slots(policy, ["2027-01-01T01:00Z"], [NEW_YORK])
    assert local == ["2027-01-02 08:00"]
    assert why == ["holiday"]


def test_rolling_cap_frees_when_the_oldest_of_the_last_seven_ages_out() -> None:
    """Gives 8 attempts for one loan and 3 for another; expects only the first capped."""
    policy = _policy()
    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    first = [now - timedelta(days=days) for days in (8, 6.5, 5, 4, 3, 2, 1, 0.5)]
    attempts = pd.DataFrame(
        {
            schema.LOAN_ID: ["A"] * 8 + ["B"] * 3,
            "at": pd.to_datetime(first + first[:3], utc=True),
        }
    )
    counts, free_at = cap_free_times(attempts, now, policy)
    assert counts.to_dict() == {"A": 7, "B": 2}
    assert list(free_at.index) == ["A"]
    assert free_at["A"] == pd.Timestamp(now - timedelta(days=6.5) + timedelta(days=7))


def _recipients(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        schema.LOAN_ID: [f"L{i}" for i in range(n)],
        schema.PHONE: ["+919800000000"] * n,
        schema.EMAIL: ["a@example.com"] * n,
        schema.TIME_ZONE: [KOLKATA] * n,
        schema.CONSENT_SMS: ["Yes"] * n,
        schema.CONSENT_EMAIL: ["Yes"] * n,
        schema.DO_NOT_CONTACT: ["No"] * n,
        OPTED_OUT_ALL: [False] * n,
        opted_out_column("sms"): [False] * n,
        opted_out_column("email"): [False] * n,
        CAP_FREE_AT: [pd.NaT] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_holds_and_channel_choice() -> None:
    """Expects do-not-contact, opt-outs and missing consent held; SMS preferred, else email."""
    recipients = _recipients(
        **{
            schema.DO_NOT_CONTACT: ["Yes", "No", "No", "No", "No", "No", "No"],
            OPTED_OUT_ALL: [False, True, False, False, False, False, False],
            opted_out_column("sms"): [False, False, True, False, False, False, False],
            schema.CONSENT_SMS: ["Yes", "Yes", "Yes", "No", "No", "Yes", None],
            schema.CONSENT_EMAIL: ["Yes", "Yes", "Yes", "Yes", "No", "Yes", None],
            schema.PHONE: ["+91", "+91", "+91", "+91", "+91", None, "+91"],
        }
    )
    decisions = decide(recipients, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), _policy())
    assert list(decisions[DECISION]) == ["hold", "hold", "send", "send", "hold", "send", "hold"]
    assert list(decisions[REASON]) == [
        "do-not-contact",
        "opted-out",
        "allowed",
        "allowed",
        "no-consent",
        "allowed",
        "no-consent",
    ]
    assert list(decisions[CHANNEL][[2, 3, 5]]) == ["email", "email", "email"]


def test_decide_defers_for_the_cap_then_the_hours() -> None:
    """Gives a capped loan freed at 22:00 IST; expects it deferred to 08:00 the next day."""
    now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 11:30 IST
    freed = pd.Timestamp("2026-03-02T16:30Z")  # 22:00 IST
    recipients = _recipients(
        **{CAP_FREE_AT: [freed, pd.NaT, pd.NaT], schema.TIME_ZONE: [KOLKATA, NEW_YORK, "Mars/Base"]}
    )
    decisions = decide(recipients, now, _policy())
    assert list(decisions[DECISION]) == ["defer", "defer", "hold"]
    assert list(decisions[REASON]) == ["attempt-cap", "quiet-hours", "unknown-time-zone"]
    assert decisions[SCHEDULED_FOR][0] == pd.Timestamp("2026-03-03T02:30Z")
    assert decisions[SCHEDULED_FOR][1] == pd.Timestamp("2026-03-02T13:00Z")


def test_blank_time_zone_uses_the_default() -> None:
    """Expects a borrower without a zone judged in notify.default_time_zone."""
    recipients = _recipients(**{schema.TIME_ZONE: [None, ""]})
    decisions = decide(recipients, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), _policy())
    assert list(decisions[DECISION]) == ["send", "send"]


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ({"contact_hours": ["19:00", "08:00"]}, "start before they end"),
        ({"default_time_zone": "Mars/Base"}, "IANA time zone"),
        ({"channels": ["sms", "sms"]}, "repeat"),
        ({"holiday_subdivisions": ["XX"]}, "not subdivisions of IN"),
        ({"holiday_country": "ZZ"}, "holidays package knows"),
        ({"holiday_country": "", "holiday_subdivisions": ["MH"]}, "need a holiday_country"),
    ],
)
def test_invalid_contact_settings_are_refused(notify: dict[str, object], message: str) -> None:
    """Expects bad hours, zones and channel lists to fail when settings load."""
    from loan_recovery.exceptions import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_settings(notify=notify)


def test_local_time_allowed_matches_the_window() -> None:
    """Expects the scalar check to agree with the slot computation's edges."""
    policy = _policy(holidays=["2026-03-05"])
    assert policy.local_time_allowed(datetime(2026, 3, 2, 8, 0))
    assert not policy.local_time_allowed(datetime(2026, 3, 2, 19, 0))
    assert not policy.local_time_allowed(datetime(2026, 3, 5, 12, 0))
    assert policy.start == time(8)
    assert policy.end == time(19)
    assert date(2026, 3, 5) in policy.holidays
